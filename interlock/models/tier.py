"""A model tier: a named pool of OpenAI-compatible replicas (vLLM, llama-server).

The pool adds what a single client lacks:

* a balancing strategy (balancer.py) orders the usable replicas;
* a circuit breaker per replica (breaker.py) and an active health probe take
  failing replicas out of rotation and bring them back;
* a failed call — connect error, timeout, 5xx, or 429 (its Retry-After is
  honoured by resting that replica) — moves to another replica after a short
  exponential backoff with jitter, all within one total deadline;
* a *stream* that already delivered tokens is never restarted on another
  replica (the user would see the answer twice, or two different answers
  spliced). With ``resume_streams`` (the default) it *continues* there: the
  next replica is given the text sent so far as an open assistant message
  (``wire.continuation_body``) and writes the rest of the same answer, so a
  replica dying mid-load costs the client a pause, not its answer. Without
  it, or for structured output (a JSON grammar cannot start mid-document),
  it fails with ``StreamInterrupted`` carrying the partial text, and the
  caller decides (the agent's fallback node retries the whole generation,
  visibly);
* token usage and cost per call, from the server's usage field or, when a
  server omits it, from the server's own tokenizer (``/tokenize``).

Calls go over the wire module (plain httpx, see its docstring for why);
``chat_model.PoolChatModel`` puts LangChain's chat-model interface on top so
LangGraph streaming and Langfuse's callback see each call as a generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import random
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from langchain_core.messages import BaseMessage

from interlock.errors import InterlockError, ModelUnavailable
from interlock.models import wire
from interlock.models.balancer import Strategy, StrategyName, make_strategy
from interlock.models.breaker import BreakerPolicy, CircuitBreaker
from interlock.models.replica import Replica
from interlock.state import Tier, Usage

log = logging.getLogger(__name__)

Messages = Sequence[BaseMessage | wire.ChatMessage]
UsageSource = Literal["server", "tokenizer", "estimate"]


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
    tier: str = ""
    usage_source: UsageSource = "server"
    finish_reason: str | None = None


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


def _text_of(messages: Messages) -> str:
    parts: list[str] = []
    for m in messages:
        content = m.content if isinstance(m, BaseMessage) else m.get("content", "")
        parts.append(content if isinstance(content, str) else str(content))
    return "\n".join(parts)


def _why(exc: BaseException, began: float) -> str:
    """A failure in words; timeouts (whose message is empty) say how long they waited."""
    text = str(exc).strip()
    if isinstance(exc, TimeoutError) or not text:
        kind = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        return f"{text or kind} after {time.perf_counter() - began:.1f} s"
    return text


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
        resume_streams: bool = True,
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
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.frequency_penalty = frequency_penalty
        self.resume_streams = resume_streams
        self.cost_per_1k_input = cost_per_1k_input
        self.cost_per_1k_output = cost_per_1k_output
        self.retry = retry or RetryPolicy()
        if timeout_s is not None:
            self.retry.attempt_timeout_s = timeout_s
        self.strategy: Strategy = make_strategy(strategy) if isinstance(strategy, str) else strategy
        policy = breaker or BreakerPolicy()
        self.replicas = [
            Replica(url=url.rstrip("/"), weight=w, breaker=CircuitBreaker(policy))
            for url, w in zip(urls, weights, strict=True)
        ]
        self._http = self._clients()
        self._probe_task: asyncio.Task[None] | None = None

    def _clients(self) -> dict[str, httpx.AsyncClient]:
        """One connection pool per replica.

        httpcore scans every connection of a pool to place each request, so
        one pool holding the connections of all replicas costs O(total²)
        under load (it was the top entry of a profile at 1,000 streams);
        a pool per replica divides that by the replica count, and is where a
        per-replica connection limit would go. Keep-alive connections are
        reused; a server closing one under us is retried once by wire._send.
        """
        return {
            r.url: httpx.AsyncClient(
                timeout=self.retry.attempt_timeout_s,
                limits=httpx.Limits(max_keepalive_connections=256, max_connections=None),
            )
            for r in self.replicas
        }

    def with_own_client(self) -> ModelTier:
        """The same replicas (breakers, load counters) over a new connection pool.

        httpx connections belong to one event loop; a caller running its own
        loop (a sync call, another thread) uses this and closes it after.
        """
        twin = copy.copy(self)
        twin._http = self._clients()
        twin._probe_task = None
        return twin

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.replicas]

    def available(self) -> bool:
        """Can any replica take a call now (breaker not open, probe passing)?"""
        now = time.monotonic()
        return any(r.usable(now) for r in self.replicas)

    def estimate_cost(self, tokens_in: int, tokens_out: int) -> float:
        """What a call of this size would cost on this tier, from its prices per 1K tokens."""
        return (tokens_in * self.cost_per_1k_input + tokens_out * self.cost_per_1k_output) / 1000

    def expected_latency_s(self) -> float | None:
        """The best recent whole-call latency of a usable replica (None before any call)."""
        now = time.monotonic()
        seen = [
            r.ewma_latency_s
            for r in self.replicas
            if r.ewma_latency_s is not None and r.usable(now)
        ]
        return min(seen) if seen else None

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

    def _body(self, messages: Messages, *, stream: bool, **options: Any) -> dict[str, Any]:
        return wire.request_body(
            messages,
            model=self.model,
            stream=stream,
            max_tokens=options.get("max_tokens") or self.max_tokens,
            temperature=(
                self.temperature if options.get("temperature") is None else options["temperature"]
            ),
            frequency_penalty=self.frequency_penalty,
            stop=options.get("stop"),
            response_format=options.get("response_format"),
        )

    async def _usage(
        self, reported: Mapping[str, Any] | None, replica: Replica, prompt: Messages, text: str
    ) -> tuple[Usage, UsageSource]:
        source: UsageSource = "server"
        if reported and "prompt_tokens" in reported:
            tokens_in = int(reported.get("prompt_tokens") or 0)
            tokens_out = int(reported.get("completion_tokens") or 0)
        else:
            # The server sent no usage: ask its own tokenizer, else estimate
            # (~4 characters per token, OpenAI's rule of thumb for English).
            prompt_text = _text_of(prompt)
            counted = await asyncio.gather(
                wire.count_tokens(
                    self._http[replica.url], replica.base_url, self.model, prompt_text
                ),
                wire.count_tokens(self._http[replica.url], replica.base_url, self.model, text),
            )
            if counted[0] is not None and counted[1] is not None:
                tokens_in, tokens_out, source = counted[0], counted[1], "tokenizer"
            else:
                tokens_in, tokens_out = len(prompt_text) // 4 + 1, len(text) // 4 + 1
                source = "estimate"
        cost = (
            tokens_in / 1000 * self.cost_per_1k_input + tokens_out / 1000 * self.cost_per_1k_output
        )
        return Usage(calls=1, input_tokens=tokens_in, output_tokens=tokens_out, cost=cost), source

    def _plus(self, usage: Usage, tokens_in: int, tokens_out: int) -> Usage:
        return Usage(
            calls=usage["calls"] + 1,
            input_tokens=usage["input_tokens"] + tokens_in,
            output_tokens=usage["output_tokens"] + tokens_out,
            cost=usage["cost"]
            + tokens_in / 1000 * self.cost_per_1k_input
            + tokens_out / 1000 * self.cost_per_1k_output,
        )

    def _give_up(self, failures: list[str]) -> ModelUnavailable:
        return ModelUnavailable(
            f"every replica of the {self.name} tier failed: {'; '.join(failures) or 'deadline'}"
        )

    async def _pause(self, attempt: int, deadline: float) -> None:
        await asyncio.sleep(min(self.retry.backoff(attempt), max(0.0, deadline - time.monotonic())))

    async def ainvoke(
        self,
        messages: Messages,
        *,
        affinity_key: str | None = None,
        response_format: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> Generation:
        """One completion, failing over between replicas within the retry policy's deadline."""
        body = self._body(
            messages,
            stream=False,
            response_format=response_format,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
        )
        deadline = time.monotonic() + self.retry.deadline_s
        tried: set[str] = set()
        failures: list[str] = []
        for attempt in range(self.retry.max_attempts):
            replica = await self._acquire(affinity_key, tried, deadline, failures)
            if replica is None:
                break
            began = time.perf_counter()
            try:
                budget = min(self.retry.attempt_timeout_s, deadline - time.monotonic())
                async with asyncio.timeout(max(budget, 0.001)):
                    reply = await wire.complete(
                        self._http[replica.url], replica.url, body, timeout_s=budget
                    )
            except wire.RateLimited as exc:
                replica.cooling_until = time.monotonic() + exc.retry_after_s
                failures.append(f"{replica.url}: 429")
            except (wire.ReplicaFailure, TimeoutError) as exc:
                replica.record_failure(time.perf_counter() - began)
                failures.append(f"{replica.url}: {_why(exc, began)}")
                log.warning(
                    "tier %s replica %s failed: %s", self.name, replica.url, _why(exc, began)
                )
            except wire.RequestRejected as exc:
                replica.breaker.success()  # it answered; the request is at fault
                raise ModelRejected(f"{replica.url} rejected the request: {exc}") from exc
            else:
                latency = time.perf_counter() - began
                replica.record_success(latency)
                usage, source = await self._usage(reply.usage, replica, messages, reply.text)
                replica.record_usage(usage)
                return Generation(
                    text=reply.text.strip(),
                    model=self.model,
                    replica=replica.url,
                    usage=usage,
                    latency_s=latency,
                    attempts=attempt + 1,
                    tier=self.name,
                    usage_source=source,
                    finish_reason=reply.finish_reason,
                )
            finally:
                replica.in_flight -= 1
            await self._pause(attempt, deadline)
        raise self._give_up(failures)

    def stream(
        self,
        messages: Messages,
        *,
        affinity_key: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> TierStream:
        """Token stream; after the first token, fails over only by continuing (module doc)."""
        body = self._body(
            messages,
            stream=True,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            response_format=response_format,
        )
        holder = TierStream(_source=_empty())
        holder._source = self._stream(messages, body, affinity_key, holder)
        return holder

    async def _stream(
        self,
        messages: Messages,
        body: dict[str, Any],
        affinity_key: str | None,
        holder: TierStream,
    ) -> AsyncIterator[str]:
        deadline = time.monotonic() + self.retry.deadline_s
        tried: set[str] = set()
        failures: list[str] = []
        sent: list[str] = []  # every delta the caller has, across attempts
        # What interrupted attempts consumed (estimated: a cut stream sends no usage).
        cut_in = cut_out = 0
        resumable = self.resume_streams and "response_format" not in body
        began0 = time.perf_counter()
        ttft: float | None = None
        for attempt in range(self.retry.max_attempts):
            replica = await self._acquire(affinity_key, tried, deadline, failures)
            if replica is None:
                break
            began = time.perf_counter()
            request = wire.continuation_body(body, "".join(sent), len(sent)) if sent else body
            first = len(sent)  # where this attempt's deltas begin
            fresh = 0
            attempt_ttft: float | None = None
            usage: Mapping[str, Any] | None = None
            finish: str | None = None
            try:
                budget = min(self.retry.attempt_timeout_s, deadline - time.monotonic())
                # aclosing: a consumer that stops early must release the connection now.
                async with contextlib.aclosing(
                    wire.stream(
                        self._http[replica.url], replica.url, request, timeout_s=max(budget, 0.001)
                    )
                ) as deltas:
                    async for delta in deltas:
                        if delta.usage:
                            usage = delta.usage
                        finish = delta.finish_reason or finish
                        if not delta.text:
                            continue
                        if attempt_ttft is None:
                            attempt_ttft = time.perf_counter() - began
                        if ttft is None:
                            ttft = time.perf_counter() - began0
                        fresh += 1
                        sent.append(delta.text)
                        yield delta.text
            except wire.RateLimited as exc:
                replica.cooling_until = time.monotonic() + exc.retry_after_s
                failures.append(f"{replica.url}: 429")
            except wire.ReplicaFailure as exc:
                replica.record_failure(time.perf_counter() - began)
                why = f"{replica.url} failed after {len(sent)} streamed tokens: {exc}"
                if sent and not resumable:
                    raise StreamInterrupted(why, "".join(sent)) from exc
                if fresh:
                    cut_in += len(_text_of(messages)) // 4 + 1
                    cut_out += fresh
                    log.warning("%s; continuing on another replica", why)
                failures.append(f"{replica.url}: {_why(exc, began)}")
            except wire.RequestRejected as exc:
                replica.breaker.success()
                if sent:  # a server that cannot continue an answer: the caller decides
                    raise StreamInterrupted(
                        f"{replica.url} refused to continue the answer: {exc}", "".join(sent)
                    ) from exc
                raise ModelRejected(f"{replica.url} rejected the request: {exc}") from exc
            else:
                latency = time.perf_counter() - began
                replica.record_success(latency, attempt_ttft)
                own = "".join(sent[first:])  # earlier attempts' text is in cut_out
                counted, source = await self._usage(usage, replica, messages, own)
                replica.record_usage(counted)
                if cut_out:
                    counted = self._plus(counted, cut_in, cut_out)
                holder.generation = Generation(
                    text="".join(sent).strip(),
                    model=self.model,
                    replica=replica.url,
                    usage=counted,
                    latency_s=time.perf_counter() - began0,
                    ttft_s=ttft,
                    attempts=attempt + 1,
                    tier=self.name,
                    usage_source=source,
                    finish_reason=finish,
                )
                return
            finally:
                replica.in_flight -= 1
            await self._pause(attempt, deadline)
        if sent:
            raise StreamInterrupted(
                f"the {self.name} tier could not finish a streamed answer: "
                + ("; ".join(failures) or "deadline"),
                "".join(sent),
            )
        raise self._give_up(failures)

    # -- health ------------------------------------------------------------------------
    async def probe(self, timeout_s: float = 2.0) -> None:
        """One active probe of every replica: ``/health``, then ``/v1/models``.

        vLLM's ``/health`` says the engine is alive; ``/v1/models`` says the API
        layer answers and which model it serves. A replica serving another model
        than the tier's is reported in ``Replica.probe_note`` (and the log) but
        kept: a served-model-name alias is a deployment choice, not a failure.
        """

        async def check(replica: Replica) -> None:
            client = self._http[replica.url]
            try:
                health = await client.get(f"{replica.base_url}/health", timeout=timeout_s)
                if health.status_code != 200:
                    replica.probe_ok, replica.probe_note = False, f"/health {health.status_code}"
                    return
                models = await client.get(f"{replica.url}/models", timeout=timeout_s)
            except httpx.HTTPError as exc:
                replica.probe_ok, replica.probe_note = False, type(exc).__name__
                return
            if models.status_code != 200:
                replica.probe_ok, replica.probe_note = False, f"/models {models.status_code}"
                return
            replica.probe_ok, replica.probe_note = True, ""
            with contextlib.suppress(ValueError, KeyError, TypeError):
                served = [m["id"] for m in models.json()["data"]]
                if served and self.model not in served:
                    replica.probe_note = f"serves {served}, not {self.model!r}"
                    log.warning("tier %s replica %s %s", self.name, replica.url, replica.probe_note)

        await asyncio.gather(*(check(r) for r in self.replicas))

    def snapshot(self) -> dict[str, Any]:
        """Each replica's state and counters, for readiness reports and metrics."""
        return {
            "tier": self.name,
            "model": self.model,
            "strategy": type(self.strategy).__name__,
            "replicas": [
                {
                    "url": r.url,
                    "usable": r.usable(),
                    "breaker": r.state.value,
                    "probe_ok": r.probe_ok,
                    "probe_note": r.probe_note,
                    "in_flight": r.in_flight,
                    "served": r.served,
                    "failed": r.failed,
                    "ewma_latency_s": r.ewma_latency_s,
                    "ewma_ttft_s": r.ewma_ttft_s,
                    "input_tokens": r.input_tokens,
                    "output_tokens": r.output_tokens,
                    "cost": round(r.cost, 6),
                }
                for r in self.replicas
            ],
        }

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
                response = await self._http[url].get(f"{url}/models", timeout=timeout_s)
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
        for client in self._http.values():
            await client.aclose()


async def _empty() -> AsyncIterator[str]:
    return
    yield  # pragma: no cover - makes this an async generator
