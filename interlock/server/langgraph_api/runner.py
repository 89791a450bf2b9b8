"""Starting a run for the LangGraph API, on the agent graph or a user's graph.

The agent graph runs through ``Agent.stream_graph``, the same path as
``/v1/agent/*``, so the guards, PII redaction, tenancy, caches and the
thread's lease all apply; its input is the last user message of
``input.messages``. A user graph runs directly on its compiled graph with
the input as given, under the same thread records and leases.

A started run is an async iterator of ``Chunk`` (one item of a LangGraph
stream mode) ending with one ``Finished`` (final values or a failure). All
input errors are raised by ``start_run``, before a response starts.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import anyio
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Send, StreamMode

from interlock.agent import GraphRun, redis_unavailable, run_error, validate_thread_id
from interlock.errors import InterlockError, InvalidInput, ThreadNotFound
from interlock.graphs.registry import ServedGraph
from interlock.memory.threads import RunOutcome
from interlock.server.langgraph_api.deps import Caller
from interlock.server.langgraph_api.errors import NotSupported
from interlock.server.langgraph_api.schemas import AgentOptions, RunCreate, interrupt_json
from interlock.tracing import RunTrace

log = logging.getLogger(__name__)

# SDK stream mode -> the graph stream mode that feeds it.
GRAPH_MODE = {
    "values": "values",
    "updates": "updates",
    "messages": "messages",
    "messages-tuple": "messages",
    "custom": "custom",
    "tasks": "tasks",
    "checkpoints": "checkpoints",
    "debug": "debug",
}
AGENT_MODES = ("values", "updates", "messages", "messages-tuple")


@dataclass(frozen=True)
class Chunk:
    mode: str  # a graph stream mode (values, updates, messages, custom…)
    payload: Any
    namespace: tuple[str, ...] = ()  # the subgraph it came from, with stream_subgraphs


@dataclass(frozen=True)
class Failure:
    error: str  # the error's type name
    message: str

    def json(self) -> dict[str, str]:
        return {"error": self.error, "message": self.message}


@dataclass(frozen=True)
class Finished:
    values: Any
    failure: Failure | None = None


RunItem = Chunk | Finished


@dataclass(frozen=True)
class StartedRun:
    run_id: str
    thread_id: str
    stateless: bool
    items: AsyncIterator[RunItem]

    @property
    def location(self) -> str:
        """What the SDK's ``on_run_created`` reads from ``Content-Location``."""
        if self.stateless:
            return f"/runs/{self.run_id}"
        return f"/threads/{self.thread_id}/runs/{self.run_id}"


async def _shielded(step: Awaitable[object], what: str) -> None:
    """Clean-up that must happen even when the run was cancelled (its client left)."""
    with anyio.CancelScope(shield=True):
        try:
            await step
        except Exception as exc:  # clean-up is best effort; leases and TTLs cover the rest
            log.warning("could not %s: %s: %s", what, type(exc).__name__, exc)


def graph_modes(requested: Sequence[str], served: ServedGraph) -> list[str]:
    """The graph stream modes that produce the requested SDK modes."""
    allowed = AGENT_MODES if served.is_agent else tuple(GRAPH_MODE)
    refused = [m for m in requested if m not in allowed]
    if refused:
        raise InvalidInput(
            f"stream_mode {refused} is not served for graph {served.graph_id!r}; "
            f"use any of {list(allowed)}"
        )
    return list(dict.fromkeys(GRAPH_MODE[m] for m in requested))


