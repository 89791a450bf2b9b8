"""How hard is a request, and what kind is it? A transparent first classifier.

``HeuristicClassifier`` is a rule-based scorer over surface features
(length, parts, reasoning and code cues): explainable in one line, runs in
microseconds, needs no model. The default is the trained classifier in
``trained_router.py`` behind the same ``RequestClassifier`` protocol (on the
held-out set it is right about the tier far more often; see
benchmarks/router.py). Both the planner and the route node use it, which is
why it lives here and not in a node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from interlock.state import RequestKind

_CHITCHAT = re.compile(
    r"^\s*(hi|hello|hey|thanks|thank you|good (morning|evening|afternoon)|bye|goodbye|"
    r"how are you|who are you|what can you do)\b[\s!.?]*$",
    re.IGNORECASE,
)
_CODE = re.compile(
    r"```|\bdef |\bclass |\bfunction\b|\bregex\b|\bsql\b|\bpython\b|\bjavascript\b|"
    r"\bcode\b|\bstack trace\b|\bcompile",
    re.IGNORECASE,
)
_REASONING = re.compile(
    r"\b(why|explain|compare|contrast|trade-?offs?|prove|derive|step by step|analy[sz]e|"
    r"evaluate|pros and cons|what would happen|design)\b",
    re.IGNORECASE,
)
_SUMMARY = re.compile(r"\b(summari[sz]e|summary|tl;?dr|overview of)\b", re.IGNORECASE)


@dataclass(frozen=True)
class RequestScore:
    """Difficulty in [0, 1] (1 = needs the large model), the kind, and why."""

    score: float
    kind: RequestKind
    reasons: list[str] = field(default_factory=list)


class RequestClassifier(Protocol):
    """Scores requests; ``threshold`` is the route cut-off its scores were made for."""

    threshold: float

    def classify(self, question: str, parts: int = 1) -> RequestScore: ...


class HeuristicClassifier:
    """Weighted surface features; each contribution is named in ``reasons``."""

    threshold = 0.6

    def classify(self, question: str, parts: int = 1) -> RequestScore:
        text = question.strip()
        if _CHITCHAT.match(text):
            return RequestScore(0.0, "chitchat", ["greeting or small talk"])
        score, reasons = 0.1, []
        words = len(text.split())
        if words > 40:
            score += 0.3
            reasons.append(f"long request ({words} words)")
        elif words > 20:
            score += 0.15
            reasons.append(f"medium-length request ({words} words)")
        kind: RequestKind = "lookup"
        if parts > 1:
            score += 0.15 * min(parts - 1, 3)
            reasons.append(f"{parts} parts")
            kind = "multi_part"
        if _SUMMARY.search(text):
            score += 0.2
            reasons.append("summarisation")
            kind = "summary"
        if _REASONING.search(text):
            score += 0.35
            reasons.append("reasoning cue")
            kind = "reasoning"
        if _CODE.search(text):
            score += 0.45
            reasons.append("code")
            kind = "code"
        if not reasons:
            reasons.append("short factual lookup")
        return RequestScore(round(min(score, 1.0), 3), kind, reasons)
