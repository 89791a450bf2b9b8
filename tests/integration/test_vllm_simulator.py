"""The vLLM protocol simulator, driven by the clients interlock really uses.

Why these tests: the model-pool failover tests and load benchmarks trust the simulator
to answer like ``vllm serve`` and to fail the way a real replica fails. So the checks
go through the real ``openai`` client (sync and async) and langchain-openai's
``ChatOpenAI``, against a real child process, and the faults are real: a 500, a hang
that only a client timeout ends, a SIGKILL, an ``os._exit`` crash.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import asdict

import httpx
import jsonschema
import openai
import pytest
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel, SecretStr

from interlock.testing.vllm_simulator import (
    REPLICA_HEADER,
    SimulatorConfig,
    SimulatorProcess,
    minimal_json,
)

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello there, simulator"}]
FILLER_16 = " ".join(f"token{i}" for i in range(16))


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorProcess]:
    with SimulatorProcess(replica_id="t0") as process:
        yield process


@pytest.fixture(autouse=True)
def _fresh_config(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts from the default config, whatever the previous one patched."""
    yield
    if "sim" in request.fixturenames:
        process: SimulatorProcess = request.getfixturevalue("sim")
        process.configure(**asdict(SimulatorConfig(replica_id="t0")))


def client(sim: SimulatorProcess, timeout: float = 10.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.openai_url, api_key="x", max_retries=0, timeout=timeout)


def scrape(sim: SimulatorProcess) -> dict[str, float]:
    """``/metrics`` as {series: value}, series being the name with its labels."""
    text = httpx.get(f"{sim.url}/metrics", timeout=5).text
    series = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            series[name] = float(value)
    return series


def series(sim: SimulatorProcess, name: str, **labels: str) -> str:
    extra = "".join(f',{k}="{v}"' for k, v in labels.items())
    return f'{name}{{model_name="{sim.config.model}",engine="0"{extra}}}'


# -- the protocol -------------------------------------------------------------------------
def test_non_streaming_answer_has_vllms_shape(sim: SimulatorProcess) -> None:
    raw = client(sim).chat.completions.with_raw_response.create(
        model="sim-model", messages=MESSAGES
    )
    assert raw.headers[REPLICA_HEADER] == "t0"
    completion = raw.parse()
    assert completion.id.startswith("chatcmpl-") and completion.object == "chat.completion"
    assert completion.model == "sim-model" and completion.created > 0
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content == FILLER_16
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == round(3 * 1.3)  # three words
    assert completion.usage.completion_tokens == 16
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 16
    body = httpx.post(
        f"{sim.openai_url}/chat/completions", json={"messages": MESSAGES}, timeout=5
    ).json()
    assert set(body) >= {"id", "object", "created", "model", "choices", "usage"}
    assert body["choices"][0]["stop_reason"] is None  # vLLM's extra field


def test_max_tokens_and_max_completion_tokens_cap_the_output(sim: SimulatorProcess) -> None:
    api = client(sim)
    capped = api.chat.completions.create(model="sim-model", messages=MESSAGES, max_tokens=5)
    assert capped.choices[0].message.content == "token0 token1 token2 token3 token4"
    assert capped.choices[0].finish_reason == "length"
    assert capped.usage is not None and capped.usage.completion_tokens == 5
    newer = api.chat.completions.create(
        model="sim-model", messages=MESSAGES, max_completion_tokens=3
    )
    assert len((newer.choices[0].message.content or "").split()) == 3
    roomy = api.chat.completions.create(model="sim-model", messages=MESSAGES, max_tokens=100)
    assert roomy.choices[0].finish_reason == "stop"  # the answer ended before the cap


