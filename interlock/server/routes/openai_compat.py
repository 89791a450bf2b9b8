"""OpenAI-compatible chat: any OpenAI client or chat UI can talk to the agent.

``POST /v1/chat/completions`` (plain and streamed) and ``GET /v1/models``.
The agent is the model: ``model`` names the graph (``interlock-agent``).

OpenAI clients are stateless — they resend the whole conversation — while
interlock keeps each conversation as a thread in Redis. The bridge: after
each answer, the conversation so far (as the client will resend it) is
hashed and mapped to its thread; a request whose earlier messages hash to
a known conversation continues that thread. An ``x-interlock-thread-id``
header picks a thread explicitly. System messages are not forwarded: the
agent's own prompt and guards decide how it answers.

Streaming sends the *checked* answer: interlock checks an answer for
groundedness and guards it before it is final, and an OpenAI stream cannot
take back text it sent, so the deltas follow the finished run (the role
chunk goes out at once).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from interlock.agent import Agent, AgentResult, validate_question
from interlock.errors import InterlockError, InvalidInput
from interlock.graphs.agent import GRAPH_NAME
from interlock.server.auth import Principal, require

router = APIRouter(prefix="/v1", tags=["openai"])

MODEL_IDS = (GRAPH_NAME,)
CONVERSATION_TTL_S = 7 * 24 * 3600


class ModelNotFound(InterlockError):
    status = 404


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's request body; sampling fields are accepted and left to the agent."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(examples=[GRAPH_NAME])
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, max_length=128, description="The end user (for memory).")


def text_of(message: ChatMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    parts = message.content or []
    return "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


def conversation_key(prefix: str, tenant: str, messages: Sequence[tuple[str, str]]) -> str:
    """Per tenant: the same conversation sent by two tenants is two threads."""
    material = json.dumps([tenant, *messages], ensure_ascii=False).encode()
    return f"{prefix}:openai:conversation:{hashlib.sha256(material).hexdigest()}"


def _turns(messages: Sequence[ChatMessage]) -> list[tuple[str, str]]:
    return [(m.role, text_of(m)) for m in messages if m.role in ("user", "assistant")]


def _agent(request: Request) -> Agent:
    agent: Agent = request.app.state.agent
    return agent


@router.get("/models")
async def list_models() -> dict[str, Any]:
    """The agents this server exposes as OpenAI models."""
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "interlock"}
            for name in MODEL_IDS
        ],
    }


def _validate(agent: Agent, body: ChatCompletionRequest) -> list[tuple[str, str]]:
    """Every input error, before any answer (or stream) starts."""
    if body.model not in MODEL_IDS:
        raise ModelNotFound(f"model {body.model!r} does not exist; this server has {MODEL_IDS}")
    turns = _turns(body.messages)
    if not turns or turns[-1][0] != "user":
        raise InvalidInput("the last message must come from the user")
    validate_question(turns[-1][1], agent.settings.max_question_chars)
    return turns


async def _run(
    agent: Agent,
    body: ChatCompletionRequest,
    turns: list[tuple[str, str]],
    request: Request,
    tenant: str,
) -> AgentResult:
    prefix = agent.settings.redis_prefix
    thread_id = request.headers.get("x-interlock-thread-id")
    if thread_id is None and len(turns) > 1:
        known = await agent.redis.get(conversation_key(prefix, tenant, turns[:-1]))
        thread_id = known.decode() if isinstance(known, bytes) else known
    result = await agent.ask(
        turns[-1][1], thread_id=thread_id, user_id=body.user or "anonymous", tenant=tenant
    )
    # The client will resend this conversation with our answer: map it to the thread.
    answered = [*turns, ("assistant", result.answer)]
    ttl = agent.settings.thread_ttl_s or CONVERSATION_TTL_S
    await agent.redis.set(conversation_key(prefix, tenant, answered), result.thread_id, ex=ttl)
    return result


def _usage(result: AgentResult) -> dict[str, int]:
    prompt = int(result.usage.get("input_tokens", 0))
    completion = int(result.usage.get("output_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _interlock_fields(result: AgentResult) -> dict[str, Any]:
    return {
        "thread_id": result.thread_id,
        "citations": result.citations,
        "route": result.route,
        "check": result.check,
        "from_cache": result.from_cache,
    }


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    caller: Annotated[Principal, Depends(require("runs"))],
) -> dict[str, Any] | StreamingResponse:
    """Answer the last user message; continues the conversation the messages belong to."""
    agent = _agent(request)
    created = int(time.time())
    turns = _validate(agent, body)
    if not body.stream:
        result = await _run(agent, body, turns, request, caller.tenant)
        return {
            "id": f"chatcmpl-{result.run_id}",
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(result),
            "interlock": _interlock_fields(result),
        }

    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    async def events() -> AsyncIterator[str]:
        base = {"object": "chat.completion.chunk", "created": created, "model": body.model}

        def chunk(delta: dict[str, Any], finish: str | None, **extra: Any) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            data = {**base, "id": chunk_id, "choices": [choice], **extra}
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        chunk_id = f"chatcmpl-{time.monotonic_ns()}"
        yield chunk({"role": "assistant", "content": ""}, None)
        try:
            result = await _run(agent, body, turns, request, caller.tenant)
        except InterlockError as exc:
            error = {"error": {"message": exc.reason, "type": type(exc).__name__}}
            yield f"data: {json.dumps(error)}\n\n"
            return
        words = result.answer.split(" ")
        for i, word in enumerate(words):
            yield chunk({"content": word if i == 0 else " " + word}, None)
        yield chunk({}, "stop", interlock=_interlock_fields(result))
        if include_usage:
            usage = {**base, "id": chunk_id, "choices": [], "usage": _usage(result)}
            yield f"data: {json.dumps(usage)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