def check_options(body: RunCreate, *, streaming: bool) -> None:
    """Refuse what the LangGraph server offers and this one does not, saying so."""
    if body.webhook:
        raise NotSupported("webhooks are not supported; read the result from the run itself")
    if body.after_seconds:
        raise NotSupported("delayed runs (after_seconds) are not supported")
    if body.stream_resumable:
        raise NotSupported("resumable streams are not supported: a run lives in its request")
    if streaming and body.on_disconnect == "continue":
        raise NotSupported(
            "on_disconnect='continue' needs background runs, which are not supported: "
            "a streamed run is cancelled when its client disconnects"
        )
    if body.multitask_strategy not in (None, "reject"):
        raise NotSupported(
            f"multitask_strategy {body.multitask_strategy!r} is not supported; "
            "a run on a busy thread is rejected with 409"
        )
    if body.input is not None and body.command is not None:
        raise InvalidInput("give either input or command, not both")


def _message_role_and_text(message: object) -> tuple[str, object]:
    if isinstance(message, str):
        return "user", message
    if isinstance(message, list | tuple) and len(message) == 2:
        return str(message[0]), message[1]
    if isinstance(message, dict):
        return str(message.get("role") or message.get("type") or ""), message.get("content")
    return "", None


def agent_question(graph_input: Mapping[str, Any] | None) -> str:
    """The agent's question: the last user message of ``input.messages``.

    Earlier messages are not replayed: the thread already holds the
    conversation, and the agent adds to it.
    """
    messages = (graph_input or {}).get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidInput(
            "input.messages must list the conversation, ending with the user's message: "
            '{"messages": [{"role": "user", "content": "..."}]}'
        )
    for message in reversed(messages):
        role, content = _message_role_and_text(message)
        if role not in ("user", "human"):
            continue
        if isinstance(content, list):  # content blocks: the text ones
            content = "".join(
                str(block.get("text", ""))
                for block in content
                if isinstance(block, dict) and block.get("type") == "text"
            )
        if not isinstance(content, str):
            raise InvalidInput("the user message's content must be text")
        return content
    raise InvalidInput("input.messages has no user message (role 'user') to answer")


def _user_of(body: RunCreate) -> str:
    configurable = (body.config or {}).get("configurable") or {}
    user = configurable.get("user_id", "anonymous")
    if not isinstance(user, str) or not 1 <= len(user) <= 128:
        raise InvalidInput("config.configurable.user_id must be a string of 1-128 characters")
    return user


async def _open_thread(
    caller: Caller, thread_id: str, served: ServedGraph, body: RunCreate
) -> None:
    validate_thread_id(thread_id)
    with redis_unavailable():
        if await caller.threads.get(thread_id, caller.tenant) is not None:
            return
        if body.if_not_exists != "create":
            raise ThreadNotFound(
                f"thread {thread_id!r} does not exist; create it first, "
                "or pass if_not_exists='create'"
            )
        await caller.threads.create(
            thread_id, caller.tenant, graph_id=served.graph_id, if_exists="do_nothing"
        )


async def start_run(
    caller: Caller,
    served: ServedGraph,
    thread_id: str | None,
    body: RunCreate,
    *,
    modes: Sequence[str],
    lease_s: float,
) -> StartedRun:
    """Validate and start a run (``thread_id`` None: stateless, on a temporary thread).

    ``modes`` are graph stream modes (``graph_modes``); none for ``runs.wait``.
    """
    check_options(body, streaming=bool(modes))
    # Input errors first: a bad request must not leave a thread behind (if_not_exists).
    agent_input = _agent_input(body) if served.is_agent else None
    graph_input = _graph_input(caller, body) if agent_input is None else None
    if thread_id is not None:
        await _open_thread(caller, thread_id, served, body)
    delete_after = thread_id is None and body.on_completion != "keep"
    if agent_input is not None:
        return await _start_agent(caller, thread_id, *agent_input, modes, delete_after)
    assert graph_input is not None
    return await _start_graph(
        caller, served, thread_id, body, *graph_input, modes, delete_after, lease_s
    )


