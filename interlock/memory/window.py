"""The conversation window: which earlier turns the prompt carries, within a token budget.

Rule, stated once here and in the README:

1. Turns are a user message with the replies that followed it; a turn is
   kept or dropped whole, so the model never sees an answer without its
   question.
2. The newest turns are kept while they fit ``budget_tokens`` (and at most
   ``max_messages`` messages).
3. Older turns are summarised extractively — the first sentence of each
   message, "user: …" / "assistant: …", newest first — into at most
   ``summary_tokens``, which the prompt shows as "Earlier in this
   conversation". What does not fit even there is dropped.

Extractive, not a model-written summary: it costs no model call on the
request path, cannot invent what was said, and is deterministic (the
response cache keys on the conversation context).

Tokens are counted with ``count_tokens``: by default ~4 characters per
token (OpenAI's rule of thumb for English). The served model's own
tokenizer is behind the model server, so any local count is an estimate;
the budget leaves room for the difference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage

_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(?:\s|$)", re.S)
_SNIPPET_CHARS = 160


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


@dataclass(frozen=True)
class Window:
    messages: list[BaseMessage]
    summary: str | None = None
    dropped_turns: int = 0


def _turns(history: Sequence[AnyMessage]) -> list[list[BaseMessage]]:
    turns: list[list[BaseMessage]] = []
    for message in history:
        if not isinstance(message, HumanMessage | AIMessage) or not str(message.content).strip():
            continue
        if isinstance(message, HumanMessage) or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns


def _snippet(message: BaseMessage) -> str:
    text = " ".join(str(message.content).split())
    match = _FIRST_SENTENCE.match(text)
    first = match.group(1) if match else text
    if len(first) > _SNIPPET_CHARS:
        first = first[: _SNIPPET_CHARS - 1].rstrip() + "…"
    who = "user" if isinstance(message, HumanMessage) else "assistant"
    return f"{who}: {first}"


@dataclass(frozen=True)
class ConversationWindow:
    budget_tokens: int = 600
    summary_tokens: int = 150
    max_messages: int = 12
    count_tokens: Callable[[str], int] = field(default=estimate_tokens)

    def select(self, history: Sequence[AnyMessage]) -> Window:
        turns = _turns(history)
        kept: list[list[BaseMessage]] = []
        used = 0
        messages = 0
        for turn in reversed(turns):
            cost = sum(self.count_tokens(str(m.content)) for m in turn)
            if used + cost > self.budget_tokens or messages + len(turn) > self.max_messages:
                break
            kept.insert(0, turn)
            used += cost
            messages += len(turn)
        older = turns[: len(turns) - len(kept)]
        lines: list[str] = []
        spent = 0
        for turn in reversed(older):  # newest of the old first: it matters most
            snippets = [_snippet(m) for m in turn]
            cost = sum(self.count_tokens(s) for s in snippets)
            if spent + cost > self.summary_tokens:
                break
            lines[:0] = snippets
            spent += cost
        return Window(
            messages=[m for turn in kept for m in turn],
            summary="\n".join(f"- {line}" for line in lines) or None,
            dropped_turns=len(older),
        )
