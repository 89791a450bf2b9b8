"""The LangGraph-compatible API, driven by the official ``langgraph_sdk`` client.

One server process (real HTTP, real Redis, the session's llama-server)
serves the module; it tells tenants apart by a test header
(``tests/e2e/tenant_server.py``) and also serves user graphs declared with
INTERLOCK_GRAPHS from a file written here.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import LangGraphClient, SyncLangGraphClient

from interlock.embedded.model_server import LlamaServer
from tests.e2e.servers import ServerProcess, drop_prefix, interlock_env
from tests.e2e.tenant_server import TENANT_HEADER

QUESTION = {"messages": [{"role": "user", "content": "Which port does interlock listen on?"}]}
# The agent's knobs ride in config.configurable; a cached answer would stream no tokens.
NO_CACHE = {"configurable": {"no_cache": True}}

GRAPHS = """
import asyncio
from typing import Annotated

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt
from typing_extensions import TypedDict  # pydantic describes these on Python 3.11


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    sleep_s: float
    decision: str


async def echo(state: State) -> dict:
    said = state["messages"][-1].content
    get_stream_writer()({"echoing": said})
    await asyncio.sleep(state.get("sleep_s") or 0)
    return {"messages": [AIMessage(content="echo: " + said)]}


def ask(state: State) -> dict:
    return {"decision": interrupt("approve?")}


echo_builder = StateGraph(State)
echo_builder.add_node("echo", echo)
echo_builder.add_edge(START, "echo")
echo_builder.add_edge("echo", END)


def make_approval():
    builder = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile()
