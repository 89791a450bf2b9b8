"""The stronger groundedness mode: ask a model, sentence by sentence, whether the sources say it.

Embeddings judge closeness of meaning, not entailment; a capable model does
better on paraphrase and on subtle swaps (see the swapped-entity numbers in
benchmarks/results/groundedness.json). This asks the configured large tier
once per answer, with every sentence numbered, for a JSON verdict per
sentence, decoded under a JSON schema so the reply always parses.

Only worth it when the large tier is a stronger model than the one that
wrote the answer (a model grading itself agrees with itself), and it costs a
model call per checked answer, so it is off by default
(``INTERLOCK_CHECK_JUDGE``). When the judge cannot be reached, or leaves a
sentence out, the embedding verdict stands for that sentence.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from interlock.errors import ModelUnavailable
from interlock.models.structured import response_format
from interlock.models.tier import ModelRejected, ModelTier
from interlock.state import Document

log = logging.getLogger(__name__)

VERDICTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdicts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "sentence": {"type": "integer"},
                    "supported": {"type": "boolean"},
                },
                "required": ["sentence", "supported"],
            },
        }
    },
    "required": ["verdicts"],
}
INSTRUCTIONS = (
    "You check answers against sources. For each numbered sentence, decide whether the "
    "sources state it (supported: true) or not: it adds, changes or contradicts something "
    "(supported: false). Judge only by the sources. Reply with JSON."
)


class LLMJudge:
    def __init__(self, tier: ModelTier, *, max_source_chars: int = 4000) -> None:
        self.tier = tier
        self.max_source_chars = max_source_chars

    async def judge(
        self, sentences: Sequence[str], documents: Sequence[Document]
    ) -> list[bool | None]:
        """One verdict per sentence; None where the judge gave none (or could not be reached)."""
        if not sentences:
            return []
        sources = "\n\n".join(f"[{i}] {d['text']}" for i, d in enumerate(documents, 1))
        numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(sentences, 1))
        messages = [
            SystemMessage(content=INSTRUCTIONS),
            HumanMessage(
                content=f"Sources:\n{sources[: self.max_source_chars]}\n\nSentences:\n{numbered}"
            ),
        ]
        # Exactly one verdict per sentence: bounded so decoding cannot run on.
        schema = copy.deepcopy(VERDICTS_SCHEMA)
        schema["properties"]["verdicts"].update(minItems=len(sentences), maxItems=len(sentences))
        try:
            reply = await self.tier.ainvoke(
                messages,
                response_format=response_format(schema, "verdicts"),
                max_tokens=48 * len(sentences) + 32,
                temperature=0.0,
            )
            items = json.loads(reply.text).get("verdicts", [])
        except (ModelUnavailable, ModelRejected, ValueError, AttributeError) as exc:
            log.warning("groundedness judge unavailable, using embeddings only: %s", exc)
            return [None] * len(sentences)
        verdicts: list[bool | None] = [None] * len(sentences)
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            n, supported = item.get("sentence"), item.get("supported")
            if isinstance(n, int) and 1 <= n <= len(sentences) and isinstance(supported, bool):
                verdicts[n - 1] = supported
        return verdicts
