"""User graphs from INTERLOCK_GRAPHS: imported, compiled with the Redis checkpointer, or refused."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from interlock.config import ConfigError
from interlock.graphs.registry import assistant_id, bind_graph, bind_graphs, import_graphs
from interlock.memory.checkpointer import RedisCheckpointSaver

GRAPHS = """
from typing_extensions import TypedDict
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    n: int


def bump(state: State) -> dict:
    return {"n": state.get("n", 0) + 1}


builder = StateGraph(State)
builder.add_node("bump", bump)
builder.add_edge(START, "bump")
builder.add_edge("bump", END)

compiled = builder.compile(checkpointer=InMemorySaver())


def factory():
    return builder


async def async_factory():
    return builder.compile()


def failing_factory():
    raise RuntimeError("no database")


not_a_graph = 42
"""


@pytest.fixture
def graphs_file(tmp_path: Path) -> Path:
    path = tmp_path / "graphs.py"
    path.write_text(GRAPHS)
    return path


@pytest.fixture
async def saver(redis_url: str, prefix: str) -> AsyncIterator[RedisCheckpointSaver]:
    checkpointer = RedisCheckpointSaver.from_url(redis_url, prefix=prefix)
    yield checkpointer
    await checkpointer.aclose()


@pytest.mark.parametrize("attr", ["builder", "compiled", "factory", "async_factory"])
async def test_each_kind_of_graph_runs_with_threads_in_redis(
    graphs_file: Path, saver: RedisCheckpointSaver, attr: str
) -> None:
    imported = import_graphs({"bump": f"{graphs_file}:{attr}"})
    graph = await bind_graph("bump", imported["bump"], checkpointer=saver)
    assert graph.checkpointer is saver  # a compiled graph's own saver is replaced
    config = {"configurable": {"thread_id": f"bump-{attr}"}}
    assert (await graph.ainvoke({"n": 1}, config))["n"] == 2
    assert await saver.athread_exists(f"bump-{attr}")
    assert (await graph.ainvoke({"n": 10}, config))["n"] == 11


async def test_graphs_are_found_by_graph_id_or_assistant_id(
    graphs_file: Path, saver: RedisCheckpointSaver
) -> None:
    imported = import_graphs({"bump": f"{graphs_file}:builder"})
    agent = await bind_graph("agent", imported["bump"], checkpointer=saver)
    registry = await bind_graphs(agent, imported, checkpointer=saver)
    assert [g.graph_id for g in registry] == ["agent", "bump"]
    bump = registry.resolve("bump")
    assert bump is not None and registry.resolve(bump.assistant_id) is bump
    assert registry.resolve("nope") is None
    # The ids LangGraph's server derives, so a client's stored assistant ids still work.
    assert assistant_id("agent") == "fe096781-5601-53d2-b2f6-0d3403f7e9ca"


def test_a_module_path_imports_too(
    tmp_path: Path, graphs_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "mygraphs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "rag.py").write_text(graphs_file.read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    imported = import_graphs({"rag": "mygraphs.rag:builder"})
    assert type(imported["rag"]).__name__ == "StateGraph"
    sys.modules.pop("mygraphs.rag", None)
    sys.modules.pop("mygraphs", None)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("{dir}/missing.py:graph", "no such file"),
        ("{dir}/graphs.py:nothing", "has no 'nothing'"),
        ("{dir}/broken.py:graph", "SyntaxError"),
        ("no_such_package.graphs:graph", "ModuleNotFoundError"),
    ],
)
def test_a_graph_that_cannot_be_imported_is_a_config_error_naming_it(
    graphs_file: Path, spec: str, reason: str
) -> None:
    (graphs_file.parent / "broken.py").write_text("def graph(:\n")
    with pytest.raises(ConfigError, match=f"graph 'mine' .*{reason}"):
        import_graphs({"mine": spec.format(dir=graphs_file.parent)})


@pytest.mark.parametrize(
    ("attr", "reason"),
    [
        ("failing_factory", "its factory failed: RuntimeError: no database"),
        ("not_a_graph", "got int; expected a compiled graph"),
    ],
)
async def test_a_graph_that_cannot_be_built_is_a_config_error_naming_it(
    graphs_file: Path, attr: str, reason: str
) -> None:
    imported = import_graphs({"mine": f"{graphs_file}:{attr}"})
    with pytest.raises(ConfigError, match=f"graph 'mine': {reason}"):
        await bind_graph("mine", imported["mine"], checkpointer=InMemorySaver())
