"""The conversation window keeps whole recent turns within budget and summarises older ones."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from interlock.memory.window import ConversationWindow, estimate_tokens
from interlock.models.prompt import build_messages


def conversation(turns: int) -> list:
    history: list = []
    for i in range(turns):
        history += [
            HumanMessage(content=f"Question {i} about topic {i}? More words here."),
            AIMessage(content=f"Answer {i} is this. And a second sentence {i}."),
        ]
    return history


def test_recent_turns_fit_the_budget_and_are_never_split() -> None:
    history = conversation(10)
    per_turn = sum(estimate_tokens(str(m.content)) for m in history[:2])
    window = ConversationWindow(budget_tokens=per_turn * 3 + 1, summary_tokens=1000)
    picked = window.select(history)
    assert picked.messages == history[-6:], "the three newest whole turns"
    assert isinstance(picked.messages[0], HumanMessage)
    assert picked.dropped_turns == 7
    # Older turns: first sentences, oldest first, each message once.
    assert picked.summary is not None
    lines = picked.summary.splitlines()
    assert lines[0] == "- user: Question 0 about topic 0?"
    assert lines[1] == "- assistant: Answer 0 is this."
    assert len(lines) == 14


def test_the_summary_keeps_the_newest_old_turns_and_drops_the_rest() -> None:
    history = conversation(10)
    picked = ConversationWindow(budget_tokens=0, summary_tokens=25).select(history)
    assert picked.messages == []
    assert picked.summary is not None and "Question 9" in picked.summary
    assert "Question 0" not in picked.summary
    nothing = ConversationWindow(budget_tokens=0, summary_tokens=0).select(history)
    assert nothing.summary is None and nothing.dropped_turns == 10


def test_message_cap_and_odd_histories() -> None:
    history = [AIMessage(content="Hello! How can I help?"), *conversation(3)]
    picked = ConversationWindow(budget_tokens=10_000, max_messages=4).select(history)
    assert picked.messages == history[-4:]
    assert ConversationWindow().select([]).messages == []


def test_the_summary_goes_into_the_system_prompt() -> None:
    messages = build_messages("Now?", [], history=[], earlier="- user: Earlier question.")
    assert isinstance(messages[0], SystemMessage)
    assert "Earlier in this conversation:\n- user: Earlier question." in str(messages[0].content)
    assert len(messages) == 2
