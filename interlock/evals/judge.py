"""LLM-judge correctness: one schema-bounded verdict per item from the large tier.

Token overlap and embedding similarity miss paraphrases and miss wrong
numbers; a capable model does better, at one model call per item, so it is
opt-in (``--judge``). The reply is decoded under a JSON schema so it always
parses; when the judge cannot be reached the item's verdict is None and it
is left out of the aggregate instead of counted wrong.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from interlock.errors import ModelUnavailable
from interlock.models.structured import response_format
from interlock.models.tier import ModelRejected, ModelTier

log = logging.getLogger(__name__)

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"correct": {"type": "boolean"}},
    "required": ["correct"],
    "additionalProperties": False,
}
INSTRUCTIONS = (
    "You grade answers. Given a question, the reference answer and a candidate answer, "
    "decide whether the candidate states the reference answer's facts without contradicting "
    "them (extra correct detail is fine). Reply with JSON."
)


class CorrectnessJudge:
    def __init__(self, tier: ModelTier) -> None:
        self.tier = tier

    async def judge(self, question: str, expected: str, answer: str) -> bool | None:
        messages = [
            SystemMessage(content=INSTRUCTIONS),
            HumanMessage(
                content=f"Question: {question}\nReference answer: {expected}\n"
                f"Candidate answer: {answer}"
            ),
        ]
        try:
            reply = await self.tier.ainvoke(
                messages,
                response_format=response_format(VERDICT_SCHEMA, "verdict"),
                max_tokens=24,
                temperature=0.0,
            )
            verdict = json.loads(reply.text).get("correct")
        except (ModelUnavailable, ModelRejected, ValueError, AttributeError) as exc:
            log.warning("correctness judge unavailable for this item: %s", exc)
            return None
        return verdict if isinstance(verdict, bool) else None