# -- the agent graph ---------------------------------------------------------------------
def _agent_input(body: RunCreate) -> tuple[str, AgentOptions]:
    """The agent's question and options, or why the request does not suit the agent graph."""
    if body.command is not None or body.interrupt_before or body.interrupt_after:
        raise InvalidInput("the agent graph takes input.messages; command and interrupts are not")
    if body.checkpoint or body.checkpoint_id:
        raise InvalidInput("the agent graph runs from the thread's latest state, not a checkpoint")
    options = AgentOptions.of(body.config)
    return agent_question(body.input), options


async def _start_agent(
    caller: Caller,
    thread_id: str | None,
    question: str,
    options: AgentOptions,
    modes: Sequence[str],
    delete_after: bool,
) -> StartedRun:
    run = await caller.agent.stream_graph(
        question,
        thread_id=thread_id,
        user_id=caller.principal.user_for(options.user_id),
        tenant=caller.tenant,
        stream_mode=modes,
        reject_if_busy=True,
        cache=options.cache(),
        limits=options.limits(),
        response_schema=options.response_schema,
        cap=caller.principal.cap,
    )
    items = _agent_items(caller, run, delete_after=delete_after)
    return StartedRun(run.run_id, run.thread_id, thread_id is None, items)


async def _agent_items(
    caller: Caller, run: GraphRun, *, delete_after: bool
) -> AsyncIterator[RunItem]:
    final: dict[str, Any] | None = None
    failure: Failure | None = None
    try:
        async for mode, payload in run.chunks:
            if mode == "final":
                final = payload
            else:
                yield Chunk(mode, payload)
    except InterlockError as exc:
        failure = Failure(type(exc).__name__, exc.reason)
    finally:
        if delete_after:
            await _shielded(
                caller.agent.delete_thread(run.thread_id, caller.tenant),
                "delete a stateless thread",
            )
    if final is not None:
        await caller.settle(final.get("usage"))
        if error := run_error(final):
            failure = Failure(type(error).__name__, error.reason)
    yield Finished(final, failure)


# -- user graphs -------------------------------------------------------------------------
def _command(data: Mapping[str, Any]) -> Command:
    """A ``Command`` from its JSON: resume, update, goto (node names or ``{node, input}``)."""
    fields: dict[str, Any] = {k: data[k] for k in ("resume", "update") if data.get(k) is not None}
    goto = data.get("goto")
    if goto is not None:
        targets = goto if isinstance(goto, list) else [goto]
        fields["goto"] = [
            Send(t["node"], t.get("input")) if isinstance(t, dict) and "node" in t else t
            for t in targets
        ]
    return Command(**fields)


def _graph_input(caller: Caller, body: RunCreate) -> tuple[Any, str]:
    """A user graph's input (a ``Command`` when given one) and the user it runs for."""
    graph_input = _command(body.command) if body.command is not None else body.input
    return graph_input, caller.principal.user_for(_user_of(body))


def _graph_config(served: ServedGraph, body: RunCreate, trace: RunTrace) -> RunnableConfig:
    """The caller's config with interlock's: thread, tenant, tracing, run id (ours win)."""
    thread_id, run_id = trace.thread_id, trace.run_id
    given = body.config or {}
    configurable = dict(given.get("configurable") or {})
    configurable["thread_id"] = thread_id
    for key, value in (body.checkpoint or {}).items():
        if key in ("checkpoint_id", "checkpoint_ns", "checkpoint_map") and value is not None:
            configurable[key] = value
    if body.checkpoint_id:
        configurable["checkpoint_id"] = body.checkpoint_id
    base = trace.config()
    config = RunnableConfig(
        configurable=configurable,
        callbacks=base.get("callbacks"),
        run_name=served.graph_id,
        run_id=uuid.UUID(run_id),
        metadata={
            **(body.metadata or {}),
            **base.get("metadata", {}),
            "graph_id": served.graph_id,
            "assistant_id": served.assistant_id,
            "run_id": run_id,
            "thread_id": thread_id,
        },
    )
    for key in ("tags", "recursion_limit", "max_concurrency"):
        if key in given:
            config[key] = given[key]  # type: ignore[literal-required]
    return config


