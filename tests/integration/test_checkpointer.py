"""The plain-Redis checkpointer against the real Redis: LangGraph's conformance suite,
real graphs (continuation, history, interrupt/resume), TTL, and crash atomicity."""

from __future__ import annotations

import operator
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import pytest
import redis
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from interlock.memory.checkpointer import RedisCheckpointSaver


def cleanup(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


async def test_langgraph_conformance_suite(redis_url: str) -> None:
    @checkpointer_test(name="RedisCheckpointSaver")
    async def saver() -> AsyncIterator[RedisCheckpointSaver]:
        prefix = f"conf-{uuid.uuid4().hex[:10]}"
        instance = RedisCheckpointSaver.from_url(redis_url, prefix=prefix)
        yield instance
        await instance.aclose()
        cleanup(redis_url, prefix)

    report = await validate(saver)
    report.print_report()
    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert report.passed_all_base(), failures


class Counter(TypedDict):
    items: Annotated[list[str], operator.add]


def counting_graph(saver: RedisCheckpointSaver):
    graph = StateGraph(Counter)
    graph.add_node("a", lambda s: {"items": ["a"]})
    graph.add_node("b", lambda s: {"items": ["b"]})
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    graph.add_edge("b", END)
    return graph.compile(checkpointer=saver)


def test_sync_graph_continues_a_thread_and_lists_history(redis_url: str, prefix: str) -> None:
    saver = RedisCheckpointSaver.from_url(redis_url, prefix=prefix)
    app = counting_graph(saver)
    config = {"configurable": {"thread_id": "t:1/with odd chars"}}
    app.invoke({"items": ["start"]}, config)
    out = app.invoke({"items": ["again"]}, config)
    assert out["items"] == ["start", "a", "b", "again", "a", "b"]
    history = list(app.get_state_history(config))
    assert len(history) == 8  # input + 2 nodes + end, twice
    assert history[0].values == out
    assert saver.thread_exists("t:1/with odd chars") and not saver.thread_exists("t:1")
    saver.delete_thread("t:1/with odd chars")
    assert not saver.thread_exists("t:1/with odd chars")
    assert app.get_state(config).values == {}
    saver.close()


async def test_async_interrupt_and_resume(redis_url: str, prefix: str) -> None:
    class Approval(TypedDict):
        request: str
        decision: str

    def ask_human(state: Approval) -> dict[str, str]:
        return {"decision": interrupt(f"approve {state['request']}?")}

    graph = StateGraph(Approval)
    graph.add_node("ask", ask_human)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    saver = RedisCheckpointSaver.from_url(redis_url, prefix=prefix)
    app = graph.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "approval-1"}}
    first = await app.ainvoke({"request": "deploy"}, config)
    assert first["__interrupt__"][0].value == "approve deploy?"
    # a different process would see the same pending interrupt: reopen the saver
    await saver.aclose()
    saver2 = RedisCheckpointSaver.from_url(redis_url, prefix=prefix)
    app2 = graph.compile(checkpointer=saver2)
    resumed = await app2.ainvoke(Command(resume="yes"), config)
    assert resumed == {"request": "deploy", "decision": "yes"}
    await saver2.aclose()


async def test_ttl_is_set_and_refreshed_on_use(redis_url: str, prefix: str) -> None:
    saver = RedisCheckpointSaver.from_url(redis_url, prefix=prefix, ttl_seconds=100)
    app = counting_graph(saver)
    config = {"configurable": {"thread_id": "ttl-1"}}
    await app.ainvoke({"items": []}, config)
    client = redis.Redis.from_url(redis_url)
    thread_key = f"{prefix}:thread:{{ttl-1}}"
    assert 0 < client.ttl(thread_key) <= 100
    client.expire(thread_key, 5)
    await saver.aget_tuple(config)
    assert client.ttl(thread_key) > 5
    client.close()
    await saver.aclose()


WRITER = """
import sys, uuid
from langgraph.checkpoint.base import empty_checkpoint
from interlock.memory.checkpointer import RedisCheckpointSaver
saver = RedisCheckpointSaver.from_url(sys.argv[1], prefix=sys.argv[2])
parent = None
big = "x" * 200_000  # large values make each transaction take a while
i = 0
while True:
    cp = empty_checkpoint()
    cp["channel_values"] = {"blob": big + str(i)}
    conf = {"configurable": {"thread_id": "crash", "checkpoint_ns": "", "checkpoint_id": parent}}
    saved = saver.put(conf, cp, {"step": i}, {})
    saver.put_writes(saved, [("blob", big)], task_id=str(uuid.uuid4()))
    parent = saved["configurable"]["checkpoint_id"]
    i += 1
    if i == 5:
        print("ready", flush=True)
"""


def test_a_writer_killed_mid_write_leaves_every_checkpoint_readable(
    redis_url: str, prefix: str
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, redis_url, prefix],
        stdout=subprocess.PIPE,
        env={**os.environ},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saver = RedisCheckpointSaver.from_url(redis_url, prefix=prefix)
    config = {"configurable": {"thread_id": "crash"}}
    listed = list(saver.list(config))
    client = redis.Redis.from_url(redis_url)
    indexed = client.zcard(f"{prefix}:ckpt:{{crash}}:")
    client.close()
    assert len(listed) == indexed >= 5, "every indexed checkpoint must be complete"
    latest = saver.get_tuple(config)
    assert latest is not None
    assert latest.checkpoint["channel_values"]["blob"].startswith("x")
    steps = [t.metadata["step"] for t in listed]
    assert steps == sorted(steps, reverse=True) and steps[-1] == 0
    saver.close()


@pytest.mark.parametrize("missing", ["client", "aclient"])
async def test_a_missing_client_is_a_clear_error(missing: str) -> None:
    saver = RedisCheckpointSaver(**{"client" if missing == "aclient" else "aclient": None})
    with pytest.raises(RuntimeError, match="without a"):
        if missing == "client":
            saver.get_tuple({"configurable": {"thread_id": "x"}})
        else:
            await saver.aget_tuple({"configurable": {"thread_id": "x"}})
