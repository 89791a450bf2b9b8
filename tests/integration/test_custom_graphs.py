"""Composing graphs from interlock's nodes, as the README shows."""

from __future__ import annotations

import re
from typing import Any

from langgraph.graph import END, START, StateGraph

from interlock.agent import Agent
from interlock.graphs.agent import agent_graph
from interlock.guardrails.policy import InputPolicy, OutputPolicy
from interlock.nodes.generate import Generate
from interlock.nodes.guard import InputGuard, OutputGuard
from interlock.nodes.retrieve import Retrieve
from interlock.state import AgentState, Answer, Document, run_input
from interlock.tools.calculator import calculator


async def test_no_planner_and_a_swapped_retriever(agent: Agent) -> None:
    """guard_in → (custom retriever) → generate → guard_out, checkpointed in Redis."""

    class FixedRetriever:
        async def __call__(self, state: AgentState) -> dict[str, Any]:
            return {
                "documents": [
                    Document(
                        id="note-1",
                        text="The office cat is called Miso.",
                        source="notes.md",
                        title="Office",
                        score=1.0,
                    )
                ]
            }

    graph = StateGraph(AgentState)
    graph.add_node("guard_in", InputGuard(InputPolicy()))
    graph.add_node("retrieve", FixedRetriever())
    graph.add_node("generate", Generate(agent.components.tiers))
    graph.add_node("guard_out", OutputGuard(OutputPolicy()))
    graph.add_edge(START, "guard_in")
    graph.add_edge("guard_in", "retrieve")
    graph.add_edge("retrieve", "generate")
    graph.add_edge("generate", "guard_out")
    graph.add_edge("guard_out", END)
    app = graph.compile(checkpointer=agent.checkpointer)
    config = {"configurable": {"thread_id": "custom-1-" + agent.settings.redis_prefix}}
    out = await app.ainvoke(run_input("What is the office cat called?"), config)
    assert "Miso" in out["answer"]["text"]
    assert [m.type for m in out["messages"]] == ["human", "ai"]
    # the stock retriever also works directly on the agent state, without a planner
    docs = await Retrieve(agent.components.knowledge, top_k=2)(
        {"question": "Which port does interlock use?", "tenant": "default"}
    )
    assert len(docs["documents"]) == 2


async def test_default_graph_with_a_tool_node_in_front(agent: Agent) -> None:
    """Start from the default graph, and answer arithmetic with the calculator tool."""
    graph = agent_graph(agent.components)

    async def arithmetic(state: AgentState) -> dict[str, Any]:
        match = re.fullmatch(
            r"\s*(?:what is|compute)\s+([\d\s+\-*/().]+)\??\s*", state["question"], re.I
        )
        if not match:
            return {}
        value = await calculator.ainvoke({"expression": match.group(1)})
        return {
            "answer": Answer(
                text=f"{match.group(1).strip()} = {value}", citations=[], from_cache=False
            )
        }

    graph.add_node("calculator", arithmetic)
    # planner → calculator → cache: a tool answer skips retrieval and generation like a cache hit
    graph.edges.discard(("planner", "cache"))
    graph.add_edge("planner", "calculator")
    graph.add_edge("calculator", "cache")
    app = graph.compile(checkpointer=agent.checkpointer)
    config = {"configurable": {"thread_id": "custom-2-" + agent.settings.redis_prefix}}
    out = await app.ainvoke(run_input("What is (17 + 3) * 4?"), config)
    assert out["answer"]["text"] == "(17 + 3) * 4 = 80"
    assert out["usage"]["calls"] == 0
