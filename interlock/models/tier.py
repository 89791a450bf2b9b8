"""A model tier: a named pool of OpenAI-compatible replicas (vLLM, llama-server).

Each replica is a langchain-openai ``ChatOpenAI`` so LangGraph streaming and
Langfuse's LangChain callback see every call as a generation. The pool adds
what a single client lacks: it starts each call on the next replica in turn
and moves to another replica when one cannot be reached, times out or
answers 5xx/429. (Health probes, circuit breakers and smarter balancing are
the model-layer issue's; this is the first honest form.)
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import openai
from langchain_core.callbacks import Callbacks
from langchain_core.messages import BaseMessage
from langchain_openai import ChatOpenAI

from interlock.errors import ModelUnavailable
from interlock.state import Tier, Usage

log = logging.getLogger(__name__)

# Failures that say "this replica, now" rather than "this request": worth
# trying elsewhere. A 400 (bad request) would fail the same on every replica.
RETRYABLE = (
    openai.APIConnectionError,  # includes APITimeoutError
    openai.InternalServerError,
    openai.RateLimitError,
)


@dataclass(frozen=True)
class Generation:
    text: str
    model: str
    replica: str
    usage: Usage
    latency_s: float


class ModelTier:
    """Replicas of one model behind one name; ``ainvoke`` fails over between them."""

    def __init__(
        self,
        name: Tier,
        urls: Sequence[str],
        *,
        model: str,
        context_window: int,
        timeout_s: float = 60.0,
        max_tokens: int = 256,
        temperature: float = 0.0,
        frequency_penalty: float = 0.0,
        cost_per_1k_input: float = 0.0,
        cost_per_1k_output: float = 0.0,
    ) -> None:
        if not urls:
            raise ValueError(f"model tier {name!r} needs at least one replica URL")
        self.name = name
        self.model = model
        self.context_window = context_window
        self.cost_per_1k_input = cost_per_1k_input
        self.cost_per_1k_output = cost_per_1k_output
        self.urls = list(urls)
        # No pooled keep-alive connections: llama-server closes a connection after
        # a streamed response without saying so, and the next call on that pooled
        # connection fails ("Server disconnected without sending a response"),
        # seen here on every few calls. A loopback/LAN connect costs well under a
        # millisecond next to a model call, so the pool opens one per call.
        self._http = httpx.AsyncClient(
            timeout=timeout_s, limits=httpx.Limits(max_keepalive_connections=0)
        )
        self._clients = [
            ChatOpenAI(
                base_url=url,
                api_key="unused",  # type: ignore[arg-type]  # local servers ignore it
                model=model,
                timeout=timeout_s,
                max_retries=0,  # the pool retries, on another replica
                max_tokens=max_tokens,  # type: ignore[call-arg]
                temperature=temperature,
                frequency_penalty=frequency_penalty,
                stream_usage=True,
                http_async_client=self._http,
            )
            for url in self.urls
        ]
        self._next = itertools.cycle(range(len(self._clients)))

    def chat_model(self, index: int = 0) -> ChatOpenAI:
        """One replica's client, for callers who want LangChain's interface directly."""
        return self._clients[index]

    async def ainvoke(
        self, messages: Sequence[BaseMessage], *, callbacks: Callbacks = None
    ) -> Generation:
        start = next(self._next)
        order = [(start + i) % len(self._clients) for i in range(len(self._clients))]
        failures: list[str] = []
        for index in order:
            client, url = self._clients[index], self.urls[index]
            began = time.perf_counter()
            try:
                reply = await client.ainvoke(
                    list(messages),
                    config={"callbacks": callbacks, "run_name": f"model:{self.name}"},
                )
            except RETRYABLE as exc:
                failures.append(f"{url}: {type(exc).__name__}")
                log.warning("tier %s replica %s failed: %s", self.name, url, exc)
                continue
            except httpx.HTTPError as exc:
                failures.append(f"{url}: {type(exc).__name__}")
                continue
            return Generation(
                text=str(reply.content).strip(),
                model=self.model,
                replica=url,
                usage=self._usage(reply.usage_metadata),
                latency_s=time.perf_counter() - began,
            )
        raise ModelUnavailable(
            f"every replica of the {self.name} tier failed: {'; '.join(failures)}"
        )

    def _usage(self, meta: object) -> Usage:
        tokens_in = int(meta.get("input_tokens", 0)) if isinstance(meta, dict) else 0
        tokens_out = int(meta.get("output_tokens", 0)) if isinstance(meta, dict) else 0
        cost = (
            tokens_in / 1000 * self.cost_per_1k_input + tokens_out / 1000 * self.cost_per_1k_output
        )
        return Usage(calls=1, input_tokens=tokens_in, output_tokens=tokens_out, cost=cost)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def ahealthy(self, timeout_s: float = 2.0) -> bool:
        """True if any replica lists its models (vLLM and llama-server both serve /models)."""
        async with httpx.AsyncClient(timeout=timeout_s) as http:
            for url in self.urls:
                try:
                    if (await http.get(f"{url}/models")).status_code == 200:
                        return True
                except httpx.HTTPError:
                    continue
        return False