async def test_streaming_chunks_usage_and_done(sim: SimulatorProcess) -> None:
    async with openai.AsyncOpenAI(base_url=sim.openai_url, api_key="x", max_retries=0) as api:
        stream = await api.chat.completions.create(
            model="sim-model",
            messages=MESSAGES,
            max_tokens=6,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    content = [c.choices[0].delta.content for c in chunks[1:] if c.choices]
    assert content == ["token0", " token1", " token2", " token3", " token4", " token5"]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "length" and all(f is None for f in finishes[:-1])
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == 6
    # On the wire: SSE ``data:`` lines ending in ``data: [DONE]``; no usage unless asked.
    with httpx.stream(
        "POST",
        f"{sim.openai_url}/chat/completions",
        json={"messages": MESSAGES, "stream": True, "max_tokens": 2},
        timeout=5,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"
    payloads = [json.loads(line[6:]) for line in lines[:-1]]
    assert len(payloads) == 3 and all("usage" not in p for p in payloads)


def test_json_schema_response_format_yields_schema_valid_json(sim: SimulatorProcess) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 5},
            "population": {"type": "integer", "minimum": 1},
            "ratio": {"type": "number"},
            "capital": {"type": "boolean"},
            "districts": {"type": "array", "items": {"$ref": "#/$defs/district"}},
            "kind": {"enum": ["town", "city"]},
            "mayor": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/district"}]},
            "optional": {"type": "string"},
        },
        "required": ["city", "population", "ratio", "capital", "districts", "kind", "mayor"],
        "$defs": {
            "district": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
            }
        },
        "additionalProperties": False,
    }
    completion = client(sim).chat.completions.create(
        model="sim-model",
        messages=MESSAGES,
        max_tokens=200,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    )
    value = json.loads(completion.choices[0].message.content or "")
    jsonschema.validate(value, schema)
    assert "optional" not in value and value["districts"] == [] and value["capital"] is False
    assert value["mayor"] == {"name": "sim"}
    plain = client(sim).chat.completions.create(
        model="sim-model", messages=MESSAGES, response_format={"type": "json_object"}
    )
    assert json.loads(plain.choices[0].message.content or "") == {}
    assert minimal_json({"type": "integer", "exclusiveMinimum": 2, "multipleOf": 5}) == 5


class City(BaseModel):
    name: str
    population: int
    coastal: bool


def test_langchain_chat_openai_invoke_stream_and_structured_output(
    sim: SimulatorProcess,
) -> None:
    key = SecretStr("x")
    chat = ChatOpenAI(base_url=sim.openai_url, api_key=key, model="sim-model", max_retries=0)
    answer = chat.invoke("hello there")
    assert answer.content == FILLER_16
    assert answer.response_metadata["finish_reason"] == "stop"
    assert answer.usage_metadata is not None and answer.usage_metadata["output_tokens"] == 16
    streamed = ChatOpenAI(
        base_url=sim.openai_url,
        api_key=key,
        model="sim-model",
        max_retries=0,
        stream_usage=True,
    )
    chunks = list(streamed.stream("hello there", max_tokens=4))
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole += chunk
    assert whole.content == "token0 token1 token2 token3"
    assert whole.usage_metadata is not None and whole.usage_metadata["output_tokens"] == 4
    city = chat.with_structured_output(City, method="json_schema").invoke("a city")
    assert city == City(name="sim", population=0, coastal=False)


def test_invalid_requests_get_vllms_errors(sim: SimulatorProcess) -> None:
    api = client(sim)
    with pytest.raises(openai.BadRequestError) as many:
        api.chat.completions.create(model="sim-model", messages=MESSAGES, n=2)
    assert many.value.body == {
        "message": "The simulator supports n=1 only, got n=2.",
        "type": "BadRequestError",
        "param": "n",
        "code": 400,
    }
    # 4000 words -> 5200 prompt tokens, over max_model_len 4096
    long: list[ChatCompletionMessageParam] = [{"role": "user", "content": "word " * 4000}]
    with pytest.raises(openai.BadRequestError, match="maximum context length is 4096 tokens"):
        api.chat.completions.create(model="sim-model", messages=long)
    raw = httpx.post(f"{sim.openai_url}/chat/completions", json={"messages": long}, timeout=5)
    assert raw.status_code == 400
    assert raw.json()["error"]["message"] == (
        "This model's maximum context length is 4096 tokens. However, your request has "
        "5200 input tokens. Please reduce the length of the input messages."
    )
    with pytest.raises(openai.BadRequestError, match="'max_tokens' or 'max_completion_tokens'"):
        api.chat.completions.create(model="sim-model", messages=MESSAGES, max_tokens=5000)
    with pytest.raises(openai.NotFoundError, match="The model `other` does not exist"):
        api.chat.completions.create(model="other", messages=MESSAGES)
    assert sim.stats()["rejected"] >= 5