"""


@pytest.fixture(scope="module")
def module_prefix(redis_url: str) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    drop_prefix(redis_url, name)


@pytest.fixture(scope="module")
def lg_env(
    redis_url: str, module_prefix: str, llama: LlamaServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    root = tmp_path_factory.mktemp("langgraph_api")
    graphs = root / "graphs.py"
    graphs.write_text(GRAPHS)
    return {
        **interlock_env(redis_url, module_prefix, root, llama.openai_url),
        # Short answers: the API is under test, and a loaded machine makes long ones slow.
        "INTERLOCK_MAX_ANSWER_TOKENS": "48",
        "INTERLOCK_GRAPHS": (
            f'{{"echo": "{graphs}:echo_builder", "approval": "{graphs}:make_approval"}}'
        ),
    }


def tenant_server(env: dict[str, str], log: Path) -> ServerProcess:
    return ServerProcess(env, log, command=("-m", "tests.e2e.tenant_server")).start()


@pytest.fixture(scope="module")
def server(lg_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc = tenant_server(lg_env, tmp_path_factory.mktemp("logs") / "server.log")
    yield proc.url
    proc.stop()


def aclient(url: str, tenant: str | None = None) -> LangGraphClient:
    return get_client(url=url, api_key=None, headers={TENANT_HEADER: tenant} if tenant else None)


def sclient(url: str, tenant: str | None = None) -> SyncLangGraphClient:
    return get_sync_client(
        url=url, api_key=None, headers={TENANT_HEADER: tenant} if tenant else None
    )


def roles(values: dict[str, Any]) -> list[str]:
    return [m["type"] for m in values["messages"]]


def refused(status: int, reason: str, call: Callable[[], object]) -> None:
    """``call`` fails with ``status`` and a reason containing ``reason``, no traceback.

    The SDK raises its typed errors for most calls, and httpx's own for
    ``runs.wait``; both are ``httpx.HTTPStatusError`` carrying the response.
    """
    with pytest.raises(httpx.HTTPStatusError) as failed:
        call()
    response = failed.value.response
    assert response.status_code == status, response.text
    assert reason in response.json()["error"]["reason"], response.text
    assert "Traceback" not in response.text


async def test_a_thread_runs_and_keeps_its_state_and_history(server: str) -> None:
    client = aclient(server)
    thread = await client.threads.create(metadata={"suite": "state"})
    assert thread["status"] == "idle" and thread["values"] is None
    assert thread["metadata"] == {"suite": "state"}

    values = await client.runs.wait(thread["thread_id"], "agent", input=QUESTION)
    assert roles(values) == ["human", "ai"]
    assert values["messages"][0]["content"] == QUESTION["messages"][0]["content"]
    assert values["answer"]["text"] == values["messages"][1]["content"]
    assert values["answer"]["citations"], "the agent's own path ran: retrieval and citations"

    got = await client.threads.get(thread["thread_id"])
    assert got["status"] == "idle" and got["metadata"]["graph_id"] == "agent"
    assert got["updated_at"] > got["created_at"]
    assert roles(got["values"]) == ["human", "ai"]
    state = await client.threads.get_state(thread["thread_id"])
    assert roles(state["values"]) == ["human", "ai"] and state["next"] == []
    assert state["checkpoint"]["thread_id"] == thread["thread_id"]
    history = await client.threads.get_history(thread["thread_id"], limit=100)
    assert len(history) > 3
    assert history[0]["checkpoint"] == state["checkpoint"]
    assert history[-1]["values"].get("messages") in (None, [])  # the run's first step
    assert await client.threads.get_history(thread["thread_id"], limit=2) == history[:2]


async def test_stream_sends_metadata_then_each_mode_then_end(server: str) -> None:
    client = aclient(server)
    thread = await client.threads.create()
    parts = [
        part
        async for part in client.runs.stream(
            thread["thread_id"],
            "agent",
            input=QUESTION,
            stream_mode=["values", "updates", "messages-tuple"],
            config=NO_CACHE,
        )
    ]
    events = [p.event for p in parts]
    assert events[0] == "metadata" and events[-1] == "end"
    run_id = parts[0].data["run_id"]
    assert uuid.UUID(run_id) and parts[0].data["thread_id"] == thread["thread_id"]
    assert {"values", "updates", "messages"} <= set(events)
    nodes = [next(iter(p.data)) for p in parts if p.event == "updates"]
    assert nodes[:3] == ["guard_in", "planner", "cache"] and "generate" in nodes
    messages = [p.data for p in parts if p.event == "messages"]
    tokens = [m for m, meta in messages if meta["langgraph_node"] == "generate"]
    assert tokens and all(m["type"] == "AIMessageChunk" for m in tokens)
    assert "".join(m["content"] for m in tokens).strip(), "the answer streams"
    final = [p.data for p in parts if p.event == "values"][-1]
    written = [m for m, meta in messages if meta["langgraph_node"] == "guard_out"]
    assert written[0]["content"] == final["messages"][-1]["content"] == final["answer"]["text"]

    # "messages": metadata once per message, partials that grow, the final message complete.
    parts = [
        part
        async for part in client.runs.stream(
            thread["thread_id"], "agent", input=QUESTION, stream_mode="messages", config=NO_CACHE
        )
    ]
    events = [p.event for p in parts]
    assert events[0] == "metadata" and events[-1] == "end"
    assert events[1] == "messages/metadata"
    partial: dict[str, list[str]] = {}
    for p in parts:
        if p.event == "messages/partial":
            partial.setdefault(p.data[0]["id"], []).append(p.data[0]["content"])
    assert partial
    for grown in partial.values():  # each draft's text so far, growing
        assert all(b.startswith(a) for a, b in pairwise(grown))
    complete = [p.data[0] for p in parts if p.event == "messages/complete"]
    state = await client.threads.get_state(thread["thread_id"])
    assert complete[-1]["content"] == state["values"]["messages"][-1]["content"]
    assert roles(state["values"]) == ["human", "ai", "human", "ai"]


def test_stateless_runs_leave_no_thread(server: str, redis_url: str, module_prefix: str) -> None:
    client = sclient(server)
    values = client.runs.wait(None, "agent", input=QUESTION)
    assert roles(values) == ["human", "ai"] and values["answer"]["text"]
    parts = list(client.runs.stream(None, "agent", input=QUESTION, stream_mode="updates"))
    assert parts[0].event == "metadata" and parts[-1].event == "end"
    refused(404, "does not exist", lambda: client.threads.get(parts[0].data["thread_id"]))
    # A user graph's stateless run keeps its checkpoints in the server's memory: it
    # answers (interrupts too) and never writes its thread to Redis.
    said = {"messages": [{"role": "user", "content": "hi"}]}
    stream = client.runs.stream(
        None, "echo", input={**said, "sleep_s": 1.0}, stream_mode=["custom", "values"]
    )
    thread_id = next(stream).data["thread_id"]
    assert next(p for p in stream if p.event == "custom").data == {"echoing": "hi"}
    with redis.Redis.from_url(redis_url) as r:  # mid-run: its input is checkpointed
        assert not [k for k in r.scan_iter(f"{module_prefix}*") if thread_id.encode() in k]
    last = [p.data for p in stream if p.event == "values"][-1]
    assert last["messages"][-1]["content"] == "echo: hi"
    assert client.runs.wait(None, "echo", input=said)["messages"][-1]["content"] == "echo: hi"
    paused = client.runs.wait(None, "approval", input={"messages": []})
    assert [i["value"] for i in paused["__interrupt__"]] == ["approve?"]
    refused(404, "does not exist", lambda: client.threads.get(thread_id))
    kept = list(
        client.runs.stream(
            None,
            "echo",
            input={"messages": [{"role": "user", "content": "hi"}]},
            on_completion="keep",
        )
    )
    thread = client.threads.get(kept[0].data["thread_id"])
    assert roles(thread["values"]) == ["human", "ai"]


def test_assistants_list_the_agent_and_the_user_graphs(server: str) -> None:
    client = sclient(server)
    found = client.assistants.search()
    assert [a["graph_id"] for a in found] == ["agent", "echo", "approval"]
    agent = found[0]
    # The id LangGraph's server gives graph "agent" (as in the SDK's docs): ids carry over.
    assert agent["assistant_id"] == "fe096781-5601-53d2-b2f6-0d3403f7e9ca"
    assert client.assistants.get("agent") == agent == client.assistants.get(agent["assistant_id"])
    assert [a["graph_id"] for a in client.assistants.search(graph_id="echo")] == ["echo"]
    drawn = client.assistants.get_graph("echo")
    assert {n["id"] for n in drawn["nodes"]} >= {"__start__", "echo", "__end__"}
    assert "messages" in client.assistants.get_schemas("echo")["input_schema"]["properties"]
    refused(404, "does not exist", lambda: client.assistants.get("no-such-graph"))

    thread = client.threads.create()
    said = {"messages": [{"role": "user", "content": "hello"}]}
    values = client.runs.wait(thread["thread_id"], "echo", input=said)
    assert [m["content"] for m in values["messages"]] == ["hello", "echo: hello"]
    parts = list(
        client.runs.stream(
            thread["thread_id"], "echo", input=said, stream_mode=["custom", "values"]
        )
    )
    assert [p.data for p in parts if p.event == "custom"] == [{"echoing": "hello"}]
    assert client.threads.get(thread["thread_id"])["metadata"]["graph_id"] == "echo"
    # A thread holds one graph's state: another graph may not run on it.
    refused(
        409,
        "belongs to graph 'echo'",
        lambda: client.runs.wait(thread["thread_id"], "agent", input=QUESTION),
    )


def test_threads_are_found_by_metadata(server: str) -> None:
    client = sclient(server)
    suite = uuid.uuid4().hex
    made = [client.threads.create(metadata={"suite": suite, "n": n}) for n in range(3)]
    found = client.threads.search(metadata={"suite": suite})
    assert [t["thread_id"] for t in found] == [t["thread_id"] for t in reversed(made)]
    page = client.threads.search(metadata={"suite": suite}, limit=2, offset=1)
    assert [t["metadata"]["n"] for t in page] == [1, 0]
    assert [
        t["metadata"]["n"] for t in client.threads.search(metadata={"suite": suite, "n": 2})
    ] == [2]
    assert client.threads.count(metadata={"suite": suite}) == 3
    updated = client.threads.update(made[0]["thread_id"], metadata={"n": 9})
    assert updated["metadata"] == {"suite": suite, "n": 9}
    client.threads.delete(made[1]["thread_id"])
    assert len(client.threads.search(metadata={"suite": suite})) == 2


def test_bad_requests_get_404_422_409_501_with_reasons(server: str) -> None:
    client = sclient(server)
    refused(404, "does not exist", lambda: client.threads.get(str(uuid.uuid4())))
    refused(
        404, "if_not_exists", lambda: client.runs.wait(str(uuid.uuid4()), "agent", input=QUESTION)
    )
    made = client.runs.wait(str(uuid.uuid4()), "agent", input=QUESTION, if_not_exists="create")
    assert roles(made) == ["human", "ai"]
    tid = client.threads.create()["thread_id"]
    refused(422, "input.messages", lambda: client.runs.wait(tid, "agent", input={"question": "hi"}))
    blank = {"messages": [{"role": "user", "content": " "}]}
    refused(422, "empty", lambda: client.runs.wait(tid, "agent", input=blank))
    costly = {"configurable": {"max_cost": -1}}
    refused(
        422,
        "config.configurable.max_cost",
        lambda: client.runs.wait(tid, "agent", input=QUESTION, config=costly),
    )
    refused(
        422,
        "stream_mode ['events'] is not served",
        lambda: list(client.runs.stream(tid, "agent", input=QUESTION, stream_mode="events")),
    )
    refused(
        422,
        "stream_mode",
        lambda: list(client.runs.stream(tid, "agent", input=QUESTION, stream_mode="bogus")),  # type: ignore[arg-type]
    )
    refused(
        404,
        "assistant 'nope' does not exist",
        lambda: client.runs.wait(tid, "nope", input=QUESTION),
    )
    # A refused input does not leave the thread it would have created behind.
    fresh = str(uuid.uuid4())
    for graph, body in (("agent", {"question": "hi"}), ("echo", {"messages": []})):
        refused(
            422,
            "input.messages" if graph == "agent" else "user_id",
            lambda g=graph, b=body: client.runs.wait(
                fresh,
                g,
                input=b,
                if_not_exists="create",
                config={"configurable": {"user_id": ""}} if g == "echo" else None,
            ),
        )
    refused(404, "does not exist", lambda: client.threads.get(fresh))
    refused(409, "already exists", lambda: client.threads.create(thread_id=tid))
    assert client.threads.create(thread_id=tid, if_exists="do_nothing")["thread_id"] == tid
    refused(
        501,
        "background runs are not supported",
        lambda: client.runs.create(tid, "agent", input=QUESTION),
    )
    refused(501, "runs are not stored", lambda: client.runs.join(tid, str(uuid.uuid4())))
    refused(501, "runs are not stored", lambda: client.runs.list(tid))
    refused(
        501,
        "multitask_strategy 'enqueue'",
        lambda: client.runs.wait(tid, "agent", input=QUESTION, multitask_strategy="enqueue"),
    )
    bad = httpx.post(f"{server}/threads/{tid}/runs/wait", json={"input": QUESTION})
    assert bad.status_code == 422 and "assistant_id" in bad.json()["error"]["reason"]
    # Nothing above ran on the thread.
    assert client.threads.get(tid)["values"] is None


def test_a_tenant_cannot_reach_another_tenants_thread(server: str) -> None:
    owner, other = sclient(server, "acme"), sclient(server, "globex")
    suite = uuid.uuid4().hex
    thread = owner.threads.create(metadata={"suite": suite})
    tid = thread["thread_id"]
    owner.runs.wait(tid, "agent", input=QUESTION)

    for attempt in (
        lambda: other.threads.get(tid),
        lambda: other.threads.get_state(tid),
        lambda: other.threads.get_history(tid),
        lambda: other.threads.update(tid, metadata={"stolen": True}),
        lambda: other.runs.wait(tid, "agent", input=QUESTION),
        lambda: list(other.runs.stream(tid, "agent", input=QUESTION)),
        lambda: other.threads.delete(tid),
    ):
        refused(404, f"thread '{tid}' does not exist", attempt)
    assert other.threads.search(metadata={"suite": suite}) == []
    assert other.threads.count(metadata={"suite": suite}) == 0
    # Ids are global: taken, whoever took it (the answer says no more than that).
    refused(409, "already exists", lambda: other.threads.create(thread_id=tid))
    # interlock's own routes answer the same.
    foreign = httpx.get(f"{server}/v1/threads/{tid}", headers={TENANT_HEADER: "globex"})
    assert foreign.status_code == 404
    steal = httpx.post(
        f"{server}/v1/agent/invoke",
        json={"question": "What is interlock?", "thread_id": tid},
        headers={TENANT_HEADER: "globex"},
        timeout=60,
    )
    assert steal.status_code == 404

    mine = owner.threads.get(tid)
    assert mine["metadata"] == {"suite": suite, "graph_id": "agent"}
    assert roles(mine["values"]) == ["human", "ai"], "nothing the other tenant did reached it"
    own = httpx.get(f"{server}/v1/threads/{tid}", headers={TENANT_HEADER: "acme"})
    assert [m["role"] for m in own.json()["messages"]] == ["human", "ai"]


async def test_a_client_that_leaves_cancels_its_run(server: str) -> None:
    client = aclient(server)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    slow = {"messages": [{"role": "user", "content": "wait"}], "sleep_s": 30}
    stream = client.runs.stream(tid, "echo", input=slow, stream_mode="updates")
    first = await anext(stream)
    assert first.event == "metadata"
    assert (await client.threads.get(tid))["status"] == "busy"
    with pytest.raises(httpx.HTTPStatusError) as busy:  # multitask_strategy "reject"
        await client.runs.wait(tid, "echo", input=slow)
    assert busy.value.response.status_code == 409 and "busy" in busy.value.response.text
    await stream.aclose()  # the client goes away mid-run

    deadline = time.monotonic() + 5
    while (await client.threads.get(tid))["status"] == "busy":
        assert time.monotonic() < deadline, "the run went on after its client left"
        await asyncio.sleep(0.2)
    state = await client.threads.get_state(tid)
    assert roles(state["values"]) == ["human"] and state["next"] == ["echo"]


def test_an_interrupted_graph_resumes_with_a_command(server: str) -> None:
    client = sclient(server)
    thread = client.threads.create()
    paused = client.runs.wait(thread["thread_id"], "approval", input={"messages": []})
    assert [i["value"] for i in paused["__interrupt__"]] == ["approve?"]
    assert client.threads.get(thread["thread_id"])["status"] == "interrupted"
    done = client.runs.wait(thread["thread_id"], "approval", command={"resume": "yes"})
    assert done["decision"] == "yes" and "__interrupt__" not in done
    assert client.threads.get(thread["thread_id"])["status"] == "idle"


def test_another_server_process_continues_the_thread(
    server: str, lg_env: dict[str, str], tmp_path: Path
) -> None:
    client = sclient(server, "acme")
    thread = client.threads.create()
    client.runs.wait(thread["thread_id"], "agent", input=QUESTION)
    second = tenant_server(lg_env, tmp_path / "second.log")
    try:
        again = sclient(second.url, "acme")
        follow_up = {"messages": [{"role": "user", "content": "And what does the planner do?"}]}
        values = again.runs.wait(thread["thread_id"], "agent", input=follow_up)
        other = sclient(second.url, "globex")
        refused(404, "does not exist", lambda: other.threads.get(thread["thread_id"]))
    finally:
        second.stop()
    assert roles(values) == ["human", "ai", "human", "ai"]
    assert roles(client.threads.get_state(thread["thread_id"])["values"]) == roles(values)


def test_a_graph_that_does_not_load_stops_the_server_naming_it(
    lg_env: dict[str, str], tmp_path: Path
) -> None:
    graphs = tmp_path / "broken.py"
    graphs.write_text("graph = None\n")
    env = {**lg_env, "INTERLOCK_GRAPHS": f'{{"broken": "{graphs}:missing"}}'}
    with pytest.raises(RuntimeError) as failed:
        ServerProcess(env, tmp_path / "broken.log").start(timeout_s=60)
    log = (tmp_path / "broken.log").read_text()
    assert "interlock: error: graph 'broken'" in log and "has no 'missing'" in log, log
    assert "Traceback" not in log
    assert "exited 2" in str(failed.value)
