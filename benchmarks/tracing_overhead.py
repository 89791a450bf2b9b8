"""What observing a run costs: CPU and latency per run with each level of tracing.

One process runs a small graph shaped like the agent's (guard → retrieve →
generate → check; the retrieval through a LangChain retriever, the model call
streamed through interlock's pool to a vLLM-protocol simulator), sequentially,
in interleaved rounds of four configurations so machine noise hits them alike:

* ``bare``: no callbacks at all (what LangGraph alone costs);
* ``timer``: interlock's NodeTimer (per-node timings, spans; always on);
* ``timer+log``: plus the local trace record in Redis (the default);
* ``timer+log+langfuse``: plus the real Langfuse SDK exporting to a local
  endpoint that accepts everything (a stand-in for the Langfuse server, in
  another process so its CPU is not counted; the SDK's exporter threads are).

CPU is this process's (``time.process_time``: every thread, the SDK's included).
Prints a table and writes ``benchmarks/results/tracing_overhead.json``.

    .venv/bin/python benchmarks/tracing_overhead.py [--runs 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, TypedDict

import redis.asyncio as aioredis
from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.messages import AnyMessage, HumanMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from interlock.agent import build_tiers
from interlock.config import Settings
from interlock.guardrails.policy import InputPolicy
from interlock.models.chat_model import PoolChatModel
from interlock.testing.vllm_simulator import SimulatorProcess, free_loopback_port
from interlock.tracing import TraceLog, Tracer
from interlock.tracing.langfuse_export import LangfuseExport

RESULTS = Path(__file__).parent / "results" / "tracing_overhead.json"
REDIS_URL = os.environ.get("INTERLOCK_REDIS_URL", "redis://127.0.0.1:6379/0")

# Accepts whatever the SDK posts (spans, scores) and counts the bytes.
SINK = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
received = {"requests": 0, "bytes": 0}
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        self.rfile.read(n)
        received["requests"] += 1; received["bytes"] += n
        body = b'{"message": "Accepted"}'
        self.send_response(200); self.send_header("content-length", str(len(body)))
        self.send_header("content-type", "application/json"); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        body = json.dumps(received).encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

CHUNKS = [
    Document(
        id=f"handbook/serving.md#{i}",
        page_content=f"Chunk {i}: interlock serves on port 8000; contact ops@example.com. " * 4,
        metadata={"source": "handbook/serving.md", "title": "Serving", "score": 0.9 - i / 10},
    )
    for i in range(5)
]


class StaticRetriever(BaseRetriever):
    """Five fixed chunks: the retrieval's callbacks without a vector search's cost."""

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        return list(CHUNKS)

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return list(CHUNKS)


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    question: str
    documents: list[dict[str, Any]]
    route: dict[str, Any]
    guards: list[dict[str, Any]]
    check: dict[str, Any]


def build_graph(model: PoolChatModel) -> Any:
    policy = InputPolicy()
    retriever = StaticRetriever()

    async def guard(state: State) -> dict[str, Any]:
        text, reasons = policy.redact(state["question"])
        report = {
            "stage": "input",
            "allowed": True,
            "redacted": bool(reasons),
            "triggered": [],
            "reasons": reasons,
        }
        return {
            "question": text,
            "guards": [report],
            "route": {"tier": "large", "score": 0.7, "reason": "benchmark"},
        }

    async def retrieve(state: State, config: RunnableConfig) -> dict[str, Any]:
        docs = await retriever.ainvoke(state["question"], config)
        return {"documents": [{"id": d.id, "text": d.page_content} for d in docs]}

    async def generate(state: State, config: RunnableConfig) -> dict[str, Any]:
        context = "\n".join(d["text"] for d in state["documents"])
        prompt = [HumanMessage(f"{context}\n\nQuestion: {state['question']}")]
        reply = None
        async for chunk in model.astream(prompt, config, max_tokens=16):
            reply = chunk if reply is None else reply + chunk
        return {"messages": [reply]}

    async def check(state: State) -> dict[str, Any]:
        return {"check": {"score": 0.9, "verdict": "supported", "unsupported": []}}

    builder = StateGraph(State)
    for name, node in (
        ("guard", guard),
        ("retrieve", retrieve),
        ("generate", generate),
        ("check", check),
    ):
        builder.add_node(name, node)
    builder.add_edge(START, "guard")
    builder.add_edge("guard", "retrieve")
    builder.add_edge("retrieve", "generate")
    builder.add_edge("generate", "check")
    builder.add_edge("check", END)
    return builder.compile(name="bench-agent")


async def run_once(graph: Any, tracer: Tracer | None) -> None:
    question = "Which port does interlock use? Reply to jane@example.com."
    run_id = str(uuid.uuid4())
    if tracer is None:
        await graph.ainvoke({"question": question})
        return
    trace = tracer.start(
        run_id=run_id, thread_id=run_id, user_id="bench", tenant="bench", graph="bench-agent"
    )
    state = await graph.ainvoke({"question": question}, trace.config())
    await tracer.finish(trace, state, "ok")


async def measure(graph: Any, tracer: Tracer | None, runs: int) -> dict[str, float]:
    latencies: list[float] = []
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    for _ in range(runs):
        began = time.perf_counter()
        await run_once(graph, tracer)
        latencies.append((time.perf_counter() - began) * 1000)
    return {
        "cpu_ms_per_run": (time.process_time() - cpu0) * 1000 / runs,
        "wall_s": time.perf_counter() - wall0,
        "p50_ms": statistics.median(latencies),
        "p95_ms": statistics.quantiles(latencies, n=20)[18],
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    sim = SimulatorProcess(ttft_s=0.005, inter_token_s=0.001, output_tokens=16).start()
    sink_port = free_loopback_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(sink_port)])
    client = aioredis.Redis.from_url(REDIS_URL)
    prefix = f"bench-trace-{uuid.uuid4().hex[:8]}"
    try:
        settings = Settings.load(
            large_model_urls=[sim.openai_url],
            small_model_urls=[sim.openai_url],
            large_model_name="sim-model",
            health_interval_s=0,
        )
        model = PoolChatModel(tier=build_tiers(settings)["large"])
        graph = build_graph(model)
        log = TraceLog(client, prefix=prefix, ttl_s=600)
        policy = InputPolicy()
        langfuse = LangfuseExport(
            public_key="pk-bench",
            secret_key="sk-bench",
            host=f"http://127.0.0.1:{sink_port}",
            redact=lambda text: policy.redact(text)[0],
        )
        configs: dict[str, Tracer | None] = {
            "bare": None,
            "timer": Tracer(),
            "timer+log": Tracer(log=log),
            "timer+log+langfuse": Tracer(log=log, langfuse=langfuse),
        }
        for tracer in configs.values():  # warm up every path (imports, connections)
            for _ in range(10):
                await run_once(graph, tracer)
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
        for round_ in range(args.rounds):
            order = list(configs) if round_ % 2 == 0 else list(reversed(configs))
            for name in order:
                samples[name].append(await measure(graph, configs[name], args.runs))
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
        langfuse.flush(30)
        import httpx

        received = httpx.get(f"http://127.0.0.1:{sink_port}/").json()
    finally:
        keys = [k async for k in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        sink.terminate()
        sim.stop()
    summary: dict[str, Any] = {}
    base = statistics.median(s["cpu_ms_per_run"] for s in samples["bare"])
    for name, rows in samples.items():
        cpu = statistics.median(r["cpu_ms_per_run"] for r in rows)
        summary[name] = {
            "cpu_ms_per_run": round(cpu, 3),
            "cpu_added_ms_per_run": round(cpu - base, 3),
            "cpu_ratio_to_bare": round(cpu / base, 3),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in rows), 2),
            "p95_ms": round(statistics.median(r["p95_ms"] for r in rows), 2),
        }
    langfuse_runs = args.runs * args.rounds + 10  # the warm-up runs are exported too
    return {
        "benchmark": "tracing_overhead",
        "graph": "guard → retrieve (LangChain retriever, 5 chunks) → generate (pool, streamed, "
        "16 tokens from a vLLM-protocol simulator) → check",
        "runs_per_sample": args.runs,
        "rounds": args.rounds,
        "configs": summary,
        "langfuse_sink": {
            "requests": received["requests"],
            "bytes": received["bytes"],
            "bytes_per_run": round(received["bytes"] / langfuse_runs),
        },
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="runs per sample")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    print(
        f"{'config':<22} {'CPU ms/run':>11} {'added':>8} {'ratio':>7} {'p50 ms':>8} {'p95 ms':>8}"
    )
    for name, row in result["configs"].items():
        print(
            f"{name:<22} {row['cpu_ms_per_run']:11.2f} {row['cpu_added_ms_per_run']:8.2f} "
            f"{row['cpu_ratio_to_bare']:7.2f} {row['p50_ms']:8.2f} {row['p95_ms']:8.2f}"
        )
    print(f"Langfuse export: {result['langfuse_sink']['bytes_per_run']} bytes per run (gzip)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
