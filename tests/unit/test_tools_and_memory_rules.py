from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from interlock.memory.response_cache import conversation_context, normalise
from interlock.nodes.remember import extract_facts
from interlock.tools.calculator import calculator, evaluate


def test_calculator_is_exact_and_refuses_code() -> None:
    assert calculator.invoke({"expression": "(17 + 3) * 2.5"}) == "50"
    assert evaluate("2 ** 10") == 1024
    with pytest.raises(ValueError):
        evaluate("__import__('os').system('true')")
    assert calculator.invoke({"expression": "1/0"}).startswith("error:")


def test_extract_facts_only_what_the_user_said() -> None:
    assert extract_facts("Please remember that I prefer answers in French.") == [
        "I prefer answers in French"
    ]
    assert extract_facts("My name is Ada, what is interlock?") == ["My name is Ada"]
    assert extract_facts("What port does interlock use?") == []


def test_cache_context_is_the_turns_before_the_question() -> None:
    messages = [HumanMessage("q1"), AIMessage("a1"), HumanMessage("q2")]
    assert conversation_context(messages, 6) == ["human: q1", "ai: a1"]
    assert conversation_context([*messages, AIMessage("a2")], 6) == ["human: q1", "ai: a1"]
    assert normalise("  What IS   interlock?? ") == "what is interlock"
