"""The answer prompt, and the numbering of sources it shares with the check.

Sources are shown to the model as ``[1]``, ``[2]`` … in the order of the
state's documents; the hallucination check resolves the model's ``[n]``
markers with the same function, so a marker always means the chunk the
model was shown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from interlock.state import Document

# SmolLM2-class models ramble without a firm system prompt; larger models
# follow it too. Kept short: every token of it is paid on every call.
SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer the question in one or two short sentences, "
    "using only the sources below. Cite the source number in brackets, like [1]. "
    "If the sources do not contain the answer, say that you do not know."
)
# The fallback's second try: narrower, so a small model copies rather than invents.
STRICT_PROMPT = (
    "Answer with one or two sentences taken from the sources below, word for word or "
    "nearly so, each followed by its source number in brackets, like [1]. Add nothing that "
    "the sources do not say. If they do not answer the question, say that you do not know."
)
CHAT_PROMPT = "You are a helpful assistant. Answer in one short sentence."

_MARKER = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True)
class SourceWindow:
    """Which documents the model sees: the best ones within a count and character budget.

    generate and check both hold the same window, so the check resolves
    ``[n]`` against exactly what the model was shown.
    """

    max_sources: int = 3
    max_chars: int = 2000

    def select(self, documents: Sequence[Document]) -> list[Document]:
        shown: list[Document] = []
        used = 0
        for doc in documents[: self.max_sources]:
            if shown and used + len(doc["text"]) > self.max_chars:
                break
            shown.append(doc)
            used += len(doc["text"])
        return shown


def cited_documents(text: str, shown: Sequence[Document]) -> tuple[list[Document], list[str]]:
    """Resolve ``[n]`` markers: (cited documents, markers that point at nothing)."""
    cited: dict[str, Document] = {}
    invalid: list[str] = []
    for match in _MARKER.finditer(text):
        number = int(match.group(1))
        if 1 <= number <= len(shown):
            cited.setdefault(shown[number - 1]["id"], shown[number - 1])
        else:
            invalid.append(match.group(0))
    return list(cited.values()), invalid


def strip_markers(text: str) -> str:
    return re.sub(r"\s*\[\d{1,2}\]", "", text)


def build_messages(
    question: str,
    sources: Sequence[Document],
    *,
    history: Sequence[BaseMessage] = (),
    memories: Sequence[str] = (),
    earlier: str | None = None,
    strict: bool = False,
    schema: Mapping[str, Any] | None = None,
) -> list[BaseMessage]:
    """System prompt with numbered sources and user facts, recent turns, then the question.

    ``earlier`` is the summary of turns older than ``history`` (see
    ``interlock.memory.window``); it goes into the system prompt because
    chat templates of small models accept a system message only first.
    """
    if sources:
        numbered = "\n\n".join(f"[{i}] {d['title']}: {d['text']}" for i, d in enumerate(sources, 1))
        system = f"{STRICT_PROMPT if strict else SYSTEM_PROMPT}\n\nSources:\n{numbered}"
    else:
        system = CHAT_PROMPT
    if memories:
        system += "\n\nWhat the user told you earlier:\n" + "\n".join(f"- {m}" for m in memories)
    if earlier:
        system += "\n\nEarlier in this conversation:\n" + earlier
    if schema:
        # Guided decoding enforces the shape; saying it helps the model fill it sensibly.
        system += "\n\nReply only with JSON matching this schema:\n" + json.dumps(schema)
    turns: list[BaseMessage] = [
        m for m in history if isinstance(m, HumanMessage | AIMessage) and str(m.content).strip()
    ]
    return [SystemMessage(content=system), *turns, HumanMessage(content=question)]
