"""What Prometheus metrics cost per request: recording a run, and the HTTP middleware.

Usage: .venv/bin/python benchmarks/metrics_overhead.py
Prints and writes benchmarks/results/metrics_overhead.json. Measured in process,
with no network and no model, so the numbers are the metrics' own CPU cost:

* run: a RunTracker opened, finished and closed around a realistic AgentResult and
  NodeTimer (11 nodes, 2 model calls, 2 cache lookups, 2 guard reports, 2 fallbacks);
* cache event: the cache node telling the run's callbacks what it looked up (a
  LangChain custom event: the one cost the metrics add inside the graph);
* middleware: an ASGI request through HTTPMetrics minus the same request without it,
  for a routed request (the route object set in the scope, as Starlette does) and an
  unrouted one (404: the templates are matched by hand);
* scrape: rendering the exposition after those runs and requests.

Each mode is measured twice: one process (the per-process registry) and multiprocess
mode (PROMETHEUS_MULTIPROC_DIR; the values live in memory-mapped files), the latter in
a child process, because prometheus_client picks its value storage at import.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "metrics_overhead.json"
RUNS = 14_000
REQUESTS = 35_000
ROUNDS = 7


def _result() -> Any:
    from interlock.agent import AgentResult

    return AgentResult(
        thread_id="t",
        run_id="r",
        answer="Port 8000.",
        citations=[],
        route={"tier": "small", "score": 0.3, "reason": "difficulty 0.30 < 0.50"},
        check={"verdict": "supported", "score": 0.9},
        guards=[
            {"stage": "input", "allowed": True, "redacted": False, "triggered": [], "reasons": []},
            {"stage": "output", "allowed": True, "redacted": False, "triggered": [], "reasons": []},
        ],
        usage={"calls": 2, "input_tokens": 700, "output_tokens": 160, "cost": 0.001},
        timings_ms={},
        plan={"kind": "lookup", "needs_retrieval": True, "sub_queries": ["q"]},
        fallbacks=["escalate: not supported on small, trying large", "honest: nothing left"],
    )


def _timer() -> Any:
    from interlock.tracing import ModelCall, NodeTimer

    timer = NodeTimer()
    for node in (
        "guard_in", "planner", "cache", "retrieve", "recall", "route",
        "generate", "check", "fallback", "guard_out", "remember",
    ):  # fmt: skip
        timer.timings_ms[node] = 12.5
    timer.model_calls += [
        ModelCall(
            tier=t, input_tokens=350, output_tokens=80, cost=0.0005, latency_s=1.2, ttft_s=0.05
        )
        for t in ("small", "large")
    ]
    timer.cache_lookups += [("exact", "miss"), ("semantic", "miss")]
    return timer


def per_call_us(fn: Any, n: int) -> float:
    """Best round's mean time per call, in microseconds (the machine is shared: the
    fastest round is the closest to the code's own cost)."""
    rounds = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - began) / n * 1e6)
    return min(rounds)


def measure_run(metrics: Any) -> float:
    from interlock.metrics import RunTracker

    result, timer = _result(), _timer()

    def one() -> None:
        tracker = RunTracker(metrics, "interlock-agent", timer)
        tracker.finish(result)
        tracker.close()

    return per_call_us(one, RUNS // ROUNDS)


def measure_cache_event() -> float:
    """A node run with the event minus the same node run without it."""
    from langchain_core.runnables import RunnableLambda

    from interlock.tracing import CACHE_EVENT, NodeTimer, emit

    async def node(tell: bool, config: Any) -> bool:
        if tell:
            await emit(CACHE_EVENT, {"exact": "miss", "semantic": "miss"}, config)
        return tell

    runnable = RunnableLambda(node)

    async def loop(tell: bool, n: int) -> float:
        began = time.perf_counter()
        for _ in range(n):
            await runnable.ainvoke(tell, config={"callbacks": [NodeTimer()]})
        return (time.perf_counter() - began) / n * 1e6

    n = 2000 // ROUNDS
    with_event = min(asyncio.run(loop(True, n)) for _ in range(ROUNDS))
    without = min(asyncio.run(loop(False, n)) for _ in range(ROUNDS))
    return with_event - without


def measure_middleware(metrics: Any) -> dict[str, float]:
    from fastapi import FastAPI

    from interlock.server.http_metrics import HTTPMetrics

    app = FastAPI()

    @app.get("/v1/threads/{thread_id}")
    async def thread(thread_id: str) -> None:
        return None

    for i in range(20):  # an app of this one's size
        app.add_api_route(f"/v1/other/{i}/{{x}}", thread, methods=["POST"])
    route = app.routes[4]
    start = {"type": "http.response.start", "status": 200, "headers": []}
    body = {"type": "http.response.body", "body": b"{}"}

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"].startswith("/v1/threads/"):
            scope["route"] = route  # what Starlette's router does on a match
        await send(start)
        await send(body)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    wrapped = HTTPMetrics(endpoint, metrics=metrics, routes=app.routes)

    def timed(asgi: Any, path: str) -> float:
        async def loop(n: int) -> float:
            began = time.perf_counter()
            for _ in range(n):
                scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
                await asgi(scope, receive, send)
            return (time.perf_counter() - began) / n * 1e6

        return min(asyncio.run(loop(REQUESTS // ROUNDS)) for _ in range(ROUNDS))

    bare = timed(endpoint, "/v1/threads/abc")
    routed = timed(wrapped, "/v1/threads/abc") - bare
    unrouted = timed(wrapped, "/nowhere") - timed(endpoint, "/nowhere")
    return {"routed_us": round(routed, 2), "unrouted_404_us": round(unrouted, 2)}


def measure() -> dict[str, Any]:
    from interlock.metrics import Metrics

    metrics = Metrics.from_environment()
    run_us = measure_run(metrics)
    middleware = measure_middleware(metrics)
    began = time.perf_counter()
    body, _ = metrics.render()
    render_ms = (time.perf_counter() - began) * 1000
    return {
        "mode": "multiprocess" if metrics.multiprocess_dir else "one process",
        "run_observation_us": round(run_us, 2),
        "cache_event_us": round(measure_cache_event(), 2),
        "middleware_per_request_us": middleware,
        "scrape_render_ms": round(render_ms, 2),
        "scrape_bytes": len(body),
    }


def main() -> None:
    if "--child" in sys.argv:
        print(json.dumps(measure()))
        return
    load = [round(x, 2) for x in os.getloadavg()]
    one = measure()
    with tempfile.TemporaryDirectory() as directory:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory, "PYTHONPATH": str(ROOT)}
        child = subprocess.run(
            [sys.executable, __file__, "--child"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    multi = json.loads(child.stdout.strip().splitlines()[-1])
    report = {
        "what": "CPU cost of Prometheus metrics per run and per HTTP request (benchmarks/metrics_overhead.py)",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_at_start": load,
        "statistic": "best of the rounds (mean per call within a round)",
        "runs_per_round": RUNS // ROUNDS,
        "requests_per_round": REQUESTS // ROUNDS,
        "rounds": ROUNDS,
        "results": [one, multi],
    }
    for r in report["results"]:
        mw = r["middleware_per_request_us"]
        print(
            f"{r['mode']:>13}: run {r['run_observation_us']:6.1f} µs "
            f"+ cache event {r['cache_event_us']:5.1f} µs | "
            f"middleware {mw['routed_us']:5.1f} µs routed, {mw['unrouted_404_us']:5.1f} µs 404 | "
            f"scrape {r['scrape_render_ms']:.1f} ms ({r['scrape_bytes']} bytes)"
        )
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
