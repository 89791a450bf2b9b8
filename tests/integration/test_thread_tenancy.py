"""Threads belong to a tenant, through every Agent method that takes a thread id."""

from __future__ import annotations

import pytest

from interlock.agent import ATTEMPT, Agent
from interlock.config import Settings
from interlock.errors import ThreadNotFound
from interlock.memory.threads import ThreadConflict


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Short answers: these tests are about threads, and a loaded machine makes long ones slow."""
    return settings.model_copy(update={"max_answer_tokens": 32})


async def test_another_tenant_cannot_read_continue_or_delete_a_thread(agent: Agent) -> None:
    first = await agent.ask("What is interlock?", tenant="acme")
    tid = first.thread_id
    record = await agent.threads.require(tid, "acme")
    assert record.graph_id == "agent" and record.status == "idle" and record.run_id is None

    with pytest.raises(ThreadNotFound, match="does not exist"):
        await agent.ask("What does the planner do?", thread_id=tid, tenant="globex")
    with pytest.raises(ThreadNotFound):
        await agent.stream("What does the planner do?", thread_id=tid, tenant="globex")
    with pytest.raises(ThreadNotFound):
        await agent.messages(tid, tenant="globex")
    with pytest.raises(ThreadNotFound):
        await agent.delete_thread(tid, tenant="globex")
    assert not await agent.thread_exists(tid, tenant="globex")
    assert not await agent.thread_exists(tid)  # the default tenant is just another tenant

    assert await agent.thread_exists(tid, tenant="acme")
    assert [m["role"] for m in await agent.messages(tid, tenant="acme")] == ["human", "ai"]
    await agent.delete_thread(tid, tenant="acme")
    assert not await agent.thread_exists(tid, tenant="acme")
    assert not await agent.checkpointer.athread_exists(tid)


async def test_a_streamed_run_holds_the_thread_and_releases_it_when_stopped(
    agent: Agent,
) -> None:
    first = await agent.ask("What is interlock?")
    run = await agent.stream_graph(
        "What does the planner do?",
        thread_id=first.thread_id,
        stream_mode=["messages", "updates"],
        cache={"no_cache": True},
    )
    busy = await agent.threads.require(first.thread_id, "default")
    assert busy.status == "busy" and busy.run_id == run.run_id
    with pytest.raises(ThreadConflict, match="busy"):
        await agent.stream_graph("Hello", thread_id=first.thread_id, reject_if_busy=True)

    seen: list[tuple[str, object]] = []
    async for mode, payload in run.chunks:
        seen.append((mode, payload))
        if mode == "messages" and ATTEMPT in payload[1]:  # type: ignore[index]
            break  # the first answer token: stop here, as a client that leaves would
    await run.chunks.aclose()
    assert [mode for mode, _ in seen][:3] == ["updates", "updates", "updates"]
    stopped = await agent.threads.require(first.thread_id, "default")
    assert stopped.status == "idle" and stopped.run_id is None
    # The thread is usable again at once.
    after = await agent.ask("What does the cache do?", thread_id=first.thread_id)
    assert after.answer
