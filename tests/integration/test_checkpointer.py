"""RedisCheckpointSaver against the real Redis: LangGraph's contract, TTL, atomicity.

The reference for "correct" is LangGraph's own InMemorySaver: the contract
scenario and the graph runs go through both savers and must give the same
results, so a difference in ordering, parent links, metadata or write
semantics shows up as a failing comparison rather than needing a guess at
what LangGraph expects.
"""

from __future__ import annotations

import asyncio
import operator
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pytest
import redis
import redis.asyncio
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT, RESUME
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from interlock.memory import checkpointer as checkpointer_module
from interlock.memory.checkpointer import RedisCheckpointSaver

REPO = Path(__file__).resolve().parents[2]


# -- fixtures and helpers -------------------------------------------------------------------
# `prefix` (conftest) is unique per test and its keys are deleted afterwards.
@pytest.fixture
def saver(redis_url: str, prefix: str) -> Iterator[RedisCheckpointSaver]:
    instance = RedisCheckpointSaver.from_url(redis_url, prefix=prefix)
    yield instance
    instance.close()


@pytest.fixture
async def asaver(redis_url: str, prefix: str) -> AsyncIterator[RedisCheckpointSaver]:
    instance = RedisCheckpointSaver.from_url(redis_url, prefix=prefix)
    yield instance
    await instance.aclose()


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def keys_of(raw: redis.Redis, prefix: str) -> list[bytes]:
    return sorted(raw.scan_iter(f"{prefix}:*", count=1000))


def make_checkpoint(
    values: dict[str, Any], versions: dict[str, Any], *, checkpoint_id: str | None = None
) -> Checkpoint:
    return Checkpoint(
        v=4,
        id=checkpoint_id or str(uuid6(clock_seq=-1)),
        # from the id when one is given, so a replayed scenario builds equal checkpoints
        ts=checkpoint_id or datetime.now(UTC).isoformat(),
        channel_values=values,
        channel_versions=versions,
        versions_seen={"node": {"a": 1}},
        updated_channels=sorted(values),
    )


def cfg(thread_id: str, ns: str = "", checkpoint_id: str | None = None) -> RunnableConfig:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id is not None:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


def meta(source: str, step: int, **extra: Any) -> CheckpointMetadata:
    return {"source": source, "step": step, "parents": {}, **extra}  # type: ignore[typeddict-item]


def norm(found: CheckpointTuple | None) -> Any:
    """A tuple as plain data; configs reduced to their address (InMemorySaver echoes
    the caller's config, this saver builds a fresh one: both name the same checkpoint)."""
    if found is None:
        return None

    def address(config: RunnableConfig | None) -> Any:
        if config is None:
            return None
        conf = config["configurable"]
        return (conf["thread_id"], conf.get("checkpoint_ns", ""), conf["checkpoint_id"])

    return (
        address(found.config),
        dict(found.checkpoint),
        dict(found.metadata),
        address(found.parent_config),
        found.pending_writes,
    )


def by_address(normed: Any) -> Any:
    return normed[0]


class Driver:
    """Drives a saver through its sync or its async API with one scenario's code."""

    def __init__(self, saver: BaseCheckpointSaver[Any], use_async: bool) -> None:
        self.saver = saver
        self.use_async = use_async

    async def put(self, *args: Any) -> RunnableConfig:
        if self.use_async:
            return await self.saver.aput(*args)
        return self.saver.put(*args)

    async def put_writes(self, *args: Any, **kwargs: Any) -> None:
        if self.use_async:
            await self.saver.aput_writes(*args, **kwargs)
        else:
            self.saver.put_writes(*args, **kwargs)

    async def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        if self.use_async:
            return await self.saver.aget_tuple(config)
        return self.saver.get_tuple(config)

    async def list(self, config: RunnableConfig | None, **kwargs: Any) -> list[CheckpointTuple]:
        if self.use_async:
            return [t async for t in self.saver.alist(config, **kwargs)]
        return list(self.saver.list(config, **kwargs))

    async def delete_thread(self, thread_id: str) -> None:
        if self.use_async:
            await self.saver.adelete_thread(thread_id)
        else:
            self.saver.delete_thread(thread_id)


