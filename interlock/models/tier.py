"""A model tier: a named pool of OpenAI-compatible replicas (vLLM, llama-server).

Each replica is called through langchain-openai's ``ChatOpenAI`` so LangGraph
streaming and Langfuse's LangChain callback record every call as a
generation. The pool adds what a single client lacks:

* a balancing strategy (balancer.py) orders the usable replicas;
* a circuit breaker per replica (breaker.py) and an optional active health
  probe take failing replicas out of rotation and bring them back;
* a failed call — connect error, timeout, 5xx, or 429 (its Retry-After is
  honoured by resting that replica) — moves to another replica after a short
  exponential backoff with jitter, all within one total deadline;
* a *stream* that already delivered tokens is never silently restarted on
  another replica (the user would see the answer twice, or two different
  answers spliced): it fails with ``StreamInterrupted`` carrying the partial
  text, and the caller decides (the agent's fallback node retries the whole
  generation, visibly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import openai
from langchain_core.callbacks import Callbacks
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_openai import ChatOpenAI

from interlock.errors import InterlockError, ModelUnavailable
from interlock.models.balancer import Strategy, StrategyName, make_strategy
from interlock.models.breaker import BreakerPolicy, CircuitBreaker
from interlock.models.replica import Replica
from interlock.state import Tier, Usage

log = logging.getLogger(__name__)

# Failures that say "this replica, now" rather than "this request".
RETRYABLE = (
    openai.APIConnectionError,  # includes APITimeoutError
    openai.InternalServerError,
    openai.RateLimitError,
    httpx.HTTPError,
    TimeoutError,
)


class ModelRejected(InterlockError):
    """The model server refused the request itself (4xx other than 429): no replica will do."""

    status = 422


class StreamInterrupted(ModelUnavailable):
    """A replica failed after tokens were streamed; ``partial`` is what the client got."""

    def __init__(self, reason: str, partial: str) -> None:
        super().__init__(reason)
        self.partial = partial


@dataclass(frozen=True)
class Generation:
    text: str
    model: str
    replica: str
    usage: Usage
    latency_s: float
    ttft_s: float | None = None
    attempts: int = 1


@dataclass
class RetryPolicy:
    """How hard the pool tries before giving up on a call."""

    attempt_timeout_s: float = 60.0
    deadline_s: float = 120.0
    max_attempts: int = 4
    backoff_s: float = 0.02
    backoff_max_s: float = 1.0

    def backoff(self, attempt: int) -> float:
        """Exponential with full jitter (AWS architecture blog's recommendation)."""
        return random.uniform(0, min(self.backoff_max_s, self.backoff_s * 2**attempt))


@dataclass
class TierStream:
    """Async iterator of text tokens; ``generation`` is set once it is exhausted."""

    _source: AsyncIterator[str]
    generation: Generation | None = field(default=None, init=False)

    def __aiter__(self) -> AsyncIterator[str]:
        return self._source


def _retry_after(exc: openai.RateLimitError) -> float:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    if not value:
        return 1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        with contextlib.suppress(TypeError, ValueError):
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    return 1.0


class ModelTier:
    """Replicas of one model behind one name, balanced, guarded and failed over."""

    def __init__(
        self,
        name: Tier,
        urls: Sequence[str],
        *,
        model: str,
        context_window: int,
        weights: Sequence[float] | None = None,
        strategy: StrategyName | Strategy = "least_connections",
        breaker: BreakerPolicy | None = None,
        retry: RetryPolicy | None = None,
        timeout_s: float | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        frequency_penalty: float = 0.0,
        cost_per_1k_input: float = 0.0,
        cost_per_1k_output: float = 0.0,
    ) -> None:
        if not urls:
            raise ValueError(f"model tier {name!r} needs at least one replica URL")
        weights = list(weights or [1.0] * len(urls))
        if len(weights) != len(urls) or any(w <= 0 for w in weights):
            raise ValueError(f"model tier {name!r}: one positive weight per replica is required")
        self.name = name
        self.model = model
        self.context_window = context_window
        self.cost_per_1k_input = cost_per_1k_input
        self.cost_per_1k_output = cost_per_1k_output
        self.retry = retry or RetryPolicy()
        if timeout_s is not None:
            self.retry.attempt_timeout_s = timeout_s
        self.strategy: Strategy = make_strategy(strategy) if isinstance(strategy, str) else strategy
        policy = breaker or BreakerPolicy()
        self.replicas = [
            Replica(url=url, weight=w, breaker=CircuitBreaker(policy))
            for url, w in zip(urls, weights, strict=True)
        ]
        # No pooled keep-alive connections: llama-server closes a connection after
        # a streamed response without saying so, and the next call on that pooled
        # connection fails ("Server disconnected without sending a response"),
        # seen here on every few calls. A loopback/LAN connect costs well under a
        # millisecond next to a model call, so the pool opens one per call.
        self._http = httpx.AsyncClient(
            timeout=self.retry.attempt_timeout_s,
            limits=httpx.Limits(max_keepalive_connections=0, max_connections=None),
        )
        self._clients = {
            r.url: ChatOpenAI(
                base_url=r.url,
                api_key="unused",  # type: ignore[arg-type]  # local servers ignore it
                model=model,
                timeout=self.retry.attempt_timeout_s,
                max_retries=0,  # the pool retries, on another replica
                max_tokens=max_tokens,  # type: ignore[call-arg]
                temperature=temperature,
                frequency_penalty=frequency_penalty,
                stream_usage=True,
                http_async_client=self._http,
            )
            for r in self.replicas
        }
        self._probe_task: asyncio.Task[None] | None = None

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.replicas]

    def chat_model(self, index: int = 0) -> ChatOpenAI:
        """One replica's client, for callers who want LangChain's interface directly."""
        return self._clients[self.replicas[index].url]

    def available(self) -> bool:
        """Can any replica take a call now (breaker not open, probe passing)?"""
        now = time.monotonic()
        return any(r.usable(now) for r in self.replicas)

    # -- calls -------------------------------------------------------------------------
    def _candidates(self, key: str | None, tried: set[str]) -> list[Replica]:
        now = time.monotonic()
        usable = [r for r in self.replicas if r.usable(now)]
        ordered = self.strategy.order(usable, key)
        fresh = [r for r in ordered if r.url not in tried]
        return fresh or ordered  # a lone replica may be tried again after backoff

    async def _wait_for_capacity(self, deadline: float) -> bool:
        """All replicas resting after 429s: wait for the first, if the deadline allows."""
        resting = [r.cooling_until for r in self.replicas if r.probe_ok and r.breaker.available()]
        if not resting:
            return False
        wake = min(resting)
        if wake >= deadline:
            return False
        await asyncio.sleep(max(0.0, wake - time.monotonic()))
        return True

    async def _acquire(
        self, key: str | None, tried: set[str], deadline: float, failures: list[str]
    ) -> Replica | None:
        """The next replica to try, reserved (breaker slot, in-flight count); None = give up.

        Shared by ``ainvoke`` and ``stream`` so both fail over, and wait out
        429 rests, the same way.
        """
        for _ in range(len(self.replicas) + 1):
            if time.monotonic() >= deadline:
                return None
            candidates = self._candidates(key, tried)
            if not candidates:
                if await self._wait_for_capacity(deadline):
                    continue
                failures.append("no replica available (breakers open or probes failing)")
                return None
            replica = candidates[0]
            tried.add(replica.url)
            if replica.breaker.acquire():
                replica.in_flight += 1
                return replica
        return None

    def _usage(self, meta: object) -> Usage:
        tokens_in = int(meta.get("input_tokens", 0)) if isinstance(meta, dict) else 0
        tokens_out = int(meta.get("output_tokens", 0)) if isinstance(meta, dict) else 0
        cost = (
            tokens_in / 1000 * self.cost_per_1k_input + tokens_out / 1000 * self.cost_per_1k_output
        )
        return Usage(calls=1, input_tokens=tokens_in, output_tokens=tokens_out, cost=cost)

    def _config(self, callbacks: Callbacks) -> RunnableConfig:
        return RunnableConfig(callbacks=callbacks, run_name=f"model:{self.name}")

    async def ainvoke(
        self,
        messages: Sequence[BaseMessage],
        *,
        callbacks: Callbacks = None,
        affinity_key: str | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> Generation:
        """One completion, failing over between replicas within the retry policy's deadline."""
        extra: dict[str, Any] = {"response_format": response_format} if response_format else {}
        deadline = time.monotonic() + self.retry.deadline_s
        tried: set[str] = set()
        failures: list[str] = []
        for attempt in range(self.retry.max_attempts):
            replica = await self._acquire(affinity_key, tried, deadline, failures)
            if replica is None:
                break
            remaining = deadline - time.monotonic()
            began = time.perf_counter()
            try:
                reply = await asyncio.wait_for(
                    self._clients[replica.url].ainvoke(
                        list(messages), config=self._config(callbacks), **extra
                    ),
                    timeout=min(self.retry.attempt_timeout_s, remaining),
                )
            except openai.RateLimitError as exc:
                replica.cooling_until = time.monotonic() + _retry_after(exc)
                failures.append(f"{replica.url}: 429")
            except RETRYABLE as exc:
                replica.record_failure(time.perf_counter() - began)
                failures.append(f"{replica.url}: {type(exc).__name__}")
                log.warning("tier %s replica %s failed: %s", self.name, replica.url, exc)
            except openai.APIStatusError as exc:
                replica.breaker.success()  # it answered; the request is at fault
                raise ModelRejected(f"{replica.url} rejected the request: {exc.message}") from exc
            else:
                latency = time.perf_counter() - began
                replica.record_success(latency)
                return Generation(
                    text=str(reply.content).strip(),
                    model=self.model,
                    replica=replica.url,
                    usage=self._usage(reply.usage_metadata),
                    latency_s=latency,
                    attempts=attempt + 1,
                )
            finally:
                replica.in_flight -= 1
            await asyncio.sleep(
                min(self.retry.backoff(attempt), max(0.0, deadline - time.monotonic()))
            )
        raise ModelUnavailable(
            f"every replica of the {self.name} tier failed: {'; '.join(failures) or 'deadline'}"
        )

    def stream(
        self,
        messages: Sequence[BaseMessage],
        *,
        callbacks: Callbacks = None,
        affinity_key: str | None = None,
    ) -> TierStream:
        """Token stream; fails over only until the first token is out (see module doc)."""
        holder = TierStream(_source=_empty())
        holder._source = self._stream(messages, callbacks, affinity_key, holder)
        return holder

    async def _stream(
        self,
        messages: Sequence[BaseMessage],
        callbacks: Callbacks,
        affinity_key: str | None,
        holder: TierStream,
    ) -> AsyncIterator[str]:
        deadline = time.monotonic() + self.retry.deadline_s
        tried: set[str] = set()
        failures: list[str] = []
        for attempt in range(self.retry.max_attempts):
            replica = await self._acquire(affinity_key, tried, deadline, failures)
            if replica is None:
                break
            began = time.perf_counter()
            ttft: float | None = None
            parts: list[str] = []
            usage: object = None
            try:
                chunks = (
                    self._clients[replica.url]
                    .astream(list(messages), config=self._config(callbacks))
                    .__aiter__()
                )
                while True:
                    # The timeout bounds each wait for the server, never the time the
                    # consumer spends between tokens.
                    budget = min(self.retry.attempt_timeout_s, deadline - time.monotonic())
                    try:
                        chunk = await asyncio.wait_for(anext(chunks), timeout=max(budget, 0.001))
                    except StopAsyncIteration:
                        break
                    if chunk.usage_metadata:
                        usage = chunk.usage_metadata
                    text = str(chunk.content)
                    if not text:
                        continue
                    if ttft is None:
                        ttft = time.perf_counter() - began
                    parts.append(text)
                    yield text
            except openai.RateLimitError as exc:
                replica.cooling_until = time.monotonic() + _retry_after(exc)
                failures.append(f"{replica.url}: 429")
            except RETRYABLE as exc:
                replica.record_failure(time.perf_counter() - began)
                if parts:
                    raise StreamInterrupted(
                        f"{replica.url} failed after {len(parts)} streamed tokens: "
                        f"{type(exc).__name__}",
                        "".join(parts),
                    ) from exc
                failures.append(f"{replica.url}: {type(exc).__name__}")
            except openai.APIStatusError as exc:
                raise ModelRejected(f"{replica.url} rejected the request: {exc.message}") from exc
            else:
                latency = time.perf_counter() - began
                replica.record_success(latency, ttft)
                holder.generation = Generation(
                    text="".join(parts).strip(),
                    model=self.model,
                    replica=replica.url,
                    usage=self._usage(usage),
                    latency_s=latency,
                    ttft_s=ttft,
                    attempts=attempt + 1,
                )
                return
            finally:
                replica.in_flight -= 1
            await asyncio.sleep(
                min(self.retry.backoff(attempt), max(0.0, deadline - time.monotonic()))
            )
        raise ModelUnavailable(
            f"every replica of the {self.name} tier failed: {'; '.join(failures) or 'deadline'}"
        )

    # -- health ------------------------------------------------------------------------
    async def probe(self, timeout_s: float = 2.0) -> None:
        """One active probe of every replica: ``/health`` (vLLM and llama-server serve it)."""

        async def check(replica: Replica) -> None:
            try:
                response = await self._http.get(f"{replica.base_url}/health", timeout=timeout_s)
                replica.probe_ok = response.status_code == 200
            except httpx.HTTPError:
                replica.probe_ok = False

        await asyncio.gather(*(check(r) for r in self.replicas))

    def start_probing(self, interval_s: float = 5.0) -> None:
        """Probe in the background until ``aclose``; call from inside the event loop."""
        if self._probe_task is not None:
            return

        async def loop() -> None:
            while True:
                await self.probe()
                await asyncio.sleep(interval_s)

        self._probe_task = asyncio.get_running_loop().create_task(loop())

    async def ahealthy(self, timeout_s: float = 2.0) -> bool:
        """True if any replica lists its models (vLLM and llama-server both serve /models)."""
        for url in self.urls:
            try:
                response = await self._http.get(f"{url}/models", timeout=timeout_s)
                if response.status_code == 200:
                    return True
            except httpx.HTTPError:
                continue
        return False

    async def aclose(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe_task
            self._probe_task = None
        await self._http.aclose()


async def _empty() -> AsyncIterator[str]:
    return
    yield  # pragma: no cover - makes this an async generator
