"""The default agent graph: every node of the request path, wired as DESIGN.md draws it.

``agent_graph(components)`` returns the *uncompiled* ``StateGraph`` so a user
can still change it before compiling, and ``build_agent_graph`` compiles it
with a checkpointer and store. Nodes receive their dependencies here, from
``AgentComponents``; none of them reaches for a global.

    guard_in ─▶ planner ─▶ cache ─hit──────────────────────────▶ guard_out ─▶ remember
       │refuse               │miss                                   ▲
       ▼                     ▼                                       │
      END          retrieve ×N + recall ─▶ route ─▶ generate ─▶ check
                                                      ▲          │ unsupported / error
                                                      └─ fallback ◀┘ (─▶ END when nothing is left)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.types import Send

from interlock.config import Settings
from interlock.guardrails.groundedness import GroundednessChecker
from interlock.guardrails.policy import InputPolicy, OutputPolicy
from interlock.memory.knowledge import KnowledgeBase
from interlock.memory.response_cache import ResponseCache
from interlock.memory.semantic_cache import SemanticCache
from interlock.memory.window import ConversationWindow
from interlock.models.prompt import SourceWindow
from interlock.models.router import HeuristicClassifier, RequestClassifier
from interlock.models.tier import ModelTier
from interlock.nodes.cache import CacheLookup
from interlock.nodes.check import Check, after_check
from interlock.nodes.fallback import Fallback, after_fallback
from interlock.nodes.generate import Generate
from interlock.nodes.guard import InputGuard, OutputGuard, after_input_guard
from interlock.nodes.planner import Planner
from interlock.nodes.remember import Remember
from interlock.nodes.retrieve import RecallMemories, Retrieve
from interlock.nodes.route import Route
from interlock.state import AgentState, RetrieveTask, Tier

GRAPH_NAME = "interlock-agent"


@dataclass
class AgentComponents:
    """Everything the default nodes depend on; swap any field to change behaviour."""

    tiers: dict[Tier, ModelTier]
    knowledge: KnowledgeBase
    cache: ResponseCache
    checker: GroundednessChecker
    store: BaseStore | None = None
    semantic_cache: SemanticCache | None = None
    input_policy: InputPolicy = field(default_factory=InputPolicy)
    output_policy: OutputPolicy = field(default_factory=OutputPolicy)
    classifier: RequestClassifier = field(default_factory=HeuristicClassifier)
    window: SourceWindow = field(default_factory=SourceWindow)
    settings: Settings = field(default_factory=Settings.load)


def fan_out_retrieval(state: AgentState) -> list[Send] | str:
    """After a cache miss: one retrieve branch per sub-query, plus memory recall."""
    if state.get("answer") is not None:
        return "guard_out"
    plan = state.get("plan")
    if plan is None or not plan["needs_retrieval"]:
        return "route"
    tenant = state.get("tenant", "default")
    sends = [Send("retrieve", RetrieveTask(query=q, tenant=tenant)) for q in plan["sub_queries"]]
    sends.append(Send("recall", state))
    return sends


def agent_graph(components: AgentComponents) -> StateGraph:
    s = components.settings
    tiers = components.tiers
    graph = StateGraph(AgentState)
    graph.add_node("guard_in", InputGuard(components.input_policy))
    graph.add_node("planner", Planner(components.classifier))
    graph.add_node(
        "cache",
        CacheLookup(
            components.cache,
            semantic=components.semantic_cache,
            context_messages=s.history_messages,
        ),
    )
    graph.add_node("retrieve", Retrieve(components.knowledge, top_k=s.retrieval_top_k))
    if components.store is not None:
        graph.add_node("recall", RecallMemories(components.store, top_k=s.memory_top_k))
    else:
        graph.add_node("recall", lambda state: {"memories": []})
    graph.add_node(
        "route",
        Route(
            components.classifier,
            tiers,
            threshold=s.route_threshold,
            answer_tokens=s.max_answer_tokens,
        ),
    )
    graph.add_node(
        "generate",
        Generate(
            tiers,
            window=components.window,
            conversation=ConversationWindow(
                budget_tokens=s.history_tokens, max_messages=s.history_messages
            ),
        ),
    )
    graph.add_node(
        "check",
        Check(components.checker, threshold=s.check_threshold, window=components.window),
    )
    graph.add_node(
        "fallback",
        Fallback(tiers, max_attempts=s.max_attempts, semantic=components.semantic_cache),
    )
    graph.add_node("guard_out", OutputGuard(components.output_policy))
    graph.add_node(
        "remember",
        Remember(
            components.cache,
            components.store,
            semantic=components.semantic_cache,
            context_messages=s.history_messages,
        ),
    )

    graph.add_edge(START, "guard_in")
    graph.add_conditional_edges(
        "guard_in", after_input_guard, {"allowed": "planner", "refused": END}
    )
    graph.add_edge("planner", "cache")
    graph.add_conditional_edges(
        "cache", fan_out_retrieval, ["retrieve", "recall", "route", "guard_out"]
    )
    graph.add_edge("retrieve", "route")
    graph.add_edge("recall", "route")
    graph.add_edge("route", "generate")
    graph.add_edge("generate", "check")
    graph.add_conditional_edges(
        "check", after_check, {"accept": "guard_out", "fallback": "fallback"}
    )
    graph.add_conditional_edges(
        "fallback",
        after_fallback,
        {"retry": "generate", "answer": "guard_out", "give_up": END},
    )
    graph.add_edge("guard_out", "remember")
    graph.add_edge("remember", END)
    return graph


def build_agent_graph(
    components: AgentComponents,
    *,
    checkpointer: BaseCheckpointSaver | None = None,
    store: BaseStore | None = None,
) -> CompiledStateGraph:
    """The default agent, compiled: the one call most users need."""
    return agent_graph(components).compile(
        checkpointer=checkpointer, store=store or components.store, name=GRAPH_NAME
    )
