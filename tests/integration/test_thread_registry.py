"""Thread records on a real Redis: ownership, leases, search, expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from interlock.errors import ThreadNotFound
from interlock.memory.threads import ThreadConflict, ThreadRegistry


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.Redis.from_url(redis_url)
    yield connection
    await connection.aclose()


@pytest.fixture
def threads(client: aioredis.Redis, prefix: str) -> ThreadRegistry:
    return ThreadRegistry(client, prefix=prefix, ttl_s=600)


async def test_a_thread_is_visible_to_its_tenant_only(threads: ThreadRegistry) -> None:
    made = await threads.create("t-1", "acme", graph_id="agent", metadata={"topic": "vpn"})
    got = await threads.get("t-1", "acme")
    assert got is not None and got.thread_id == "t-1" and got.status == "idle"
    assert got.metadata == {"topic": "vpn"} and got.created_at == made.created_at
    assert got.shown_metadata == {"graph_id": "agent", "topic": "vpn"}
    assert await threads.get("t-1", "globex") is None
    assert await threads.get("t-2", "acme") is None
    # Missing and foreign read the same: nothing tells the other tenant it exists.
    with pytest.raises(ThreadNotFound) as foreign:
        await threads.require("t-1", "globex")
    with pytest.raises(ThreadNotFound) as missing:
        await threads.require("t-9", "globex")
    assert str(foreign.value).replace("t-1", "X") == str(missing.value).replace("t-9", "X")
    with pytest.raises(ThreadNotFound):
        await threads.delete("t-1", "globex")
    with pytest.raises(ThreadNotFound):
        await threads.update_metadata("t-1", "globex", {"topic": "stolen"})
    assert (await threads.require("t-1", "acme")).metadata == {"topic": "vpn"}


async def test_a_taken_id_conflicts_for_everyone(threads: ThreadRegistry) -> None:
    await threads.create("t-1", "acme", metadata={"n": 1})
    with pytest.raises(ThreadConflict, match="already exists"):
        await threads.create("t-1", "acme")
    again = await threads.create("t-1", "acme", metadata={"n": 2}, if_exists="do_nothing")
    assert again.metadata == {"n": 1}
    with pytest.raises(ThreadConflict, match="already exists"):
        await threads.create("t-1", "globex", if_exists="do_nothing")
    assert await threads.search("globex") == []
    assert (await threads.require("t-1", "acme")).tenant == "acme"


async def test_a_run_holds_the_thread_until_it_finishes_or_its_lease_ends(
    threads: ThreadRegistry,
) -> None:
    await threads.create("t-1", "acme")
    await threads.claim("t-1", "run-1", graph_id="agent", lease_s=30)
    busy = await threads.require("t-1", "acme")
    assert busy.status == "busy" and busy.run_id == "run-1" and busy.graph_id == "agent"
    with pytest.raises(ThreadConflict, match="busy with run 'run-1'"):
        await threads.claim("t-1", "run-2", graph_id="agent", lease_s=30, reject_if_busy=True)
    with pytest.raises(ThreadConflict, match="belongs to graph 'agent'"):
        await threads.claim("t-1", "run-3", graph_id="echo", lease_s=30)
    await threads.finish("t-1", "run-1", "error")
    failed = await threads.require("t-1", "acme")
    assert failed.status == "error" and failed.run_id is None
    assert failed.updated_at > busy.created_at

    await threads.claim("t-1", "run-4", graph_id="agent", lease_s=0.3)
    await threads.finish("t-1", "some-other-run", "idle")  # not the holder: the lease stays
    assert (await threads.require("t-1", "acme")).status == "busy"
    await asyncio.sleep(0.5)  # the process running it died: the lease runs out
    assert (await threads.require("t-1", "acme")).status == "idle"
    with pytest.raises(ThreadNotFound):
        await threads.claim("t-gone", "run-5", graph_id="agent", lease_s=30)


async def test_search_filters_sorts_and_pages_one_tenants_threads(
    threads: ThreadRegistry,
) -> None:
    for n in range(5):
        await threads.create(f"a-{n}", "acme", metadata={"team": "red" if n % 2 else "blue"})
    await threads.create("g-0", "globex", metadata={"team": "red"})
    await threads.claim("a-3", "run", graph_id="agent", lease_s=30)

    def ids(records: list) -> list[str]:
        return [r.thread_id for r in records]

    assert ids(await threads.search("acme")) == ["a-4", "a-3", "a-2", "a-1", "a-0"]
    assert ids(await threads.search("acme", metadata={"team": "red"})) == ["a-3", "a-1"]
    assert ids(await threads.search("acme", metadata={"graph_id": "agent"})) == ["a-3"]
    assert ids(await threads.search("acme", status="busy")) == ["a-3"]
    assert ids(await threads.search("acme", descending=False, limit=2, offset=1)) == ["a-1", "a-2"]
    assert ids(await threads.search("acme", ids=["a-0", "g-0"])) == ["a-0"]
    assert ids(await threads.search("globex")) == ["g-0"]
    await threads.forget(["a-0"])  # a user's data removal: the record goes, the index is pruned
    assert ids(await threads.search("acme", metadata={"team": "blue"})) == ["a-4", "a-2"]
    assert "a-0" not in {
        t.decode() for t in await threads.client.zrange(threads._tenant_key("acme"), 0, -1)
    }


async def test_records_expire_with_the_thread_ttl_and_reads_refresh_it(
    threads: ThreadRegistry, client: aioredis.Redis
) -> None:
    await threads.create("t-1", "acme")
    key = threads._record_key("t-1")
    await client.expire(key, 5)
    await threads.get("t-1", "acme")
    assert 590 < await client.ttl(key) <= 600
    merged = await threads.update_metadata("t-1", "acme", {"a": 1})
    merged = await threads.update_metadata("t-1", "acme", {"b": 2})
    assert merged.metadata == {"a": 1, "b": 2}
    assert (await threads.require("t-1", "acme")).metadata == {"a": 1, "b": 2}
    forever = ThreadRegistry(client, prefix=threads.prefix + "-forever", ttl_s=None)
    await forever.create("t-1", "acme")
    assert await client.ttl(forever._record_key("t-1")) == -1
    await client.delete(forever._record_key("t-1"), forever._tenant_key("acme"))
