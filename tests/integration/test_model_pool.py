"""The model pool against real simulator processes speaking vLLM's protocol."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import LLMResult
from pydantic import BaseModel

from interlock.embedded.process import free_port
from interlock.errors import ModelUnavailable
from interlock.models.breaker import BreakerPolicy, BreakerState
from interlock.models.chat_model import PoolChatModel
from interlock.models.tier import ModelTier, RetryPolicy, StreamInterrupted
from interlock.testing.vllm_simulator import SimulatorProcess

MESSAGES = [HumanMessage(content="hello there")]


@pytest.fixture
def sims() -> Iterator[list[SimulatorProcess]]:
    started = [SimulatorProcess(replica_id=f"r{i}").start() for i in range(3)]
    yield started
    for sim in started:
        sim.stop()


def configure(sim: SimulatorProcess, **patch: object) -> None:
    httpx.post(f"{sim.url}/_simulator/config", json=patch, timeout=5).raise_for_status()


def tier(sims: list[SimulatorProcess], **kwargs: object) -> ModelTier:
    options: dict[str, object] = {
        "model": "sim-model",
        "context_window": 4096,
        "max_tokens": 8,
        "breaker": BreakerPolicy(failure_threshold=2, cooldown_s=1.0),
        "retry": RetryPolicy(attempt_timeout_s=2.0, deadline_s=10.0, max_attempts=4),
    }
    options.update(kwargs)
    return ModelTier("large", [s.openai_url for s in sims], **options)  # type: ignore[arg-type]


def share(pool: ModelTier) -> dict[str, int]:
    return {r.url: r.served for r in pool.replicas}


async def test_round_robin_is_even_and_affinity_is_sticky(sims: list[SimulatorProcess]) -> None:
    rr = tier(sims, strategy="round_robin")
    for _ in range(30):
        await rr.ainvoke(MESSAGES)
    assert sorted(share(rr).values()) == [10, 10, 10]
    await rr.aclose()
    sticky = tier(sims, strategy="affinity")
    replicas = {
        (await sticky.ainvoke(MESSAGES, affinity_key="thread-7")).replica for _ in range(10)
    }
    assert len(replicas) == 1
    await sticky.aclose()


async def test_least_connections_favours_the_idle_replica(sims: list[SimulatorProcess]) -> None:
    configure(sims[0], ttft_s=1.0)  # r0 holds each call for a second
    pool = tier(sims, strategy="least_connections")
    first = [asyncio.create_task(pool.ainvoke(MESSAGES)) for _ in range(3)]  # one per replica
    await asyncio.sleep(0.2)  # r1 and r2 are idle again; r0 is still busy
    assert pool.replicas[0].in_flight == 1
    for _ in range(10):
        await pool.ainvoke(MESSAGES)
    await asyncio.gather(*first)
    assert pool.replicas[0].served == 1, share(pool)  # nothing new went to the busy one
    await pool.aclose()


async def test_weighted_response_time_moves_traffic_off_a_slow_replica(
    sims: list[SimulatorProcess],
) -> None:
    pool = tier(sims, strategy="weighted_response_time")
    for _ in range(9):
        await pool.ainvoke(MESSAGES)
    configure(sims[0], ttft_s=0.25)  # 5x+ slower than the others
    before = pool.replicas[0].served
    began = time.monotonic()
    for _ in range(40):
        await pool.ainvoke(MESSAGES)
    after = pool.replicas[0].served - before
    assert after <= 3, share(pool)  # shifted away within a few calls
    assert time.monotonic() - began < 10
    await pool.aclose()


async def test_killing_a_replica_under_load_fails_no_request_and_it_comes_back(
    sims: list[SimulatorProcess],
) -> None:
    pool = tier(sims, strategy="round_robin")

    async def one() -> str:
        return (await pool.ainvoke(MESSAGES)).text

    calls = [asyncio.create_task(one()) for _ in range(200)]
    await asyncio.sleep(0.05)
    sims[1].kill()  # the process dies, mid-load
    results = await asyncio.gather(*calls, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == [], failures[:3]
    dead = pool.replicas[1]
    # It opened; on a loaded machine the run can outlast the 1 s cool-down, so
    # by now it may already read half-open.
    assert "open" in [t[1] for t in dead.breaker.transitions]
    assert dead.state in (BreakerState.OPEN, BreakerState.HALF_OPEN)
    sims[1].restart()
    await asyncio.sleep(1.1)  # cool-down
    assert dead.state is BreakerState.HALF_OPEN
    for _ in range(6):
        await pool.ainvoke(MESSAGES)
    assert dead.state is BreakerState.CLOSED
    assert [t[1] for t in dead.breaker.transitions][-3:] == ["open", "half_open", "closed"]
    served = dead.served
    for _ in range(6):
        await pool.ainvoke(MESSAGES)
    assert dead.served > served  # traffic returns
    await pool.aclose()


async def test_a_hanging_replica_times_out_and_the_call_moves_on(
    sims: list[SimulatorProcess],
) -> None:
    configure(sims[0], mode="hang")
    pool = tier(
        sims,
        strategy="round_robin",
        retry=RetryPolicy(attempt_timeout_s=0.5, deadline_s=3.0, max_attempts=3),
    )
    began = time.monotonic()
    results = [await pool.ainvoke(MESSAGES) for _ in range(3)]
    assert time.monotonic() - began < 3.0
    assert all(r.replica != sims[0].openai_url for r in results)
    assert pool.replicas[0].failed >= 1
    await pool.aclose()


async def test_every_replica_down_is_model_unavailable_within_the_deadline(
    sims: list[SimulatorProcess],
) -> None:
    for sim in sims:
        configure(sim, mode="error")
    # A cool-down longer than the call: with the default 1 s, a breaker that opened early
    # in a slow run could already be half-open (usable) when the assertion below reads it.
    pool = tier(
        sims,
        breaker=BreakerPolicy(failure_threshold=2, cooldown_s=30.0),
        retry=RetryPolicy(attempt_timeout_s=1.0, deadline_s=2.0, max_attempts=6),
    )
    began = time.monotonic()
    with pytest.raises(ModelUnavailable, match="every replica"):
        await pool.ainvoke(MESSAGES)
    assert time.monotonic() - began < 2.5
    assert not pool.available()  # the breakers opened
    await pool.aclose()


async def test_streaming_measures_ttft_and_never_silently_restarts(
    sims: list[SimulatorProcess],
) -> None:
    configure(sims[0], ttft_s=0.1, output_tokens=8)
    pool = tier(sims[:1], max_tokens=8)
    stream = pool.stream(MESSAGES)
    tokens = [t async for t in stream]
    assert stream.generation is not None and len(tokens) >= 4
    assert stream.generation.ttft_s is not None and 0.08 <= stream.generation.ttft_s < 1.0
    assert stream.generation.usage["output_tokens"] == 8
    # A replica that dies after the first tokens, resume_streams off: the stream fails
    # visibly with the partial text.
    configure(sims[0], inter_token_s=0.2, output_tokens=40)
    pool2 = tier(sims[:2], strategy="round_robin", max_tokens=40, resume_streams=False)
    pool2.strategy = type(pool2.strategy)()  # start at r0
    stream = pool2.stream(MESSAGES)
    received: list[str] = []
    with pytest.raises(StreamInterrupted) as info:
        async for token in stream:
            received.append(token)
            if len(received) == 2:
                sims[0].kill()
    assert info.value.partial == "".join(received)
    await pool.aclose()
    await pool2.aclose()


async def test_a_stream_cut_mid_answer_continues_on_another_replica(
    sims: list[SimulatorProcess],
) -> None:
    configure(sims[0], inter_token_s=0.1, output_tokens=20)
    configure(sims[1], output_tokens=20)
    pool = tier(sims[:2], strategy="round_robin", max_tokens=20)
    pool.strategy = type(pool.strategy)()  # start at r0
    stream = pool.stream(MESSAGES)
    received: list[str] = []
    async for token in stream:
        received.append(token)
        if len(received) == 5:
            sims[0].kill()
    # One answer, no token twice, none missing: r1 wrote the rest of r0's answer.
    assert "".join(received).split() == [f"token{i}" for i in range(20)]
    generation = stream.generation
    assert generation is not None and generation.attempts == 2
    assert generation.replica == sims[1].openai_url.rstrip("/")
    assert generation.usage["output_tokens"] == 20 and generation.usage["calls"] == 2
    await pool.aclose()


async def test_a_cut_structured_stream_is_not_continued(sims: list[SimulatorProcess]) -> None:
    # A JSON grammar cannot start mid-document: the caller gets the interruption.
    configure(sims[0], inter_token_s=0.2)
    pool = tier(sims[:2], strategy="round_robin", max_tokens=64)
    pool.strategy = type(pool.strategy)()
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    stream = pool.stream(
        MESSAGES,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    received: list[str] = []
    with pytest.raises(StreamInterrupted):
        async for token in stream:
            received.append(token)
            if len(received) == 1:
                sims[0].kill()
    await pool.aclose()


async def test_structured_output_through_the_pool(sims: list[SimulatorProcess]) -> None:
    pool = tier(sims, max_tokens=64)
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    generation = await pool.ainvoke(
        MESSAGES,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    value = json.loads(generation.text)
    assert set(value) == {"city", "population"} and isinstance(value["population"], int)
    await pool.aclose()


def test_bad_pool_config_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one replica"):
        ModelTier("large", [], model="m", context_window=10)
    with pytest.raises(ValueError, match="positive weight"):
        ModelTier("large", ["http://a/v1"], model="m", context_window=10, weights=[-1])


class TooManyRequests:
    """A real HTTP server that answers every chat call with 429 and Retry-After: 30."""

    def __init__(self) -> None:
        self.hits = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"

    async def __call__(self, scope: dict, receive: object, send: object) -> None:  # ASGI
        if scope["type"] != "http":
            return
        self.hits += 1
        body = b'{"object":"error","message":"busy","type":"RateLimitError","code":429}'
        await send(  # type: ignore[operator]
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", b"30")],
            }
        )
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]


async def test_a_429_rests_that_replica_for_its_retry_after(sims: list[SimulatorProcess]) -> None:
    busy = TooManyRequests()
    server = uvicorn.Server(uvicorn.Config(busy, port=busy.port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        pool = ModelTier(
            "large",
            [busy.url, sims[0].openai_url],
            model="sim-model",
            context_window=4096,
            max_tokens=8,
            strategy="round_robin",
        )
        for _ in range(6):
            assert (await pool.ainvoke(MESSAGES)).replica == sims[0].openai_url
        assert busy.hits == 1  # rested for 30 s after its first 429, never asked again
        assert pool.replicas[0].cooling_until - time.monotonic() > 25
        assert pool.replicas[0].state is BreakerState.CLOSED  # busy is not broken
        await pool.aclose()
    finally:
        server.should_exit = True
        thread.join(timeout=5)


class Recorder(BaseCallbackHandler):
    """What a tracing callback (Langfuse's, LangSmith's) is told about each model call."""

    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []
        self.tokens: list[str] = []
        self.ends: list[LLMResult] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[Any]], **kwargs: Any
    ) -> None:
        self.starts.append(kwargs)

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.ends.append(response)


async def test_the_pool_is_a_langchain_chat_model(sims: list[SimulatorProcess]) -> None:
    pool = tier(sims, strategy="affinity", cost_per_1k_input=1.0, cost_per_1k_output=2.0)
    model = PoolChatModel(tier=pool)
    seen = Recorder()
    reply = await model.ainvoke(
        MESSAGES,
        config={"callbacks": [seen], "tags": ["degraded"], "metadata": {"interlock_tier": "x"}},
        affinity_key="thread-1",
    )
    assert isinstance(reply, AIMessage) and reply.content.startswith("token0")
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] == 8
    meta = reply.response_metadata
    assert meta["tier"] == "large" and meta["replica"] in pool.urls
    assert meta["usage_source"] == "server" and meta["cost"] > 0
    # The callback sees a generation with its tags, metadata, model name and usage.
    assert seen.starts[0]["tags"] == ["degraded"]
    assert seen.starts[0]["metadata"]["interlock_tier"] == "x"
    assert seen.starts[0]["invocation_params"]["model_name"] == "sim-model"
    assert seen.ends[0].generations[0][0].message.usage_metadata["output_tokens"] == 8  # type: ignore[attr-defined]
    # Affinity through the chat model's call options.
    again = await model.ainvoke(MESSAGES, affinity_key="thread-1")
    assert again.response_metadata["replica"] == meta["replica"]

    # Streaming: tokens reach the callback one by one; the last chunk carries usage.
    chunks = [c async for c in model.astream(MESSAGES, config={"callbacks": [seen]})]
    text = "".join(str(c.content) for c in chunks)
    assert text.split() == [f"token{i}" for i in range(8)]
    assert len(seen.tokens) >= 8
    assert chunks[-1].usage_metadata is not None
    assert chunks[-1].response_metadata["ttft_s"] is not None

    # Structured output by the server's guided decoding.
    class City(BaseModel):
        city: str
        population: int

    parsed = await model.bind(max_tokens=64).with_structured_output(City).ainvoke(MESSAGES)
    assert isinstance(parsed, City)
    # Per-replica accounting for metrics and readiness reports.
    snapshot = pool.snapshot()["replicas"]
    assert sum(r["output_tokens"] for r in snapshot) >= 24
    assert sum(r["cost"] for r in snapshot) > 0
    await pool.aclose()


async def test_the_probe_reads_health_and_models(sims: list[SimulatorProcess]) -> None:
    pool = tier(sims[:2], model="another-model")
    configure(sims[1], mode="error")  # vLLM's dead engine: /health answers 503
    await pool.probe()
    alive, dead = pool.replicas
    assert alive.probe_ok and "not 'another-model'" in alive.probe_note
    assert not dead.probe_ok and dead.probe_note == "/health 503"
    assert [r["usable"] for r in pool.snapshot()["replicas"]] == [True, False]
    await pool.aclose()


def test_the_chat_model_works_from_sync_code(sims: list[SimulatorProcess]) -> None:
    pool = tier(sims)
    reply = PoolChatModel(tier=pool).invoke("hello there")
    assert str(reply.content).startswith("token0")
    assert sum(r.served for r in pool.replicas) == 1  # the shared replicas saw the call


async def test_usage_is_counted_by_the_server_tokenizer_when_not_reported(
    sims: list[SimulatorProcess],
) -> None:
    configure(sims[0], report_usage=False, output_tokens=6)
    pool = tier(sims[:1], max_tokens=6)
    generation = await pool.ainvoke(MESSAGES)
    assert generation.usage_source == "tokenizer"
    assert generation.usage["output_tokens"] == 6  # one simulator token per word
    assert generation.usage["input_tokens"] >= 2
    stream = pool.stream(MESSAGES)
    _ = [t async for t in stream]
    assert stream.generation is not None and stream.generation.usage_source == "tokenizer"
    await pool.aclose()
    # A server without /tokenize either: a stated estimate, never zero.
    dead = ModelTier("small", [f"http://127.0.0.1:{free_port()}/v1"], model="m", context_window=9)
    usage, source = await dead._usage(None, dead.replicas[0], MESSAGES, "four words of text")
    assert source == "estimate" and usage["output_tokens"] >= 4
    await dead.aclose()
