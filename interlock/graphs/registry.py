"""The graphs a server runs: the default agent and the user's own, by graph id.

User graphs are named in ``Settings.graphs`` with langgraph.json's syntax
(``interlock.graphs.spec``). Loading has two steps so each failure shows up
where it can be reported best: ``import_graphs`` imports the code when the
app is built (an import error stops ``interlock serve`` with a ConfigError
naming the graph, before anything listens); ``bind_graphs`` runs when the
Agent exists and compiles each graph with its Redis checkpointer, so user
threads persist in Redis as the agent's do, and any server process can
continue them.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore

from interlock.config import ConfigError
from interlock.graphs.spec import AGENT_GRAPH_ID, GraphSpec, parse_graph_spec

# LangGraph's server names the assistant of a graph uuid5(this, graph id); the
# same ids here mean a client that stored one from a LangGraph deployment (or
# derives it) finds the same graph: "agent" is fe096781-5601-53d2-b2f6-0d3403f7e9ca.
ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


def assistant_id(graph_id: str) -> str:
    return str(uuid.uuid5(ASSISTANT_NAMESPACE, graph_id))


@dataclass(frozen=True)
class ServedGraph:
    """One graph as the API serves it: compiled, with its assistant's id."""

    graph_id: str
    graph: Pregel
    assistant_id: str
    created_at: float
    spec: str | None = None  # where a user graph came from; None for the agent
    # The checkpoints of ``ephemeral`` runs; callers delete a run's thread when it ends.
    memory: InMemorySaver = field(default_factory=InMemorySaver, repr=False, compare=False)

    @property
    def is_agent(self) -> bool:
        return self.graph_id == AGENT_GRAPH_ID

    @cached_property
    def ephemeral(self) -> Pregel:
        """The graph checkpointed in this process's memory, for a run nobody keeps.

        A stateless run deleted when it ends (the LangGraph API's default) has
        no reader for its checkpoints but itself, yet it still needs a
        checkpointer while it runs (interrupts, ``aget_state`` for its final
        values). In Redis that was a thread record, a lease, checkpoints and
        a delete, all round trips; without them (and with the cheaper
        ``server.disconnect`` stream) a one-node graph's run cost the server
        22.5 instead of 31 ms of CPU (benchmarks/http_load.py, one worker).
        (cached_property works on a frozen dataclass: it writes the instance
        ``__dict__`` directly.)
        """
        return self.graph.copy({"checkpointer": self.memory})


class GraphRegistry:
    """Served graphs, found by graph id or assistant id (clients pass either)."""

    def __init__(self, graphs: Mapping[str, ServedGraph]) -> None:
        self._by_id = dict(graphs)
        self._by_assistant = {g.assistant_id: g for g in graphs.values()}

    def resolve(self, assistant_or_graph_id: str) -> ServedGraph | None:
        return self._by_id.get(assistant_or_graph_id) or self._by_assistant.get(
            assistant_or_graph_id
        )

    def __iter__(self) -> Iterator[ServedGraph]:
        return iter(self._by_id.values())


def _load_module(spec: GraphSpec, graph_id: str) -> ModuleType:
    if spec.kind == "module":
        return importlib.import_module(spec.target)
    path = Path(spec.target).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    name = "interlock_user_graph_" + re.sub(r"\W", "_", graph_id)
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(module_spec)
    # Registered before it runs, as an import would: dataclasses and typing
    # resolve names through sys.modules while the module executes.
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def import_graphs(specs: Mapping[str, str]) -> dict[str, object]:
    """Import what each entry names; ConfigError naming the graph if one fails."""
    found: dict[str, object] = {}
    for graph_id, text in specs.items():
        try:
            spec = parse_graph_spec(text)
        except ValueError as exc:
            raise ConfigError(f"graph {graph_id!r}: {exc}") from None
        try:
            module = _load_module(spec, graph_id)
        except Exception as exc:  # the user's code: any error is a configuration error
            raise ConfigError(
                f"graph {graph_id!r} ({spec}): cannot import {spec.target}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not hasattr(module, spec.attr):
            raise ConfigError(f"graph {graph_id!r} ({spec}): {spec.target} has no {spec.attr!r}")
        found[graph_id] = getattr(module, spec.attr)
    return found


async def bind_graph(
    graph_id: str,
    target: object,
    *,
    checkpointer: BaseCheckpointSaver,
    store: BaseStore | None = None,
) -> Pregel:
    """A compiled graph from ``target``, checkpointed by ``checkpointer``.

    ``target`` may be a compiled graph (its checkpointer is replaced, as the
    LangGraph server does), a StateGraph (compiled here), or a zero-argument
    factory, sync or async, returning either.
    """
    value = target
    if not isinstance(value, Pregel | StateGraph) and callable(value):
        try:
            value = value()
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:  # the user's factory
            raise ConfigError(
                f"graph {graph_id!r}: its factory failed: {type(exc).__name__}: {exc}"
            ) from exc
    if isinstance(value, StateGraph):
        return value.compile(checkpointer=checkpointer, store=store, name=graph_id)
    if isinstance(value, Pregel):
        return value.copy({"checkpointer": checkpointer, "store": value.store or store})
    raise ConfigError(
        f"graph {graph_id!r}: got {type(value).__name__}; expected a compiled graph, a "
        "StateGraph, or a zero-argument function returning one"
    )


async def bind_graphs(
    agent_graph: Pregel,
    imported: Mapping[str, object],
    *,
    checkpointer: BaseCheckpointSaver,
    store: BaseStore | None = None,
    specs: Mapping[str, str] | None = None,
) -> GraphRegistry:
    """The registry of the agent graph (``agent``) and the imported user graphs."""
    now = time.time()
    served = {
        AGENT_GRAPH_ID: ServedGraph(AGENT_GRAPH_ID, agent_graph, assistant_id(AGENT_GRAPH_ID), now)
    }
    for graph_id, target in imported.items():
        graph = await bind_graph(graph_id, target, checkpointer=checkpointer, store=store)
        spec = (specs or {}).get(graph_id)
        served[graph_id] = ServedGraph(graph_id, graph, assistant_id(graph_id), now, spec)
    return GraphRegistry(served)