def test_models_health_and_metrics(sim: SimulatorProcess) -> None:
    models = httpx.get(f"{sim.openai_url}/models", timeout=5).json()
    assert models["object"] == "list"
    card = models["data"][0]
    assert card["id"] == card["root"] == "sim-model" and card["owned_by"] == "vllm"
    assert card["max_model_len"] == 4096 and card["parent"] is None
    assert card["permission"][0]["object"] == "model_permission"
    assert card["simulator_replica"] == "t0"
    assert [m.id for m in client(sim).models.list()] == ["sim-model"]
    health = httpx.get(f"{sim.url}/health", timeout=5)
    assert health.status_code == 200 and health.content == b""
    before = scrape(sim)
    for name in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
    ):
        assert series(sim, name) in before
    for name in ("vllm:time_to_first_token_seconds", "vllm:e2e_request_latency_seconds"):
        assert series(sim, f"{name}_bucket", le="+Inf") in before
        assert series(sim, f"{name}_count") in before and series(sim, f"{name}_sum") in before
    client(sim).chat.completions.create(model="sim-model", messages=MESSAGES, max_tokens=4)
    after = scrape(sim)

    def grew(name: str, **labels: str) -> float:
        key = series(sim, name, **labels)
        return after[key] - before[key]

    assert grew("vllm:prompt_tokens_total") == 4
    assert grew("vllm:generation_tokens_total") == 4
    assert grew("vllm:request_success_total", finished_reason="length") == 1
    assert grew("vllm:time_to_first_token_seconds_count") == 1
    assert grew("vllm:e2e_request_latency_seconds_count") == 1


# -- faults ---------------------------------------------------------------------------------
def test_error_rate_one_answers_500(sim: SimulatorProcess) -> None:
    sim.configure(error_rate=1.0)
    with pytest.raises(openai.InternalServerError) as info:
        client(sim).chat.completions.create(model="sim-model", messages=MESSAGES)
    assert info.value.status_code == 500
    assert info.value.body == {
        "message": "Internal server error",
        "type": "InternalServerError",
        "param": None,
        "code": 500,
    }
    assert sim.stats()["errors"] >= 1
    assert httpx.get(f"{sim.url}/health", timeout=5).status_code == 200  # only chat fails
    sim.configure(error_rate=0.0, mode="error")
    with pytest.raises(openai.InternalServerError):
        client(sim).chat.completions.create(model="sim-model", messages=MESSAGES)
    assert httpx.get(f"{sim.url}/health", timeout=5).status_code == 503  # vLLM: engine dead


def test_hang_mode_is_ended_only_by_the_client_timeout(sim: SimulatorProcess) -> None:
    sim.configure(mode="hang")
    began = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client(sim, timeout=0.3).chat.completions.create(model="sim-model", messages=MESSAGES)
    assert 0.3 <= time.monotonic() - began < 1.5
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{sim.url}/health", timeout=0.3)
    deadline = time.monotonic() + 2
    while sim.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.stats()["in_flight"] == 0  # the hung request ended when its client left


def test_a_client_that_disconnects_mid_stream_stops_generation(sim: SimulatorProcess) -> None:
    sim.configure(inter_token_s=0.05, output_tokens=200)
    aborted = sim.stats()["aborted"]
    stream = client(sim).chat.completions.create(model="sim-model", messages=MESSAGES, stream=True)
    for received, _ in enumerate(stream, start=1):
        if received == 3:
            break
    stream.close()
    time.sleep(0.3)
    stats = sim.stats()
    assert stats["in_flight"] == 0 and stats["aborted"] == aborted + 1
    generated = scrape(sim)[series(sim, "vllm:generation_tokens_total")]
    time.sleep(0.2)
    assert scrape(sim)[series(sim, "vllm:generation_tokens_total")] == generated


