"""The LangGraph API's wire formats: graph specs, JSON of graph values, SSE events, input."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langgraph.types import Interrupt

from interlock.config import ConfigError, Settings
from interlock.errors import InvalidInput
from interlock.graphs.spec import GraphSpec, parse_graph_spec
from interlock.server.langgraph_api.runner import Chunk, agent_question
from interlock.server.langgraph_api.serde import dumps
from interlock.server.langgraph_api.sse import EventEncoder


def test_graph_specs_parse_like_langgraph_json() -> None:
    assert parse_graph_spec("./graphs/agent.py:graph") == GraphSpec(
        "file", "./graphs/agent.py", "graph"
    )
    assert parse_graph_spec("my_pkg.graphs:make_graph") == GraphSpec(
        "module", "my_pkg.graphs", "make_graph"
    )
    assert parse_graph_spec("C:/work/g.py:graph").target == "C:/work/g.py"
    for bad in ("graph.py", "graph.py:", ":graph", "pkg.mod:not-a-name", "not a module:g"):
        with pytest.raises(ValueError):
            parse_graph_spec(bad)


def test_graphs_setting_is_json_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_GRAPHS", '{"echo": "./echo.py:graph", "rag": "pkg.rag:build"}')
    assert Settings.load().graphs == {"echo": "./echo.py:graph", "rag": "pkg.rag:build"}
    monkeypatch.setenv("INTERLOCK_GRAPHS", '{"agent": "./echo.py:graph"}')
    with pytest.raises(ConfigError, match=r"INTERLOCK_GRAPHS: .*default agent"):
        Settings.load()
    monkeypatch.setenv("INTERLOCK_GRAPHS", '{"echo": "./echo.py"}')
    with pytest.raises(ConfigError, match=r"INTERLOCK_GRAPHS: .*'\./echo\.py'"):
        Settings.load()
    monkeypatch.setenv("INTERLOCK_GRAPHS", '{"a b": "./echo.py:graph"}')
    with pytest.raises(ConfigError, match="graph id 'a b'"):
        Settings.load()


@dataclass
class Point:
    x: int
    tags: set[str]


def test_graph_values_become_the_json_langgraph_sends() -> None:
    value = {
        "messages": [HumanMessage("hi", id="1"), AIMessage("hello", id="2")],
        "interrupt": Interrupt(value="approve?", id="i-1"),
        "point": Point(1, {"a"}),
        "when": datetime(2025, 1, 2, tzinfo=UTC),
        "score": float("nan"),
        "pair": ("a", 1),
    }
    decoded = json.loads(dumps(value))
    assert [m["type"] for m in decoded["messages"]] == ["human", "ai"]
    assert decoded["messages"][1]["content"] == "hello" and decoded["messages"][1]["id"] == "2"
    assert decoded["interrupt"] == {"value": "approve?", "id": "i-1"}
    assert decoded["point"] == {"x": 1, "tags": ["a"]}
    assert decoded["when"] == "2025-01-02T00:00:00+00:00"
    assert decoded["score"] is None  # NaN is not JSON; the SDK's parser refuses it
    assert decoded["pair"] == ["a", 1]
    assert "\n" not in dumps({"text": "two\nlines"})  # one SSE data line


def _events(texts: list[str]) -> list[tuple[str, object]]:
    """Parse SSE text the way the SDK does: event line, one JSON data line, blank line."""
    found = []
    for text in texts:
        head, data, end = text.split("\n", 2)
        assert head.startswith("event: ") and data.startswith("data: ") and end == "\n"
        found.append((head[7:], json.loads(data[6:])))
    return found


def test_messages_tuple_sends_each_chunk_with_its_metadata() -> None:
    encoder = EventEncoder(["messages-tuple"], "run-1")
    meta = {"langgraph_node": "generate"}
    out = _events(list(encoder.encode(Chunk("messages", (AIMessageChunk("Hel", id="m"), meta)))))
    assert out == [("messages", [AIMessageChunk("Hel", id="m").model_dump(), meta])]


def test_messages_mode_sends_metadata_once_then_the_text_so_far() -> None:
    encoder = EventEncoder(["messages"], "run-1")
    meta = {"langgraph_node": "generate"}
    texts: list[str] = []
    for piece in ("The port ", "is 8000."):
        texts += encoder.encode(Chunk("messages", (AIMessageChunk(piece, id="m"), meta)))
    texts += encoder.encode(Chunk("messages", (AIMessage("The port is 8000."), {"n": "out"})))
    out = _events(texts)
    assert [name for name, _ in out] == [
        "messages/metadata",
        "messages/partial",
        "messages/partial",
        "messages/metadata",
        "messages/complete",
    ]
    assert out[0][1] == {"m": {"metadata": meta}}
    assert [data[0]["content"] for name, data in out if name == "messages/partial"] == [  # type: ignore[index]
        "The port ",
        "The port is 8000.",
    ]
    complete = out[4][1][0]  # type: ignore[index]
    assert complete["content"] == "The port is 8000." and complete["id"].startswith("run-run-1-")
    assert out[3][1] == {complete["id"]: {"metadata": {"n": "out"}}}


def test_other_modes_are_named_after_the_mode_and_subgraph() -> None:
    encoder = EventEncoder(["updates", "custom"], "run-1")
    out = _events(
        [
            *encoder.encode(Chunk("updates", {"echo": {"n": 1}})),
            *encoder.encode(Chunk("custom", {"step": 2}, ("child:abc",))),
        ]
    )
    assert out == [("updates", {"echo": {"n": 1}}), ("custom|child:abc", {"step": 2})]


def test_the_agent_answers_the_last_user_message() -> None:
    said = "Which port?"
    assert agent_question({"messages": [{"role": "user", "content": said}]}) == said
    assert agent_question({"messages": [{"type": "human", "content": said}]}) == said
    assert agent_question({"messages": [said]}) == said
    assert agent_question({"messages": [["user", said]]}) == said
    history = [
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "answer"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Which "}, {"type": "text", "text": "port?"}],
        },
    ]
    assert agent_question({"messages": history}) == said
    for bad, reason in (
        (None, "input.messages"),
        ({"question": said}, "input.messages"),
        ({"messages": []}, "input.messages"),
        ({"messages": [{"role": "assistant", "content": said}]}, "no user message"),
        ({"messages": [{"role": "user", "content": 42}]}, "must be text"),
    ):
        with pytest.raises(InvalidInput, match=reason):
            agent_question(bad)
