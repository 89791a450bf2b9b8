from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage

from interlock.models.router import HeuristicClassifier
from interlock.nodes.planner import Planner, split_parts


def test_split_parts_on_questions_and_conjunctions() -> None:
    assert split_parts("What is interlock? How do I configure Redis?") == [
        "What is interlock",
        "How do I configure Redis",
    ]
    assert split_parts("Which port is used and what does the planner do?") == [
        "Which port is used",
        "what does the planner do",
    ]
    assert split_parts("Tell me about cats and dogs") == ["Tell me about cats and dogs"]


def test_classifier_kinds_and_reasons() -> None:
    c = HeuristicClassifier()
    assert c.classify("hello!").kind == "chitchat"
    lookup = c.classify("Which port does interlock use?")
    assert lookup.kind == "lookup" and lookup.score < 0.6
    code = c.classify("Write a python function that parses the config")
    assert code.kind == "code" and code.score >= 0.5 and "code" in code.reasons
    reasoning = c.classify("Explain why the cache key includes the conversation")
    assert reasoning.kind == "reasoning"


def test_planner_plans_retrieval_and_expands_follow_ups() -> None:
    planner = Planner(HeuristicClassifier())
    plan = planner({"question": "hi", "messages": [HumanMessage("hi")]})["plan"]
    assert plan["needs_retrieval"] is False
    state = {
        "question": "and what about its port?",
        "messages": [
            HumanMessage("Where does Redis run?"),
            AIMessage("On 127.0.0.1."),
            HumanMessage("and what about its port?"),
        ],
    }
    plan = planner(state)["plan"]  # type: ignore[arg-type]
    assert plan["needs_retrieval"]
    assert plan["sub_queries"] == ["Where does Redis run? and what about its port"]