async def _start_graph(
    caller: Caller,
    served: ServedGraph,
    thread_id: str | None,
    body: RunCreate,
    graph_input: Any,
    user: str,
    modes: Sequence[str],
    delete_after: bool,
    lease_s: float,
) -> StartedRun:
    stateless = thread_id is None
    thread = thread_id or str(uuid.uuid4())
    run_id = str(uuid.uuid4())
    trace = caller.agent.tracer.start(
        run_id=run_id, thread_id=thread, user_id=user, tenant=caller.tenant, graph=served.graph_id
    )
    config = _graph_config(served, body, trace)
    if stateless and delete_after:
        # Nobody can read this thread (its id is new and deleted at the end): no record,
        # no lease, checkpoints in memory (ServedGraph.ephemeral).
        items = _graph_items(
            caller, served, body, graph_input, config, trace, modes, ephemeral=True
        )
        return StartedRun(run_id, thread, stateless, items)
    with redis_unavailable():
        if stateless:
            await caller.threads.create(thread, caller.tenant, graph_id=served.graph_id)
        try:
            await caller.threads.claim(
                thread, run_id, graph_id=served.graph_id, lease_s=lease_s, reject_if_busy=True
            )
        except BaseException:
            if stateless:
                await caller.threads.delete(thread, caller.tenant)
            raise
    items = _graph_items(
        caller, served, body, graph_input, config, trace, modes, delete_after=delete_after
    )
    return StartedRun(run_id, thread, stateless, items)


async def _graph_items(
    caller: Caller,
    served: ServedGraph,
    body: RunCreate,
    graph_input: Any,
    config: RunnableConfig,
    trace: RunTrace,
    modes: Sequence[str],
    *,
    delete_after: bool = False,
    ephemeral: bool = False,
) -> AsyncIterator[RunItem]:
    """The run's items; ``ephemeral``: on ``served.ephemeral``, outside the thread registry."""
    conf = config["configurable"]
    thread_id, run_id = conf["thread_id"], str(config["run_id"])
    graph = served.ephemeral if ephemeral else served.graph
    outcome: RunOutcome = "error"
    final: Any = None
    failure: Failure | None = None
    cancelled = False
    try:
        async for item in graph.astream(
            graph_input,
            config,
            stream_mode=cast(list[StreamMode], list(modes) or ["values"]),
            subgraphs=body.stream_subgraphs,
            interrupt_before=body.interrupt_before,
            interrupt_after=body.interrupt_after,
            context=cast(Any, body.context),
            durability=body.durability,
        ):
            namespace, mode, payload = item if body.stream_subgraphs else ((), *item)
            if mode in modes:
                yield Chunk(mode, payload, tuple(namespace))
        snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
        final = snapshot.values
        outcome = "idle"
        if snapshot.interrupts and isinstance(final, dict):
            final = {**final, "__interrupt__": [interrupt_json(i) for i in snapshot.interrupts]}
            outcome = "interrupted"
    except (asyncio.CancelledError, GeneratorExit):
        outcome = "idle"  # stopped (client gone, time up), not failed
        cancelled = True
        raise
    except Exception as exc:  # the user's graph failed: the caller gets why
        log.warning("run %s of graph %s failed", run_id, served.graph_id, exc_info=True)
        failure = Failure(type(exc).__name__, str(exc) or type(exc).__name__)
    finally:
        await caller.agent.tracer.finish(
            trace,
            final if isinstance(final, dict) else None,
            "cancelled" if cancelled else "error" if failure else "ok",
            f"{failure.error}: {failure.message}" if failure else None,
        )
        if ephemeral:
            await served.memory.adelete_thread(thread_id)
        else:
            await _shielded(caller.threads.finish(thread_id, run_id, outcome), "release a thread")
        if delete_after:
            await _shielded(
                caller.agent.delete_thread(thread_id, caller.tenant), "delete a stateless thread"
            )
    yield Finished(final, failure)