async def contract_scenario(d: Driver, ids: list[str]) -> dict[str, Any]:
    """What a graph does to a checkpointer, with fixed ids so that runs on
    different savers can be compared field by field."""
    t = "thread-1"
    out: dict[str, Any] = {}
    v1, v2 = "1", "2"
    first = await d.put(
        {"configurable": {"thread_id": t, "checkpoint_ns": "", "user_id": "u1"}},
        make_checkpoint({"a": "x", "b": [1, 2]}, {"a": v1, "b": v1}, checkpoint_id=ids[0]),
        meta("input", -1),
        {"a": v1, "b": v1},
    )
    out["put_returns"] = first
    # only "a" changes: "b" must come back from the blob stored by the first put
    second = await d.put(
        first,
        make_checkpoint({"a": "y", "b": [1, 2]}, {"a": v2, "b": v1}, checkpoint_id=ids[1]),
        meta("loop", 0),
        {"a": v2},
    )
    await d.put_writes(second, [("a", "w1"), ("b", "w2")], "task-b", task_path="~1")
    await d.put_writes(second, [("c", 1)], "task-a", task_path="~0")
    await d.put_writes(second, [("a", "retried")], "task-b", task_path="~1")  # kept: w1
    await d.put_writes(second, [(INTERRUPT, "i1"), (ERROR, "e1")], "task-c", task_path="~2")
    await d.put_writes(second, [(INTERRUPT, "i2"), (RESUME, "r")], "task-c", task_path="~2")
    await d.put_writes(second, [], "task-d")
    third = await d.put(
        second,
        make_checkpoint({"a": "y"}, {"a": v2, "gone": v2}, checkpoint_id=ids[2]),
        meta("loop", 1, score=7),
        {"gone": v2},  # a version without a value: stored as "empty", not returned
    )
    child = await d.put(
        cfg(t, "child:1"),
        make_checkpoint({"s": "sub"}, {"s": v1}, checkpoint_id=ids[3]),
        meta("loop", 0),
        {"s": v1},
    )
    await d.put_writes(child, [("s", "sub-write")], "task-s")
    await d.put(
        cfg("thread-2"),
        make_checkpoint({"a": "other"}, {"a": v1}, checkpoint_id=ids[4]),
        meta("input", -1),
        {"a": v1},
    )

    out["latest"] = norm(await d.get_tuple(cfg(t)))
    out["latest_without_ns"] = norm(await d.get_tuple({"configurable": {"thread_id": t}}))
    out["by_id_first"] = norm(await d.get_tuple(cfg(t, checkpoint_id=ids[0])))
    out["by_id_second"] = norm(await d.get_tuple(second))
    out["child"] = norm(await d.get_tuple(cfg(t, "child:1")))
    out["third_returned"] = third
    out["missing_id"] = norm(await d.get_tuple(cfg(t, checkpoint_id=str(uuid6()))))
    out["missing_thread"] = norm(await d.get_tuple(cfg("nobody")))
    out["missing_ns"] = norm(await d.get_tuple(cfg(t, "child:2")))

    async def listed(config: RunnableConfig | None, **kwargs: Any) -> list[Any]:
        return [norm(x) for x in await d.list(config, **kwargs)]

    out["list_root"] = await listed(cfg(t))
    out["list_limit_1"] = await listed(cfg(t), limit=1)
    out["list_limit_0"] = await listed(cfg(t), limit=0)
    out["list_before"] = await listed(cfg(t), before=cfg(t, checkpoint_id=ids[2]))
    out["list_before_limit"] = await listed(cfg(t), before=cfg(t, checkpoint_id=ids[2]), limit=1)
    out["list_filter_source"] = await listed(cfg(t), filter={"source": "loop"})
    out["list_filter_two_keys"] = await listed(cfg(t), filter={"source": "loop", "step": 1})
    out["list_filter_config_key"] = await listed(cfg(t), filter={"user_id": "u1"})
    out["list_filter_none"] = await listed(cfg(t), filter={"source": "fork"})
    out["list_filter_limit"] = await listed(cfg(t), filter={"source": "loop"}, limit=1)
    out["list_exact_id"] = await listed(cfg(t, checkpoint_id=ids[1]))
    out["list_child"] = await listed(cfg(t, "child:1"))
    # without checkpoint_ns every namespace is listed; InMemorySaver's order
    # across namespaces is its dict order, so these compare as sets
    out["list_all_ns"] = sorted(await listed({"configurable": {"thread_id": t}}), key=by_address)
    out["list_everything"] = sorted(await listed(None), key=by_address)
    out["list_everything_filtered"] = sorted(
        await listed(None, filter={"step": -1}), key=by_address
    )

    await d.delete_thread(t)
    out["after_delete"] = norm(await d.get_tuple(cfg(t)))
    out["after_delete_child"] = norm(await d.get_tuple(cfg(t, "child:1")))
    out["after_delete_list"] = await listed({"configurable": {"thread_id": t}})
    out["other_thread_kept"] = norm(await d.get_tuple(cfg("thread-2")))
    await d.delete_thread("never-existed")
    return out


