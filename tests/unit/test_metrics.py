"""Metrics: what a run, a request and the pool turn into, read back from the registry."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import StreamingResponse
from prometheus_client.parser import text_string_to_metric_families

from interlock.agent import AgentResult
from interlock.metrics import Metrics, RunTracker
from interlock.models.breaker import BreakerPolicy
from interlock.models.tier import ModelTier
from interlock.server.http_metrics import HTTPMetrics
from interlock.server.limits import BodySizeLimit
from interlock.tracing import CACHE_EVENT, ModelCall, NodeTimer, emit

ROOT = Path(__file__).resolve().parents[2]


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def result(**overrides: Any) -> AgentResult:
    fields: dict[str, Any] = {
        "thread_id": "t-1",
        "run_id": "r-1",
        "answer": "Port 8000 [1].",
        "citations": [],
        "route": {"tier": "large", "score": 0.8, "reason": "difficulty", "degraded": True},
        "check": {"verdict": "unsupported", "score": 0.2},
        "guards": [
            {
                "stage": "input",
                "allowed": True,
                "redacted": True,
                "triggered": ["interlock/pii"],
                "reasons": ["PII redacted: email"],
            },
            {"stage": "output", "allowed": True, "redacted": False, "triggered": [], "reasons": []},
        ],
        "usage": {"calls": 2, "input_tokens": 30, "output_tokens": 12, "cost": 0.01},
        "timings_ms": {"guard_in": 3.0, "generate": 250.0},
        "plan": {"kind": "lookup", "needs_retrieval": True, "sub_queries": ["q"]},
        "fallbacks": [
            "escalate: the answer was not supported on small, trying large",
            "honest: the answer was not supported and nothing else is left to try",
            "give up: the model failed and nothing else can answer",
            "something new: a path this module does not know",
        ],
    }
    fields.update(overrides)
    return AgentResult(**fields)


def test_observe_result_counts_what_the_run_decided() -> None:
    metrics = Metrics()
    metrics.observe_result(result(), graph="g")
    assert value(metrics, "interlock_runs_total", graph="g", outcome="ok") == 1
    assert (
        value(
            metrics, "interlock_route_decisions_total", tier="large", kind="lookup", degraded="true"
        )
        == 1
    )
    assert value(metrics, "interlock_guard_verdicts_total", guard="input", action="redact") == 1
    assert value(metrics, "interlock_guard_verdicts_total", guard="output", action="pass") == 1
    assert (
        value(metrics, "interlock_guard_triggers_total", guard="input", validator="interlock/pii")
        == 1
    )
    assert value(metrics, "interlock_check_verdicts_total", verdict="fail") == 1
    for path in ("escalate", "honest", "give_up", "other"):
        assert value(metrics, "interlock_fallbacks_total", path=path) == 1, path


def test_the_router_decision_counts_not_the_escalated_route() -> None:
    metrics = Metrics()
    timer = NodeTimer()
    timer.first_route = {"tier": "small", "score": 0.2, "reason": "difficulty"}
    tracker = RunTracker(metrics, "g", timer)
    tracker.finish(result())  # its route: large, after the escalation
    tracker.close()
    decisions = "interlock_route_decisions_total"
    assert value(metrics, decisions, tier="small", kind="lookup", degraded="false") == 1
    assert value(metrics, decisions, tier="large", kind="lookup", degraded="true") is None


async def test_the_timer_keeps_the_first_route_and_the_cache_events_of_a_graph_run() -> None:
    from typing import TypedDict

    from langchain_core.runnables import RunnableConfig
    from langgraph.graph import END, START, StateGraph

    class State(TypedDict, total=False):
        route: dict[str, Any]

    async def cache(state: State, config: RunnableConfig) -> State:
        await emit(CACHE_EVENT, {"exact": "miss", "semantic": "hit"}, config)
        return {}

    def route(state: State) -> State:
        return {"route": {"tier": "small"}}

    def fallback(state: State) -> State:
        return {"route": {"tier": "large"}}

    graph = StateGraph(State)
    for name, node in (("cache", cache), ("route", route), ("fallback", fallback)):
        graph.add_node(name, node)
    graph.add_edge(START, "cache")
    graph.add_edge("cache", "route")
    graph.add_edge("route", "fallback")
    graph.add_edge("fallback", END)
    timer = NodeTimer()
    final = await graph.compile().ainvoke({}, config={"callbacks": [timer]})
    assert final["route"] == {"tier": "large"}
    assert timer.first_route == {"tier": "small"}
    assert timer.cache_lookups == [("exact", "miss"), ("semantic", "hit")]
    assert list(timer.report()) == ["cache", "route", "fallback"]
    await emit(CACHE_EVENT, {"exact": "hit"}, None)  # outside a run: nobody to tell, no error


def test_a_refused_run_counts_the_refusal_and_no_check_verdict() -> None:
    metrics = Metrics()
    refusal = {
        "stage": "input",
        "allowed": False,
        "redacted": False,
        "triggered": ["interlock/prompt_injection"],
        "reasons": ["the message looks like a prompt-injection attempt"],
    }
    metrics.observe_result(
        result(refused=True, route=None, check=None, guards=[refusal], fallbacks=[], plan=None)
    )
    assert value(metrics, "interlock_runs_total", graph="interlock-agent", outcome="refused") == 1
    assert value(metrics, "interlock_guard_verdicts_total", guard="input", action="refuse") == 1
    assert value(metrics, "interlock_check_verdicts_total", verdict="skipped") is None
    assert value(metrics, "interlock_runs_total", graph="interlock-agent", outcome="ok") is None


def test_a_cached_answer_has_a_skipped_check_and_a_warning_is_a_warn() -> None:
    metrics = Metrics()
    warned = {
        "stage": "output",
        "allowed": True,
        "redacted": False,
        "triggered": ["interlock/toxicity"],
        "reasons": ["warning: the text may be toxic"],
    }
    metrics.observe_result(result(check=None, route=None, guards=[warned], from_cache=True))
    assert value(metrics, "interlock_check_verdicts_total", verdict="skipped") == 1
    assert value(metrics, "interlock_guard_verdicts_total", guard="output", action="warn") == 1


def timer_with_calls() -> NodeTimer:
    timer = NodeTimer()
    timer.timings_ms.update({"guard_in": 4.0, "generate": 1500.0})
    timer.model_calls += [
        ModelCall(
            tier="small",
            input_tokens=100,
            output_tokens=20,
            cost=0.002,
            latency_s=0.4,
            ttft_s=None,
        ),
        ModelCall(
            tier="large",
            input_tokens=120,
            output_tokens=30,
            cost=0.03,
            latency_s=1.1,
            ttft_s=0.08,
        ),
    ]
    timer.cache_lookups += [("exact", "miss"), ("semantic", "hit")]
    return timer


def test_observe_timer_counts_nodes_tokens_cost_ttft_and_cache_lookups() -> None:
    metrics = Metrics()
    metrics.observe_timer(timer_with_calls(), graph="g")
    node = "interlock_node_duration_seconds"
    assert value(metrics, f"{node}_count", graph="g", node="generate") == 1
    assert value(metrics, f"{node}_sum", graph="g", node="generate") == pytest.approx(1.5)
    assert value(metrics, f"{node}_bucket", graph="g", node="guard_in", le="0.005") == 1
    assert value(metrics, "interlock_model_tokens_total", tier="small", direction="in") == 100
    assert value(metrics, "interlock_model_tokens_total", tier="large", direction="out") == 30
    assert value(metrics, "interlock_model_cost_total", tier="large") == pytest.approx(0.03)
    # Only the streamed call measured a time to first token.
    assert value(metrics, "interlock_model_ttft_seconds_count", tier="large") == 1
    assert value(metrics, "interlock_model_ttft_seconds_count", tier="small") is None
    assert value(metrics, "interlock_model_call_duration_seconds_count", tier="small") == 1
    assert value(metrics, "interlock_cache_lookups_total", cache="exact", result="miss") == 1
    assert value(metrics, "interlock_cache_lookups_total", cache="semantic", result="hit") == 1


def test_a_run_is_in_flight_until_closed_and_an_unfinished_run_is_an_error() -> None:
    metrics = Metrics()
    first = RunTracker(metrics, "g", timer_with_calls())
    second = metrics.track_run("g")
    assert value(metrics, "interlock_inflight_runs") == 2
    first.finish(result())
    first.close()
    first.close()  # closing twice records once
    assert value(metrics, "interlock_inflight_runs") == 1
    second.close()  # no result: an exception, a timeout or a client that left
    assert value(metrics, "interlock_inflight_runs") == 0
    assert value(metrics, "interlock_runs_total", graph="g", outcome="ok") == 1
    assert value(metrics, "interlock_runs_total", graph="g", outcome="error") == 1
    assert value(metrics, "interlock_run_duration_seconds_count", graph="g") == 2
    assert value(metrics, "interlock_node_duration_seconds_count", graph="g", node="generate") == 1
    RunTracker(None, "g").close()  # metrics off: nothing to do, nothing raised


def test_a_broken_observation_is_logged_and_counted_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics()
    broken = result(guards=[{"stage": "input"}])  # a report without its fields
    with caplog.at_level(logging.ERROR, logger="interlock.metrics"):
        metrics.observe_result(broken)
    assert value(metrics, "interlock_metrics_errors_total", where="result") == 1
    assert "observing result failed" in caplog.text and "KeyError" in caplog.text

    def explode(*args: object) -> None:
        raise RuntimeError("instrument broke")

    metrics.run_duration.labels = explode  # type: ignore[method-assign]
    tracker = RunTracker(metrics, "g")
    tracker.finish(result())
    tracker.close()  # must not raise
    assert value(metrics, "interlock_metrics_errors_total", where="run") == 1
    assert value(metrics, "interlock_inflight_runs") == 0  # decremented before the failure
    metrics.http_requests.labels = explode  # type: ignore[method-assign]
    metrics.http_started()
    metrics.http_finished("GET", "/x", 200, 0.01)
    assert value(metrics, "interlock_metrics_errors_total", where="http") == 1


def tiers() -> dict[str, ModelTier]:
    """Replicas that are never called: their breakers are driven by hand."""
    slow_to_heal = BreakerPolicy(failure_threshold=2, cooldown_s=3600)
    healing = BreakerPolicy(failure_threshold=2, cooldown_s=0)
    small = ModelTier(
        "small",
        ["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"],
        model="m",
        context_window=1024,
        breaker=slow_to_heal,
    )
    large = ModelTier(
        "large",
        ["http://vllm:s3cret@127.0.0.1:11/v1"],
        model="m",
        context_window=1024,
        breaker=healing,
    )
    for _ in range(2):
        small.replicas[1].record_failure()  # open, and stays open
        large.replicas[0].record_failure()  # open, cool-down 0: half-open when read
    small.replicas[0].in_flight = 3
    return {"small": small, "large": large}


def test_the_pool_is_read_at_scrape_time() -> None:
    metrics = Metrics()
    pool = tiers()
    metrics.watch_pool(pool)
    a, b = pool["small"].urls
    c = "http://127.0.0.1:11/v1"  # the credentials in its URL stay out of the labels
    state = "interlock_replica_breaker_state"
    assert value(metrics, state, tier="small", replica=a) == 0
    assert value(metrics, state, tier="small", replica=b) == 2
    assert value(metrics, state, tier="large", replica=c) == 1
    assert value(metrics, "interlock_replica_up", tier="small", replica=b) == 0
    assert value(metrics, "interlock_replica_in_flight", tier="small", replica=a) == 3
    assert value(metrics, "interlock_replica_errors_total", tier="large", replica=c) == 2
    pool["small"].replicas[0].in_flight = 0  # read live, at the next scrape
    assert value(metrics, "interlock_replica_in_flight", tier="small", replica=a) == 0
    metrics.watch_pool({"large": pool["large"]})  # replaces, never duplicates
    assert value(metrics, state, tier="small", replica=a) is None
    text, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    assert b"s3cret" not in text
    names = {f.name for f in text_string_to_metric_families(text.decode())}
    assert {"interlock_replica_breaker_state", "interlock_inflight_runs"} <= names
    _, openmetrics = metrics.render("application/openmetrics-text; version=1.0.0")
    assert openmetrics.startswith("application/openmetrics-text")


def http_app(metrics: Metrics) -> FastAPI:
    app = FastAPI()
    app.add_middleware(BodySizeLimit, max_bytes=100)
    app.add_middleware(HTTPMetrics, metrics=metrics, routes=app.routes)

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, float | None]:
        return {"in_flight": value(metrics, "interlock_http_requests_in_flight")}

    @app.post("/items/{item_id}")
    async def post_item(item_id: str, request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("handler failed")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def body() -> Any:
            for part in ("a", "b"):
                await asyncio.sleep(0.05)
                yield part

        return StreamingResponse(body())

    # A router included (after the middleware) under a prefix of its own and one more,
    # and a mounted sub-application.
    router = APIRouter(prefix="/inner")

    @router.post("/runs/{run_id}")
    async def run(run_id: str) -> dict[str, str]:
        return {"run": run_id}

    app.include_router(router, prefix="/api")
    sub = FastAPI()

    @sub.get("/things/{thing}")
    async def thing(thing: str) -> dict[str, str]:
        return {"thing": thing}

    app.mount("/sub", sub)
    return app


async def test_http_requests_are_labelled_by_route_template() -> None:
    metrics = Metrics()
    transport = httpx.ASGITransport(app=http_app(metrics), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for item in ("abc", "def", "thread-9f3e"):
            response = await client.get(f"/items/{item}")
            assert response.json() == {"in_flight": 1.0}
        assert (await client.post("/items/x", content=b"x" * 500)).status_code == 413
        assert (await client.get("/nowhere/at/all")).status_code == 404
        assert (await client.get("/boom")).status_code == 500
        assert (await client.request("BREW", "/items/x")).status_code == 405
        assert (await client.get("/stream")).text == "ab"
        assert (await client.post("/api/inner/runs/run-77")).status_code == 200
        assert (await client.post("/api/inner/runs/run-78", content=b"y" * 500)).status_code == 413
        assert (await client.get("/sub/things/thing-5")).status_code == 200
    requests = "interlock_http_requests_total"
    assert value(metrics, requests, method="GET", route="/items/{item_id}", status="200") == 3
    # Refused by the body limit before routing: still under its template.
    assert value(metrics, requests, method="POST", route="/items/{item_id}", status="413") == 1
    assert value(metrics, requests, method="GET", route="unmatched", status="404") == 1
    assert value(metrics, requests, method="GET", route="/boom", status="500") == 1
    assert value(metrics, requests, method="other", route="/items/{item_id}", status="405") == 1
    duration = "interlock_http_request_duration_seconds"
    assert value(metrics, f"{duration}_count", method="GET", route="/items/{item_id}") == 3
    # A stream is timed to its last byte.
    assert value(metrics, f"{duration}_sum", method="GET", route="/stream") >= 0.1  # type: ignore[operator]
    assert value(metrics, "interlock_http_requests_in_flight") == 0
    runs = {"method": "POST", "route": "/api/inner/runs/{run_id}"}
    assert value(metrics, requests, status="200", **runs) == 1
    assert value(metrics, requests, status="413", **runs) == 1
    assert value(metrics, requests, method="GET", route="/sub/things/{thing}", status="200") == 1
    text = metrics.render()[0].decode()
    for raw in ("thread-9f3e", "abc", "run-77", "run-78", "thing-5"):
        assert raw not in text


MULTIPROCESS_WORKER = textwrap.dedent(
    """
    import os, sys
    from types import SimpleNamespace
    from interlock.metrics import Metrics, RunTracker
    from interlock.models.tier import ModelTier
    from interlock.models.breaker import BreakerPolicy

    metrics = Metrics.from_environment()
    assert metrics.multiprocess_dir, "multiprocess mode expected"
    tier = ModelTier("large", ["http://127.0.0.1:9/v1"], model="m", context_window=64,
                     breaker=BreakerPolicy(failure_threshold=1, cooldown_s=3600))
    if sys.argv[1] == "broken-breaker":
        tier.replicas[0].record_failure()
    metrics.watch_pool({"large": tier})
    # What observe_result reads of an AgentResult (importing the agent takes seconds).
    done = SimpleNamespace(refused=False, route=None, plan=None, guards=[], check=None,
                           fallbacks=[])
    tracker = RunTracker(metrics, "g")
    tracker.finish(done)
    tracker.close()
    RunTracker(metrics, "g")  # a run in flight
    metrics.http_started()  # and a request
    print("ready", flush=True)
    sys.stdin.read()  # until the test lets go
    os._exit(0)  # a worker that dies with work in flight, as in a crash
    """
)


def scrape_multiprocess(
    env: dict[str, str],
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    script = "from interlock.metrics import Metrics; print(Metrics.from_environment().render()[0].decode())"
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout
    assert "process_cpu_seconds_total" not in out  # per-process facts are left out
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(out)
        for s in family.samples
    }


def test_multiprocess_mode_merges_workers_and_forgets_dead_ones(tmp_path: Path) -> None:
    """Two worker processes write, another scrapes: counters sum, the worst breaker wins,
    in-flight gauges sum over the live workers only."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    workers = {
        role: subprocess.Popen(
            [sys.executable, "-c", MULTIPROCESS_WORKER, role],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for role in ("healthy", "broken-breaker")
    }
    try:
        for worker in workers.values():
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        both = scrape_multiprocess(env)
        broken = workers["broken-breaker"]
        assert broken.stdin is not None
        broken.stdin.close()
        broken.wait(timeout=30)
        one = scrape_multiprocess(env)
    finally:
        for worker in workers.values():
            worker.kill()
            worker.wait()
    runs = ("interlock_runs_total", (("graph", "g"), ("outcome", "ok")))
    replica = (("replica", "http://127.0.0.1:9/v1"), ("tier", "large"))
    assert both[runs] == 2
    assert both[("interlock_run_duration_seconds_count", (("graph", "g"),))] == 2
    assert both[("interlock_inflight_runs", ())] == 2
    assert both[("interlock_http_requests_in_flight", ())] == 2
    assert both[("interlock_replica_breaker_state", replica)] == 2  # the worst view
    assert both[("interlock_replica_up", replica)] == 0
    assert both[("interlock_replica_errors_total", replica)] == 1
    # One worker died with a run and a request in flight: its live gauges are gone,
    # its counts stay.
    assert one[runs] == 2
    assert one[("interlock_replica_errors_total", replica)] == 1
    assert one[("interlock_inflight_runs", ())] == 1
    assert one[("interlock_http_requests_in_flight", ())] == 1
    assert one[("interlock_replica_breaker_state", replica)] == 0
    assert not list(tmp_path.glob(f"gauge_live*_{broken.pid}.db"))
