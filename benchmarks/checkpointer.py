"""The Redis checkpointer against the real Redis, side by side with LangGraph's InMemorySaver.

Usage: .venv/bin/python benchmarks/checkpointer.py [--redis-url URL] [--n 300]
Measures, for conversations of 10 and 50 messages: put (a new checkpoint whose
messages channel changed), put_writes, get_tuple of the latest checkpoint, and
list of the newest 20 — sync and async, p50/p95 in milliseconds — plus a whole
graph turn (two nodes, invoke) with each saver. InMemorySaver is the floor: the
difference is what persistence costs. Writes results/checkpointer.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import operator
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import redis
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from interlock.memory.checkpointer import RedisCheckpointSaver

RESULTS = Path(__file__).parent / "results" / "checkpointer.json"
SENTENCE = "The hybrid retriever fuses vector and full-text results with reciprocal rank fusion. "


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def messages(n: int) -> list[AnyMessage]:
    """A conversation of n messages of ~400 characters each, like an agent's."""
    out: list[AnyMessage] = []
    for i in range(n):
        text = f"turn {i}: " + SENTENCE * 5
        out.append(HumanMessage(text) if i % 2 == 0 else AIMessage(text))
    return out


def checkpoint_for(history: list[AnyMessage], step: int) -> tuple[dict[str, Any], dict[str, Any]]:
    checkpoint = empty_checkpoint()
    checkpoint["id"] = str(uuid.uuid4()) if step < 0 else checkpoint["id"]
    version = f"{step:032}.0"
    checkpoint["channel_values"] = {"messages": history, "question": "how does retrieval work?"}
    checkpoint["channel_versions"] = {"messages": version, "question": version}
    return checkpoint, {"messages": version, "question": version}


def timed_sync(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        began = time.perf_counter()
        fn()
        out.append((time.perf_counter() - began) * 1000)
    return out


async def timed_async(fn: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    out = []
    for _ in range(n):
        began = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - began) * 1000)
    return out


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": pct(values, 0.5), "p95_ms": pct(values, 0.95)}


async def bench_saver(
    saver: BaseCheckpointSaver[Any], size: int, n: int, is_async: bool
) -> dict[str, Any]:
    history = messages(size)
    thread = f"bench-{uuid.uuid4().hex[:8]}"
    base: RunnableConfig = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    state = {"config": base, "step": 0}
    metadata: Any = {"source": "loop", "step": 0, "parents": {}, "user_id": "bench"}

    def next_checkpoint() -> tuple[dict[str, Any], dict[str, Any]]:
        state["step"] = int(state["step"]) + 1
        return checkpoint_for(history, int(state["step"]))

    def put() -> None:
        cp, versions = next_checkpoint()
        cp["id"] = str(uuid.uuid4())
        state["config"] = saver.put(state["config"], cp, metadata, versions)  # type: ignore[arg-type]

    def put_writes() -> None:
        saver.put_writes(state["config"], [("messages", history[-1])], task_id=uuid.uuid4().hex)  # type: ignore[arg-type]

    async def aput() -> None:
        cp, versions = next_checkpoint()
        cp["id"] = str(uuid.uuid4())
        state["config"] = await saver.aput(state["config"], cp, metadata, versions)  # type: ignore[arg-type]

    async def aput_writes() -> None:
        await saver.aput_writes(
            state["config"], [("messages", history[-1])], task_id=uuid.uuid4().hex
        )  # type: ignore[arg-type]

    async def alist() -> None:
        async for _ in saver.alist(base, limit=20):
            pass

    if not is_async:
        return {
            "put": summary(timed_sync(put, n)),
            "put_writes": summary(timed_sync(put_writes, n)),
            "get_tuple": summary(timed_sync(lambda: saver.get_tuple(base), n)),
            "list_20": summary(timed_sync(lambda: list(saver.list(base, limit=20)), n)),
        }

    return {
        "put": summary(await timed_async(aput, n)),
        "put_writes": summary(await timed_async(aput_writes, n)),
        "get_tuple": summary(await timed_async(lambda: saver.aget_tuple(base), n)),
        "list_20": summary(await timed_async(alist, n)),
    }


class TurnState(TypedDict):
    messages: Annotated[list[AnyMessage], operator.add]


def graph_turns(saver: BaseCheckpointSaver[Any], n: int) -> dict[str, float]:
    """A two-node graph (question in, answer out), one thread, n turns (so the
    thread grows to 2n messages: later turns carry a longer history)."""
    builder = StateGraph(TurnState)
    builder.add_node("plan", lambda s: {"messages": []})
    builder.add_node("answer", lambda s: {"messages": [AIMessage(SENTENCE * 5)]})
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "answer")
    builder.add_edge("answer", END)
    graph = builder.compile(checkpointer=saver)
    config: RunnableConfig = {"configurable": {"thread_id": f"turns-{uuid.uuid4().hex[:8]}"}}
    return summary(
        timed_sync(lambda: graph.invoke({"messages": [HumanMessage(SENTENCE * 3)]}, config), n)
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    prefix = f"bench-cp-{uuid.uuid4().hex[:6]}"
    saver = RedisCheckpointSaver.from_url(args.redis_url, prefix=prefix, ttl_seconds=3600)
    results: dict[str, Any] = {"n_per_measure": args.n, "redis_url": args.redis_url, "sizes": {}}
    try:
        for size in (10, 50):
            row: dict[str, Any] = {}
            for name, make in (("in_memory", InMemorySaver), ("redis", lambda: saver)):
                for mode in ("sync", "async"):
                    row[f"{name}_{mode}"] = await bench_saver(make(), size, args.n, mode == "async")
            results["sizes"][f"{size}_messages"] = row
        results["graph_turn"] = {
            "in_memory": graph_turns(InMemorySaver(), args.n // 3),
            "redis": graph_turns(saver, args.n // 3),
        }
    finally:
        client = redis.Redis.from_url(args.redis_url)
        for key in client.scan_iter(f"{prefix}:*", count=1000):
            client.delete(key)
        await saver.aclose()
    results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for size, row in results["sizes"].items():
        for name, ops in row.items():
            cells = "  ".join(f"{op} {v['p50_ms']:.2f}/{v['p95_ms']:.2f}" for op, v in ops.items())
            print(f"{size:>12} {name:>16}: {cells}  (p50/p95 ms)")
    for name, v in results["graph_turn"].items():
        print(f"graph turn {name:>10}: p50 {v['p50_ms']:.2f} ms  p95 {v['p95_ms']:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
