"""Langfuse tracing, end to end: `interlock serve` with the real Langfuse SDK pointed at a
local capture of the Langfuse API, asserting on the OTLP spans and scores it receives.

One server process for the whole module (the capture's mode changes between tests)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx_sse
import pytest

from interlock.embedded.model_server import LlamaServer
from interlock.tracing import trace_id_for
from tests.e2e.langfuse_capture import PROJECT_ID, Capture, CapturedSpan, serve
from tests.e2e.servers import ServerProcess, drop_prefix, interlock_env

# The agent graph's nodes in the order a plain lookup runs them (others may interleave).
NODE_ORDER = ["guard_in", "planner", "route", "generate", "check", "guard_out"]
CONTACT = "jane.doe@zorblax.example"
PHONE = "415-555-0134"
DOC = (
    "# Zorblax support desk\n\nThe Zorblax support desk is run by Jane Doe. "
    f"Write to {CONTACT} or call {PHONE}. The desk answers within two hours on weekdays."
)


@pytest.fixture(scope="module")
def capture() -> Iterator[tuple[Capture, str]]:
    state = Capture()
    server, url = serve(state)
    yield state, url
    state.release.set()
    server.shutdown()


@pytest.fixture(scope="module")
def traced(
    capture: tuple[Capture, str],
    redis_url: str,
    llama: LlamaServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    _, url = capture
    tmp = tmp_path_factory.mktemp("traced")
    prefix = f"test-lf-{int(time.time() * 1000)}"
    env = {
        **interlock_env(redis_url, prefix, tmp, llama.openai_url),
        # Langfuse's own variable names, as a deployment already using Langfuse sets them.
        "LANGFUSE_PUBLIC_KEY": "pk-lf-test",
        "LANGFUSE_SECRET_KEY": "sk-lf-test",
        "LANGFUSE_HOST": url,
        "LANGFUSE_FLUSH_INTERVAL": "0.2",
        # Long: an export made on the request path would hold a request this long when the
        # capture hangs, which the hang test would see.
        "LANGFUSE_TIMEOUT": "60",
    }
    proc = ServerProcess(env, tmp / "server.log").start()
    ingest = httpx.post(
        f"{proc.url}/v1/knowledge/documents",
        json={"documents": [{"source": "zorblax/support.md", "content": DOC}]},
        timeout=60,
    )
    assert ingest.status_code == 200, ingest.text
    yield proc
    proc.stop()
    drop_prefix(redis_url, prefix)


def _ask(server: ServerProcess, question: str, **body: object) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/agent/invoke", json={"question": question, **body}, timeout=180
    )


def _node_spans(spans: list[CapturedSpan], root: CapturedSpan) -> list[CapturedSpan]:
    return sorted((s for s in spans if s.parent_id == root.span_id), key=lambda s: s.start_ns)


def test_a_run_is_one_trace_with_a_span_per_node_generations_retrievals_and_scores(
    traced: ServerProcess, capture: tuple[Capture, str]
) -> None:
    state, _ = capture
    state.mode = "ok"
    response = _ask(
        traced, "Who runs the Zorblax support desk?", thread_id=None, user_id="tracer-1"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    trace_id = body["trace_id"]
    assert trace_id == trace_id_for(body["run_id"]) and len(trace_id) == 32
    assert response.headers["x-interlock-trace-id"] == trace_id

    # The graph's root span ends last; wait for it, then for the scores.
    state.wait_for(lambda: any(s.name == "interlock-agent" for s in state.trace(trace_id)))
    state.wait_for(lambda: len(state.scores_of(trace_id)) >= 3)
    spans = state.trace(trace_id)
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_id not in ids]
    assert len(roots) == 1, [s.name for s in roots]
    root = roots[0]
    assert root.name == "interlock-agent"
    assert root.attributes["session.id"] == body["thread_id"]
    assert root.attributes["user.id"] == "tracer-1"
    tags = root.attributes["langfuse.trace.tags"]
    assert "tenant:default" in tags and "graph:interlock-agent" in tags
    assert f"route:{body['route']['tier']}" in tags

    # One span per node, in the order they ran, matching the response's timings.
    nodes = [s.name for s in _node_spans(spans, root)]
    assert [n for n in nodes if n in NODE_ORDER] == [n for n in NODE_ORDER if n in nodes]
    assert {"guard_in", "route", "generate", "check", "guard_out"} <= set(nodes)
    assert set(nodes) == set(body["timings_ms"]), (nodes, body["timings_ms"])

    # Each model call is a generation with model, usage, cost and time to first token.
    generations = [s for s in spans if s.type == "generation"]
    assert generations, [(s.name, s.type) for s in spans]
    answer_call = next(g for g in generations if node_of(spans, g, root).name == "generate")
    usage = answer_call.json_attr("langfuse.observation.usage_details")
    assert usage["input"] > 0 and usage["output"] > 0
    assert "total" in answer_call.json_attr("langfuse.observation.cost_details")
    assert answer_call.attributes["langfuse.observation.model.name"]
    parameters = answer_call.json_attr("langfuse.observation.model.parameters")
    assert {"temperature", "max_tokens"} <= set(parameters), parameters
    assert answer_call.json_attr("langfuse.observation.metadata.tier") in ("small", "large")

    # Each retrieval is a retriever observation with the chunk ids and scores.
    retrievals = [s for s in spans if s.type == "retriever"]
    assert retrievals
    chunks = [d for r in retrievals for d in r.json_attr("langfuse.observation.output")]
    assert chunks and all(d["id"] and "score" in d["metadata"] for d in chunks)
    assert any(d["metadata"]["source"] == "zorblax/support.md" for d in chunks)

    # The contact details were in the retrieved text, but no span holds them raw.
    raw = json.dumps([s.attributes for s in spans])
    assert CONTACT not in raw and PHONE not in raw
    assert "Zorblax support desk" in raw  # the text itself is there, redacted

    # The check, the guards and the route as scores on the trace.
    scores = {s["name"]: s for s in state.scores_of(trace_id)}
    assert scores["hallucination_check"]["value"] == pytest.approx(body["check"]["score"])
    assert scores["hallucination_check"]["dataType"] == "NUMERIC"
    assert scores["guard_input"]["value"] == "passed"
    assert scores["guard_output"]["value"] in ("passed", "redacted")
    assert scores["route"]["value"] == body["route"]["tier"]
    assert scores["route"]["dataType"] == "CATEGORICAL"


def node_of(spans: list[CapturedSpan], span: CapturedSpan, root: CapturedSpan) -> CapturedSpan:
    """The graph node a span ran in: its ancestor just below the root."""
    by_id = {s.span_id: s for s in spans}
    while span.parent_id and span.parent_id != root.span_id:
        span = by_id[span.parent_id]
    return span


def test_streams_and_the_openai_api_carry_the_trace_id(
    traced: ServerProcess, capture: tuple[Capture, str]
) -> None:
    state, _ = capture
    state.mode = "ok"
    with httpx.Client(timeout=180) as client:
        with httpx_sse.connect_sse(
            client,
            "POST",
            f"{traced.url}/v1/agent/stream",
            json={"question": "When does the Zorblax desk answer?"},
        ) as source:
            header = source.response.headers["x-interlock-trace-id"]
            events = [(e.event, json.loads(e.data)) for e in source.iter_sse()]
        assert events[0][0] == "run" and events[0][1]["trace_id"] == header
        assert events[-1][0] == "result" and events[-1][1]["trace_id"] == header
        chat = client.post(
            f"{traced.url}/v1/chat/completions",
            json={"model": "interlock-agent", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert chat.status_code == 200, chat.text
        assert len(chat.headers["x-interlock-trace-id"]) == 32
    state.wait_for(lambda: any(s.name == "interlock-agent" for s in state.trace(header)))
    # A streamed model call has its time to first token (Langfuse's completion start).
    streamed = [s for s in state.trace(header) if s.type == "generation"]
    assert any(s.attributes.get("langfuse.observation.completion_start_time") for s in streamed)


@pytest.mark.parametrize("mode", ["hang", "error"])
def test_a_hanging_or_failing_langfuse_costs_the_request_nothing(
    traced: ServerProcess, capture: tuple[Capture, str], mode: str
) -> None:
    state, _ = capture
    state.release.clear()
    before = len(state.requests)
    state.mode = mode  # type: ignore[assignment]
    try:
        began = time.monotonic()
        response = _ask(traced, "Which port does interlock listen on by default?")
        took = time.monotonic() - began
        assert response.status_code == 200, response.text
        assert took < 45, f"{took:.0f}s: the request waited on Langfuse (timeout 60s)"
        assert response.json()["answer"] and response.json()["trace_id"]
        # The SDK did try to send this run (and was held or refused), off the request path.
        state.wait_for(lambda: len(state.requests) > before, timeout_s=30)
        # The server still answers at once while its exporter is stuck.
        assert httpx.get(f"{traced.url}/healthz", timeout=2).status_code == 200
    finally:
        state.mode = "ok"
        state.release.set()


def test_traces_cli_prints_the_tree_and_the_langfuse_url(
    traced: ServerProcess, capture: tuple[Capture, str], tmp_path: Path
) -> None:
    state, url = capture
    state.mode = "ok"
    body = _ask(traced, "Whom do I write to at the Zorblax desk?", no_cache=True).json()
    env = {
        k: v
        for k, v in traced.env.items()
        if k.startswith(("INTERLOCK_REDIS", "LANGFUSE_", "PATH", "HOME", "PYTHON", "VIRTUAL"))
    }

    def traces(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "interlock.cli", "traces", *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )

    shown = traces(body["run_id"])  # a run id finds its trace
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert body["trace_id"] in out and "status ok" in out
    for node in ("guard_in", "route", "generate", "check"):
        assert f"  {node}" in out
    assert "└ generation" in out and "└ retriever" in out and "tokens" in out
    assert "hallucination_check" in out and "route " + body["route"]["tier"] in out
    assert f"langfuse: {url}/project/{PROJECT_ID}/traces/{body['trace_id']}" in out

    listing = traces()
    assert listing.returncode == 0 and body["trace_id"] in listing.stdout

    as_json = json.loads(traces(body["trace_id"], "--json").stdout)
    assert as_json["run_id"] == body["run_id"] and as_json["spans"]

    state.mode = "error"
    try:
        down = traces(body["trace_id"])
    finally:
        state.mode = "ok"
    assert down.returncode == 0 and "not reachable" in down.stdout and "generate" in down.stdout

    missing = traces("no-such-run", LANGFUSE_PUBLIC_KEY="", LANGFUSE_SECRET_KEY="")
    assert missing.returncode == 1 and "no local record" in missing.stdout
    assert "not configured" in missing.stdout and "Traceback" not in missing.stderr