async def test_requests_beyond_max_num_seqs_wait(sim: SimulatorProcess) -> None:
    sim.configure(max_num_seqs=2, ttft_s=0.2, output_tokens=1)
    async with openai.AsyncOpenAI(base_url=sim.openai_url, api_key="x", max_retries=0) as api:
        calls = [
            asyncio.create_task(api.chat.completions.create(model="sim-model", messages=MESSAGES))
            for _ in range(5)
        ]
        await asyncio.sleep(0.1)
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"{sim.url}/metrics")).text
        await asyncio.gather(*calls)
    assert f"{series(sim, 'vllm:num_requests_running')} 2.0" in text
    assert f"{series(sim, 'vllm:num_requests_waiting')} 3.0" in text


def first_token_s(sim: SimulatorProcess) -> float:
    """Seconds from sending a streaming request to its first content token."""
    api = client(sim)
    began = time.perf_counter()
    stream = api.chat.completions.create(
        model="sim-model", messages=MESSAGES, stream=True, max_tokens=2
    )
    ttft = 0.0
    for chunk in stream:
        if not ttft and chunk.choices and chunk.choices[0].delta.content:
            ttft = time.perf_counter() - began
    return ttft


def test_runtime_config_patch_changes_ttft_and_ttft_accuracy(sim: SimulatorProcess) -> None:
    first_token_s(sim)  # warm the connection path
    print("\nTTFT accuracy (set -> measured through the openai client, median of 5):")
    measured: dict[float, float] = {}
    for target, patch in [
        (0.02, {}),
        (0.1, {"ttft_s": 0.1}),
        (0.25, {"ttft_s": 0.25}),
        (0.5, {"ttft_s": 0.1, "slowdown": 5.0}),
    ]:
        sim.configure(**{"ttft_s": 0.02, "slowdown": 1.0, **patch})
        samples = sorted(first_token_s(sim) for _ in range(5))
        measured[target] = samples[2]
        error_ms = (samples[2] - target) * 1000
        low, high = samples[0] * 1000, samples[-1] * 1000
        print(
            f"  set {target * 1000:6.1f} ms  measured {samples[2] * 1000:6.1f} ms  "
            f"(+{error_ms:.1f} ms; min {low:.1f}, max {high:.1f})"
        )
    for target, value in measured.items():
        assert target * 0.95 <= value < target + 0.2, (target, value)
    assert measured[0.25] > measured[0.02] + 0.15  # the patch took effect at once


# -- process deaths -------------------------------------------------------------------------
def test_kill_restart_and_die() -> None:
    replica = SimulatorProcess(replica_id="k", output_tokens=2).start()
    try:
        api = client(replica)
        assert api.chat.completions.create(model="sim-model", messages=MESSAGES).choices
        first_pid = replica.pid
        replica.kill()
        assert not replica.alive() and replica.returncode == -9
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{replica.url}/health", timeout=2)
        with pytest.raises(openai.APIConnectionError):
            api.chat.completions.create(model="sim-model", messages=MESSAGES)
        port = replica.port
        replica.restart()
        assert replica.port == port and replica.pid != first_pid
        raw = api.chat.completions.with_raw_response.create(model="sim-model", messages=MESSAGES)
        assert raw.headers[REPLICA_HEADER] == "k"
        assert raw.parse().choices[0].message.content == "token0 token1"
        # /_simulator/die: the process crashes (exit code 1), no graceful shutdown.
        answer = httpx.post(f"{replica.url}/_simulator/die", timeout=2)
        assert answer.status_code == 200 and answer.json()["pid"] == replica.pid
        deadline = time.monotonic() + 5
        while replica.alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert replica.returncode == 1
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{replica.url}/health", timeout=2)
    finally:
        replica.stop()


def test_a_bad_config_patch_is_refused(sim: SimulatorProcess) -> None:
    for patch in ({"mode": "slow"}, {"ttft_s": -1}, {"no_such_field": 1}, {"output_tokens": "x"}):
        response = httpx.post(f"{sim.url}/_simulator/config", json=patch, timeout=5)
        assert response.status_code == 400, patch
        assert response.json()["error"]["type"] == "BadRequestError"
    current = sim.configure(slowdown=2)
    assert current["slowdown"] == 2.0 and current["replica_id"] == "t0"
