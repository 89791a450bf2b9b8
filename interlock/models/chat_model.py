"""The model pool as a LangChain chat model.

``PoolChatModel(tier=...)`` is a ``BaseChatModel``: ``ainvoke``/``astream``,
``bind``, ``with_structured_output``, callbacks. So a LangGraph graph that
streams with ``stream_mode="messages"`` sees its tokens, and Langfuse's
LangChain callback records each call as a generation with its model, token
usage and cost — whichever replica answered, after however many failovers.
LangChain runs once per call here; the per-token path stays in ``wire.py``.

What a call returns beyond the text sits in the message's
``response_metadata``: ``tier``, ``replica``, ``attempts``, ``ttft_s``,
``latency_s``, ``cost``, ``usage_source`` ("server", "tokenizer" or
"estimate").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, ConfigDict

from interlock.models import structured
from interlock.models.tier import Generation, ModelTier

_CALL_OPTIONS = ("affinity_key", "response_format", "max_tokens", "temperature")


def _usage_metadata(generation: Generation) -> UsageMetadata:
    usage = generation.usage
    return UsageMetadata(
        input_tokens=usage["input_tokens"],
        output_tokens=usage["output_tokens"],
        total_tokens=usage["input_tokens"] + usage["output_tokens"],
    )


def _response_metadata(generation: Generation) -> dict[str, Any]:
    return {
        "model_name": generation.model,
        "tier": generation.tier,
        "replica": generation.replica,
        "attempts": generation.attempts,
        "latency_s": round(generation.latency_s, 4),
        "ttft_s": None if generation.ttft_s is None else round(generation.ttft_s, 4),
        "cost": generation.usage["cost"],
        "usage_source": generation.usage_source,
        "finish_reason": generation.finish_reason,
    }


def generation_of(message: BaseMessage) -> Generation:
    """Back from a message this model produced to the pool's own record of the call."""
    meta = message.response_metadata
    usage = message.usage_metadata if isinstance(message, AIMessage) else None
    return Generation(
        text=str(message.content).strip(),
        model=str(meta.get("model_name", "")),
        replica=str(meta.get("replica", "")),
        usage={
            "calls": 1,
            "input_tokens": usage["input_tokens"] if usage else 0,
            "output_tokens": usage["output_tokens"] if usage else 0,
            "cost": float(meta.get("cost", 0.0)),
        },
        latency_s=float(meta.get("latency_s", 0.0)),
        ttft_s=meta.get("ttft_s"),
        attempts=int(meta.get("attempts", 1)),
        tier=str(meta.get("tier", "")),
        usage_source=meta.get("usage_source", "server"),
        finish_reason=meta.get("finish_reason"),
    )


class PoolChatModel(BaseChatModel):
    """A LangChain chat model whose every call goes through a :class:`ModelTier`.

    Per-call options (pass to ``ainvoke``/``astream`` or ``bind``):
    ``affinity_key`` (keeps a conversation on one replica for vLLM's prefix
    cache), ``response_format``, ``max_tokens``, ``temperature``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    tier: ModelTier

    @property
    def _llm_type(self) -> str:
        return "interlock-pool"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        # Langfuse and LangSmith read the model name and the sampling parameters from
        # these (a call's own max_tokens/temperature override them in its kwargs).
        return {
            "model_name": self.tier.model,
            "model": self.tier.model,
            "tier": self.tier.name,
            "temperature": self.tier.temperature,
            "max_tokens": self.tier.max_tokens,
            "frequency_penalty": self.tier.frequency_penalty,
        }

    @staticmethod
    def _options(kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return {k: kwargs[k] for k in _CALL_OPTIONS if kwargs.get(k) is not None}

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        generation = await self.tier.ainvoke(messages, stop=stop, **self._options(kwargs))
        message = AIMessage(
            content=generation.text,
            usage_metadata=_usage_metadata(generation),
            response_metadata=_response_metadata(generation),
        )
        return ChatResult(
            generations=[ChatGeneration(message=message)],
            llm_output={"model_name": generation.model, "token_usage": dict(generation.usage)},
        )

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        stream = self.tier.stream(messages, stop=stop, **self._options(kwargs))
        async for token in stream:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager is not None:
                await run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk
        generation = stream.generation
        if generation is not None:  # the closing chunk carries usage and where it ran
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    usage_metadata=_usage_metadata(generation),
                    response_metadata=_response_metadata(generation),
                    chunk_position="last",
                )
            )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Synchronous calls run the async path on a private loop in a worker thread.

        The tier's connections and counters belong to the event loop that
        serves the application; a sync caller (a script, a notebook) gets a
        short-lived loop of its own instead of blocking or sharing that one.
        """

        def run() -> ChatResult:
            async def call() -> ChatResult:
                private = self.tier.with_own_client()
                try:
                    return await PoolChatModel(tier=private)._agenerate(messages, stop, **kwargs)
                finally:
                    await private.aclose()

            return asyncio.run(call())

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(run).result()

    def with_structured_output(
        self,
        schema: type[BaseModel] | Mapping[str, Any],
        *,
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Structured output by the server's guided decoding (``response_format``).

        vLLM and llama-server both constrain generation to a JSON schema, so
        no tool-calling support is needed from the model.
        """
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            json_schema = schema.model_json_schema()
            name = schema.__name__
        else:
            json_schema = dict(schema)
            name = str(json_schema.get("title", "output"))
        bound = self.bind(response_format=structured.response_format(json_schema, name))

        def parse(message: BaseMessage) -> Any:
            text = str(message.content)
            parsed: Any
            if isinstance(schema, type) and issubclass(schema, BaseModel):
                parsed = schema.model_validate_json(text)
            else:
                parsed = json.loads(text)
            return {"raw": message, "parsed": parsed} if include_raw else parsed

        return bound | RunnableLambda(parse)