# -- the contract, compared with InMemorySaver ----------------------------------------------
@pytest.mark.asyncio
async def test_sync_and_async_api_match_in_memory_saver(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    ids = [str(uuid6(clock_seq=i)) for i in range(5)]
    expected = await contract_scenario(Driver(InMemorySaver(), use_async=False), ids)
    sync_saver = RedisCheckpointSaver.from_url(redis_url, prefix=f"{prefix}:sync")
    async_saver = RedisCheckpointSaver.from_url(redis_url, prefix=f"{prefix}:async")
    try:
        got_sync = await contract_scenario(Driver(sync_saver, use_async=False), ids)
        got_async = await contract_scenario(Driver(async_saver, use_async=True), ids)
    finally:
        await sync_saver.aclose()
        await async_saver.aclose()
    for name, value in expected.items():
        assert got_sync[name] == value, f"sync {name}"
        assert got_async[name] == value, f"async {name}"
    # and the key facts spelled out, so a mistake shared with InMemorySaver cannot hide
    latest = got_sync["latest"]
    assert latest[0] == ("thread-1", "", ids[2]) and latest[3] == ("thread-1", "", ids[1])
    assert latest[1]["channel_values"] == {"a": "y"}
    assert got_sync["by_id_first"][1]["channel_values"] == {"a": "x", "b": [1, 2]}
    assert got_sync["by_id_first"][2] == {
        "source": "input",
        "step": -1,
        "parents": {},
        "user_id": "u1",
    }
    assert got_sync["by_id_second"][1]["channel_values"] == {"a": "y", "b": [1, 2]}
    assert got_sync["by_id_second"][4] == [
        ("task-a", "c", 1),
        ("task-b", "a", "w1"),
        ("task-b", "b", "w2"),
        ("task-c", RESUME, "r"),
        ("task-c", INTERRUPT, "i2"),
        ("task-c", ERROR, "e1"),
    ]
    assert [x[0][2] for x in got_sync["list_root"]] == [ids[2], ids[1], ids[0]]
    assert [x[0][2] for x in got_sync["list_before"]] == [ids[1], ids[0]]
    assert [x[0][2] for x in got_sync["list_before_limit"]] == [ids[1]]
    assert [x[0][2] for x in got_sync["list_filter_source"]] == [ids[2], ids[1]]
    assert got_sync["list_child"][0][4] == [("task-s", "s", "sub-write")]
    assert got_sync["after_delete"] is None and got_sync["other_thread_kept"] is not None
    assert not any(b"thread-1" in k for k in keys_of(raw, f"{prefix}:sync"))


@pytest.mark.asyncio
async def test_langgraph_conformance_suite(redis_url: str, prefix: str) -> None:
    """LangGraph's published conformance suite (langgraph-checkpoint-conformance, a dev dependency)."""
    import langgraph.checkpoint.conformance as conformance

    @conformance.checkpointer_test(name="RedisCheckpointSaver")
    async def factory() -> AsyncIterator[RedisCheckpointSaver]:
        instance = RedisCheckpointSaver.from_url(redis_url, prefix=f"{prefix}:conformance")
        yield instance
        await instance.aclose()

    report = await conformance.validate(factory)
    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert report.passed_all_base(), failures


# -- focused behaviour -------------------------------------------------------------------------
def test_put_get_round_trip_latest_and_by_id(saver: RedisCheckpointSaver) -> None:
    cp1 = make_checkpoint({"messages": ["hi"], "n": 1}, {"messages": "1", "n": "1"})
    c1 = saver.put(cfg("t"), cp1, meta("input", -1), {"messages": "1", "n": "1"})
    assert c1 == cfg("t", "", cp1["id"])
    cp2 = make_checkpoint({"messages": ["hi", "ho"], "n": 1}, {"messages": "2", "n": "1"})
    c2 = saver.put(c1, cp2, meta("loop", 0), {"messages": "2"})
    latest = saver.get_tuple(cfg("t"))
    assert latest is not None
    assert latest.config == c2
    assert latest.checkpoint == cp2
    assert latest.parent_config == c1
    assert latest.pending_writes == []
    first = saver.get_tuple(c1)
    assert first is not None and first.checkpoint == cp1 and first.parent_config is None
    assert saver.get(c1) == cp1
    assert saver.get_tuple(cfg("t", checkpoint_id=str(uuid6()))) is None


def test_list_order_limit_before_and_filter(saver: RedisCheckpointSaver) -> None:
    config = cfg("t")
    ids = []
    for step in range(6):
        cp = make_checkpoint({}, {})
        config = saver.put(config, cp, meta("loop" if step % 2 else "input", step), {})
        ids.append(cp["id"])
    newest_first = list(reversed(ids))
    assert [t.checkpoint["id"] for t in saver.list(cfg("t"))] == newest_first
    assert [t.checkpoint["id"] for t in saver.list(cfg("t"), limit=2)] == newest_first[:2]
    before = cfg("t", checkpoint_id=ids[3])
    assert [t.checkpoint["id"] for t in saver.list(cfg("t"), before=before)] == ids[:3][::-1]
    loops = [t.metadata["step"] for t in saver.list(cfg("t"), filter={"source": "loop"})]
    assert loops == [5, 3, 1]
    limited = saver.list(cfg("t"), filter={"source": "loop"}, limit=2)
    assert [t.metadata["step"] for t in limited] == [5, 3]
    paged = [t.checkpoint["id"] for t in saver.list(cfg("t"), before=before, limit=1)]
    assert paged == [ids[2]]


def test_list_pages_through_long_histories(saver: RedisCheckpointSaver) -> None:
    """More checkpoints than one internal page, with a filter that skips half."""
    ids = []
    for step in range(250):
        cp = make_checkpoint({"n": step}, {"n": str(step)})
        saver.put(cfg("long"), cp, meta("loop", step, even=step % 2 == 0), {"n": str(step)})
        ids.append(cp["id"])
    listed = list(saver.list(cfg("long")))
    assert [t.checkpoint["id"] for t in listed] == ids[::-1]
    assert [t.checkpoint["channel_values"]["n"] for t in listed[:3]] == [249, 248, 247]
    odd = list(saver.list(cfg("long"), filter={"even": False}, limit=120))
    assert [t.metadata["step"] for t in odd] == list(range(249, 9, -2))


def test_writes_keep_first_regular_value_and_overwrite_special_channels(
    saver: RedisCheckpointSaver,
) -> None:
    stored = saver.put(cfg("t"), make_checkpoint({}, {}), meta("loop", 0), {})
    saver.put_writes(stored, [("answer", "first"), ("other", 1)], "task", task_path="p")
    saver.put_writes(stored, [("answer", "second")], "task", task_path="p")
    saver.put_writes(stored, [(INTERRUPT, {"ask": 1}), (ERROR, "boom")], "task", task_path="p")
    saver.put_writes(stored, [(INTERRUPT, {"ask": 2})], "task", task_path="p")
    found = saver.get_tuple(stored)
    assert found is not None
    writes = {(task, channel): value for task, channel, value in found.pending_writes or []}
    assert writes == {
        ("task", "answer"): "first",
        ("task", "other"): 1,
        ("task", INTERRUPT): {"ask": 2},
        ("task", ERROR): "boom",
    }


def test_namespaces_are_isolated(saver: RedisCheckpointSaver) -> None:
    root_cp = make_checkpoint({"x": "root"}, {"x": "1"})
    root = saver.put(cfg("t", ""), root_cp, meta("loop", 0), {"x": "1"})
    child_cp = make_checkpoint({"x": "child"}, {"x": "1"})
    child = saver.put(cfg("t", "child:1"), child_cp, meta("loop", 0), {"x": "1"})
    saver.put_writes(child, [("x", "w")], "task")
    got_root = saver.get_tuple(cfg("t", ""))
    got_child = saver.get_tuple(cfg("t", "child:1"))
    assert got_root is not None and got_child is not None
    assert got_root.config == root and got_child.config == child
    assert got_root.checkpoint["channel_values"] == {"x": "root"}
    assert got_child.checkpoint["channel_values"] == {"x": "child"}
    assert got_root.pending_writes == [] and got_child.pending_writes == [("task", "x", "w")]
    assert [t.config for t in saver.list(cfg("t", ""))] == [root]
    assert [t.config for t in saver.list(cfg("t", "child:1"))] == [child]
    # without a namespace, all of them, merged newest first (the child is newer)
    everything = [t.config for t in saver.list({"configurable": {"thread_id": "t"}})]
    assert everything == [child, root]


def test_special_characters_in_thread_and_namespace(saver: RedisCheckpointSaver) -> None:
    """Colons, braces, "%" and glob characters must neither collide nor break SCAN."""
    odd_thread, odd_ns = "a:b{c}*?[x]\\%", "outer:1|inner:2"
    one = saver.put(cfg(odd_thread, odd_ns), make_checkpoint({}, {}), meta("loop", 0), {})
    # a pair whose naive "thread:ns" join would equal the one above
    clash = cfg("a", "b{c}*?[x]\\%:outer:1|inner:2")
    other = saver.put(clash, make_checkpoint({}, {}), meta("loop", 0), {})
    found = saver.get_tuple(cfg(odd_thread, odd_ns))
    assert found is not None and found.config == one
    assert saver.get_tuple(cfg(odd_thread)) is None
    assert {t.config["configurable"]["thread_id"] for t in saver.list(None)} == {odd_thread, "a"}
    assert saver.thread_exists(odd_thread)
    saver.delete_thread(odd_thread)
    assert not saver.thread_exists(odd_thread)
    assert saver.get_tuple(other) is not None


def test_delete_thread_removes_every_key(
    saver: RedisCheckpointSaver, raw: redis.Redis, prefix: str
) -> None:
    for ns in ("", "child:1"):
        cp = make_checkpoint({"v": 1}, {"v": "1"})
        stored = saver.put(cfg("gone", ns), cp, meta("loop", 0), {"v": "1"})
        saver.put_writes(stored, [("v", 2)], "task")
    # writes for a checkpoint whose put never landed (LangGraph may send them first)
    saver.put_writes(cfg("gone", "", str(uuid6())), [("v", 3)], "task")
    saver.put(cfg("kept"), make_checkpoint({}, {}), meta("loop", 0), {})
    assert any(b"{gone}" in k for k in keys_of(raw, prefix))
    saver.delete_thread("gone")
    assert not any(b"{gone}" in k for k in keys_of(raw, prefix))
    assert saver.get_tuple(cfg("kept")) is not None


def test_thread_exists(saver: RedisCheckpointSaver) -> None:
    assert not saver.thread_exists("t")
    saver.put(cfg("t", "child:1"), make_checkpoint({}, {}), meta("loop", 0), {})
    assert saver.thread_exists("t")
    assert not saver.thread_exists("u")
    saver.delete_thread("t")
    assert not saver.thread_exists("t")


@pytest.mark.asyncio
async def test_async_thread_exists_and_delete(asaver: RedisCheckpointSaver) -> None:
    assert not await asaver.athread_exists("t")
    stored = await asaver.aput(cfg("t"), make_checkpoint({}, {}), meta("loop", 0), {})
    await asaver.aput_writes(stored, [("x", 1)], "task")
    assert await asaver.athread_exists("t")
    await asaver.adelete_thread("t")
    assert not await asaver.athread_exists("t")
    assert await asaver.aget_tuple(cfg("t")) is None


def _ttls(raw: redis.Redis, prefix: str) -> dict[bytes, int]:
    return {key: raw.ttl(key) for key in keys_of(raw, prefix)}


def _shorten(raw: redis.Redis, prefix: str) -> None:
    for key in keys_of(raw, prefix):
        raw.expire(key, 5)


def test_ttl_is_set_on_every_key_and_refreshed(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    saver = RedisCheckpointSaver.from_url(redis_url, prefix=prefix, ttl_seconds=1000)
    try:
        cp = make_checkpoint({"a": 1}, {"a": "1"})
        first = saver.put(cfg("t"), cp, meta("loop", 0), {"a": "1"})
        saver.put(cfg("t", "child:1"), make_checkpoint({}, {}), meta("loop", 0), {})
        ttls = _ttls(raw, prefix)
        assert len(ttls) >= 6 and all(990 <= t <= 1000 for t in ttls.values()), ttls

        _shorten(raw, prefix)
        assert saver.get_tuple(cfg("t")) is not None  # reading refreshes the whole thread
        assert all(t >= 990 for t in _ttls(raw, prefix).values())

        _shorten(raw, prefix)
        saver.put_writes(first, [("a", 2)], "task")  # so does writing, new key included
        ttls = _ttls(raw, prefix)
        assert any(b":writes:" in k for k in ttls) and all(t >= 990 for t in ttls.values())

        _shorten(raw, prefix)
        saver.put(first, make_checkpoint({"a": 3}, {"a": "2"}), meta("loop", 1), {"a": "2"})
        assert all(t >= 990 for t in _ttls(raw, prefix).values())  # older checkpoints too
    finally:
        saver.close()


@pytest.mark.asyncio
async def test_async_ttl_is_set_and_refreshed(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    saver = RedisCheckpointSaver.from_url(redis_url, prefix=prefix, ttl_seconds=1000)
    try:
        cp = make_checkpoint({"a": 1}, {"a": "1"})
        first = await saver.aput(cfg("t"), cp, meta("loop", 0), {"a": "1"})
        assert all(990 <= t <= 1000 for t in _ttls(raw, prefix).values())
        _shorten(raw, prefix)
        assert await saver.aget_tuple(first) is not None
        assert all(t >= 990 for t in _ttls(raw, prefix).values())
        _shorten(raw, prefix)
        await saver.aput_writes(first, [("a", 2)], "task")
        assert all(t >= 990 for t in _ttls(raw, prefix).values())
    finally:
        await saver.aclose()


def test_without_ttl_keys_do_not_expire(
    saver: RedisCheckpointSaver, raw: redis.Redis, prefix: str
) -> None:
    saver.put(cfg("t"), make_checkpoint({"a": 1}, {"a": "1"}), meta("loop", 0), {"a": "1"})
    assert set(_ttls(raw, prefix).values()) == {-1}


@pytest.mark.asyncio
async def test_missing_client_is_a_clear_error(redis_url: str, prefix: str) -> None:
    sync_client = redis.Redis.from_url(redis_url)
    async_client = redis.asyncio.Redis.from_url(redis_url)
    sync_only = RedisCheckpointSaver(client=sync_client, prefix=prefix)
    with pytest.raises(RuntimeError, match="no async client"):
        await sync_only.aget_tuple(cfg("t"))
    async_only = RedisCheckpointSaver(aclient=async_client, prefix=prefix)
    with pytest.raises(RuntimeError, match="no sync client"):
        async_only.get_tuple(cfg("t"))
    assert await async_only.aget_tuple(cfg("t")) is None
    # clients passed in belong to the caller: closing the saver leaves them open
    await async_only.aclose()
    assert await async_client.ping()
    await async_client.aclose()
    sync_only.close()
    assert sync_client.ping()
    sync_client.close()
    with pytest.raises(ValueError, match="decode_responses"):
        RedisCheckpointSaver(client=redis.Redis.from_url(redis_url, decode_responses=True))
    with pytest.raises(ValueError):
        RedisCheckpointSaver()
    with pytest.raises(ValueError):
        RedisCheckpointSaver(client=redis.Redis.from_url(redis_url), ttl_seconds=0)


def test_next_version_is_an_increasing_string(saver: RedisCheckpointSaver) -> None:
    versions = [saver.get_next_version(None, None)]
    for _ in range(20):
        versions.append(saver.get_next_version(versions[-1], None))
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert saver.get_next_version(5, None).startswith(f"{6:032}.")  # type: ignore[arg-type]


def test_module_docstring_says_why() -> None:
    doc = checkpointer_module.__doc__ or ""
    assert "FT.INFO" in doc and "RedisJSON" in doc and "RediSearch" in doc


# -- inside real LangGraph graphs --------------------------------------------------------------
class Log(TypedDict):
    log: Annotated[list[str], operator.add]


def two_node_graph() -> StateGraph[Log]:
    builder = StateGraph(Log)
    builder.add_node("first", lambda state: {"log": ["first"]})
    builder.add_node("second", lambda state: {"log": [f"second saw {len(state['log'])}"]})
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    return builder


def step_of(snapshot: Any) -> Any:
    return (snapshot.metadata or {}).get("step")


def history_summary(history: list[Any]) -> list[Any]:
    return [
        (s.values, s.next, step_of(s), (s.metadata or {}).get("source"), s.parent_config is None)
        for s in history
    ]


def test_graph_state_continues_and_history_matches_in_memory(
    saver: RedisCheckpointSaver,
) -> None:
    results = {}
    for name, checkpointer in (("memory", InMemorySaver()), ("redis", saver)):
        graph = two_node_graph().compile(checkpointer=checkpointer)
        config: RunnableConfig = {"configurable": {"thread_id": "chat"}}
        graph.invoke({"log": ["hi"]}, config)
        final = graph.invoke({"log": ["again"]}, config)
        history = list(graph.get_state_history(config))
        # time travel: re-run from the first turn's checkpoint before "second"
        before_second = next(s for s in history if s.next == ("second",) and step_of(s) == 1)
        replayed = graph.invoke(None, before_second.config)
        results[name] = (final, history_summary(history), replayed, graph.get_state(config).values)
    assert results["redis"] == results["memory"]
    final, summary, replayed, _ = results["redis"]
    assert final["log"] == ["hi", "first", "second saw 2", "again", "first", "second saw 5"]
    assert [step for _, _, step, _, _ in summary] == [6, 5, 4, 3, 2, 1, 0, -1]
    assert replayed["log"] == ["hi", "first", "second saw 2"]


@pytest.mark.asyncio
async def test_async_graph_state_continues_and_history(asaver: RedisCheckpointSaver) -> None:
    graph = two_node_graph().compile(checkpointer=asaver)
    config: RunnableConfig = {"configurable": {"thread_id": "chat"}}
    await graph.ainvoke({"log": ["hi"]}, config)
    final = await graph.ainvoke({"log": ["again"]}, config)
    assert final["log"] == ["hi", "first", "second saw 2", "again", "first", "second saw 5"]
    history = [s async for s in graph.aget_state_history(config)]
    assert [step_of(s) for s in history] == [6, 5, 4, 3, 2, 1, 0, -1]
    assert history[0].values == final and history[-1].values == {"log": []}
    assert await asaver.athread_exists("chat")


def interrupting_graph() -> StateGraph[Log]:
    def ask(state: Log) -> dict[str, list[str]]:
        answer = interrupt("what is your name?")
        return {"log": [f"hello {answer}"]}

    builder = StateGraph(Log)
    builder.add_node("ask", ask)
    builder.add_node("done", lambda state: {"log": ["done"]})
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "done")
    builder.add_edge("done", END)
    return builder


def test_interrupt_and_resume_with_a_fresh_saver(redis_url: str, prefix: str) -> None:
    """Interrupt with one saver, resume with another: the pause lives in Redis."""
    config: RunnableConfig = {"configurable": {"thread_id": "hitl"}}
    first = RedisCheckpointSaver.from_url(redis_url, prefix=prefix)
    paused = interrupting_graph().compile(checkpointer=first).invoke({"log": ["start"]}, config)
    first.close()
    assert paused["__interrupt__"][0].value == "what is your name?"

    second = RedisCheckpointSaver.from_url(redis_url, prefix=prefix)
    try:
        graph = interrupting_graph().compile(checkpointer=second)
        state = graph.get_state(config)
        assert state.next == ("ask",)
        assert state.tasks[0].interrupts[0].value == "what is your name?"
        resumed = graph.invoke(Command(resume="Ada"), config)
        assert resumed["log"] == ["start", "hello Ada", "done"]
        assert graph.get_state(config).next == ()
    finally:
        second.close()


@pytest.mark.asyncio
async def test_interrupt_inside_a_subgraph_uses_a_child_namespace(
    asaver: RedisCheckpointSaver,
) -> None:
    outer = StateGraph(Log)
    outer.add_node("inner", interrupting_graph().compile())
    outer.add_node("after", lambda state: {"log": ["after"]})
    outer.add_edge(START, "inner")
    outer.add_edge("inner", "after")
    outer.add_edge("after", END)
    graph = outer.compile(checkpointer=asaver)
    config: RunnableConfig = {"configurable": {"thread_id": "nested"}}

    paused = await graph.ainvoke({"log": ["start"]}, config)
    assert paused["__interrupt__"][0].value == "what is your name?"
    namespaces = {
        t.config["configurable"]["checkpoint_ns"]
        async for t in asaver.alist({"configurable": {"thread_id": "nested"}})
    }
    assert "" in namespaces and any(ns.startswith("inner:") for ns in namespaces), namespaces
    state = await graph.aget_state(config, subgraphs=True)
    sub_state = state.tasks[0].state
    assert sub_state is not None and sub_state.next == ("ask",)  # type: ignore[union-attr]

    resumed = await graph.ainvoke(Command(resume="Bo"), config)
    assert resumed["log"][-3:] == ["hello Bo", "done", "after"]
    await asaver.adelete_thread("nested")
    assert [t async for t in asaver.alist({"configurable": {"thread_id": "nested"}})] == []


@pytest.mark.asyncio
async def test_concurrent_writes_of_parallel_tasks(asaver: RedisCheckpointSaver) -> None:
    """LangGraph submits the put_writes of parallel tasks concurrently."""
    stored = await asaver.aput(cfg("t"), make_checkpoint({}, {}), meta("loop", 0), {})
    await asyncio.gather(
        *(
            asaver.aput_writes(stored, [("ch", i), (ERROR, i)], f"task-{i:02d}", f"~{i:02d}")
            for i in range(20)
        )
    )
    found = await asaver.aget_tuple(stored)
    assert found is not None and len(found.pending_writes or []) == 40
    # sorted by (task_path, task_id, idx): each task's error (-1) before its write (0)
    assert found.pending_writes == [
        w for i in range(20) for w in ((f"task-{i:02d}", ERROR, i), (f"task-{i:02d}", "ch", i))
    ]


# -- atomicity: kill -9 in the middle of writes -----------------------------------------------
# The writer puts checkpoints (a 1 MB channel value each) and three writes per
# checkpoint in a loop. It dies by SIGKILL in two ways: killed from outside at a
# random moment, or killing itself halfway through sending the pipeline of a
# put/put_writes (the first part of the bytes reaches Redis, the rest never does),
# which is the crash atomicity is about, made certain instead of left to timing.
WRITER = r"""
import os, signal, sys
from datetime import UTC, datetime
import redis.connection
from langgraph.checkpoint.base.id import uuid6
from interlock.memory.checkpointer import RedisCheckpointSaver

url, prefix, size, round_no, crash = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
armed = []
send = redis.connection.Connection.send_packed_command

def send_or_die(self, command, check_health=True):
    chunks = [command] if isinstance(command, (bytes, str)) else command
    data = b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in chunks)
    if armed and len(data) > size // 2:  # the pipeline carrying the payload
        self._sock.sendall(data[: int(len(data) * armed[0])])
        os.kill(os.getpid(), signal.SIGKILL)
    return send(self, command, check_health)

redis.connection.Connection.send_packed_command = send_or_die
mode, at, fraction = (crash.split(":") + ["", ""])[:3] if crash != "none" else ("none", "-1", "0")
saver = RedisCheckpointSaver.from_url(url, prefix=prefix, ttl_seconds=3600)
config = {"configurable": {"thread_id": "crash", "checkpoint_ns": ""}}
latest = saver.get_tuple(config)
if latest is not None:
    config = latest.config
payload = "x" * size
version = None
for i in range(40):  # bounded: a missed crash ends the run
    version = saver.get_next_version(version, None)
    checkpoint = {
        "v": 4, "id": str(uuid6(clock_seq=i)), "ts": datetime.now(UTC).isoformat(),
        "channel_values": {"step": i, "payload": payload + str(i)},
        "channel_versions": {"step": version, "payload": version},
        "versions_seen": {}, "updated_channels": ["step", "payload"],
    }
    new_versions = {"step": version, "payload": version}
    if mode == "put" and i == int(at):
        armed.append(float(fraction))
    metadata = {"source": "loop", "step": i, "round": round_no}
    config = saver.put(config, checkpoint, metadata, new_versions)
    if mode == "writes" and i == int(at):
        armed.append(float(fraction))
    writes = [("step", i), ("payload", payload + str(i)), ("__interrupt__", i)]
    saver.put_writes(config, writes, f"task-{i}")
    print(i, flush=True)
"""


def _run_writer(
    redis_url: str, prefix: str, size: int, round_no: int, crash: str, kill_after: int | None
) -> int:
    """Run the writer until it dies (crash != "none") or is killed after
    `kill_after` checkpoints; return how many iterations it completed."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, redis_url, prefix, str(size), str(round_no), crash],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=env,
    )
    assert proc.stdout is not None
    done, deadline = 0, time.monotonic() + 60
    try:
        while time.monotonic() < deadline and (kill_after is None or done < kill_after):
            if not proc.stdout.readline():
                break  # the writer died by itself
            done += 1
        if kill_after is not None:
            time.sleep(random.uniform(0, 0.03))  # somewhere inside a later put/put_writes
    finally:
        proc.kill()  # SIGKILL: no cleanup, no finally blocks in the writer
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == -9, err.decode(errors="replace")[-2000:]
    return done


def test_kill_9_mid_write_leaves_every_listed_checkpoint_readable(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    size = 1_000_000
    rng = random.Random()
    crashes: dict[int, tuple[str, int]] = {}
    for round_no in range(3):  # killed from outside, at a random moment
        _run_writer(redis_url, prefix, size, round_no, "none", rng.randint(2, 6))
    for round_no in range(3, 7):  # dies halfway through sending a transaction
        mode, at = ("put", "writes")[round_no % 2], rng.randint(1, 4)
        crash = f"{mode}:{at}:{rng.uniform(0.1, 0.9):.3f}"
        assert _run_writer(redis_url, prefix, size, round_no, crash, None) == at
        crashes[round_no] = (mode, at)

    saver = RedisCheckpointSaver.from_url(redis_url, prefix=prefix, ttl_seconds=3600)
    try:
        index = raw.zrange(f"{prefix}:checkpoint:{{crash}}:ns::index", 0, -1)
        listed = list(saver.list(cfg("crash")))
        assert len(listed) == len(index) >= 3 * 2 + 4
        by_round_step: dict[tuple[int, int], CheckpointTuple] = {}
        parents = set()
        for found in listed:
            step = found.metadata["step"]
            by_round_step[(found.metadata["round"], step)] = found  # type: ignore[typeddict-item]
            assert found.checkpoint["channel_values"] == {
                "step": step,
                "payload": "x" * size + str(step),
            }
            # a put_writes is all or nothing: three writes or none
            writes = found.pending_writes or []
            assert len(writes) in (0, 3), [w[:2] for w in writes]
            if writes:
                assert {(c, v if c != "payload" else len(v)) for _, c, v in writes} == {
                    ("step", step),
                    ("payload", size + len(str(step))),
                    ("__interrupt__", step),
                }
            if found.parent_config is not None:
                parents.add(found.parent_config["configurable"]["checkpoint_id"])
        for round_no, (mode, at) in crashes.items():
            if mode == "put":  # the half-sent checkpoint is not there at all
                assert (round_no, at) not in by_round_step
                assert len(by_round_step[(round_no, at - 1)].pending_writes or []) == 3
            else:  # the checkpoint is, without any of its half-sent writes
                assert by_round_step[(round_no, at)].pending_writes == []
        # every parent link points at a checkpoint that exists
        assert parents <= {t.checkpoint["id"] for t in listed}
        # and every key the thread's registry names exists
        registry = raw.smembers(f"{prefix}:checkpoint:{{crash}}:keys")
        assert registry and all(raw.exists(key) for key in registry)
    finally:
        saver.close()


# -- users: data-removal requests -----------------------------------------------------------
def user_cfg(thread_id: str, user: str, ns: str = "") -> RunnableConfig:
    config = cfg(thread_id, ns)
    config["metadata"] = {"user_id": user}
    return config


def test_all_threads_of_a_user_are_listed_and_deleted(
    saver: RedisCheckpointSaver, raw: redis.Redis, prefix: str
) -> None:
    for thread in ("ada-1", "ada-2"):
        for ns in ("", "child:1"):
            stored = saver.put(
                user_cfg(thread, "ada", ns),
                make_checkpoint({"v": 1}, {"v": "1"}),
                meta("loop", 0),
                {"v": "1"},
            )
            saver.put_writes(stored, [("v", 2)], "task")
    saver.put(user_cfg("bob-1", "bob"), make_checkpoint({}, {}), meta("loop", 0), {})
    saver.put(cfg("nobody"), make_checkpoint({}, {}), meta("loop", 0), {})
    assert saver.list_user_threads("ada") == ["ada-1", "ada-2"]
    assert saver.delete_user_threads("ada") == 2
    assert saver.list_user_threads("ada") == []
    assert not any(b"ada-" in k for k in keys_of(raw, prefix)), "no key of ada's threads is left"
    assert (
        saver.get_tuple(cfg("ada-1")) is None and saver.get_tuple(cfg("ada-2", "child:1")) is None
    )
    assert saver.list_user_threads("bob") == ["bob-1"] and saver.get_tuple(cfg("nobody"))
    assert saver.delete_user_threads("nobody-at-all") == 0


async def test_async_user_threads_and_stale_index_entries(
    asaver: RedisCheckpointSaver, raw: redis.Redis, prefix: str
) -> None:
    await asaver.aput(user_cfg("t1", "cy"), make_checkpoint({}, {}), meta("loop", 0), {})
    await asaver.aput(user_cfg("t2", "cy"), make_checkpoint({}, {}), meta("loop", 0), {})
    # A writer that died between indexing and its checkpoint leaves an entry for
    # a thread that does not exist: listing prunes it, deletion is unaffected.
    raw.sadd(f"{prefix}:user:cy:threads", "never-written")
    await asaver.adelete_thread("t2")  # deleted alone: its index entry goes stale too
    assert await asaver.alist_user_threads("cy") == ["t1"]
    assert raw.smembers(f"{prefix}:user:cy:threads") == {b"t1"}
    assert await asaver.adelete_user_threads("cy") == 1
    assert await asaver.aget_tuple(cfg("t1")) is None
    assert not raw.exists(f"{prefix}:user:cy:threads")


def test_the_user_index_expires_after_the_threads(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    saver = RedisCheckpointSaver.from_url(redis_url, prefix=prefix, ttl_seconds=100)
    saver.put(user_cfg("t", "dee"), make_checkpoint({}, {}), meta("loop", 0), {})
    assert 100 < raw.ttl(f"{prefix}:user:dee:threads") <= 200
    saver.close()
