"""Streaming through the output guard: text is released a sentence at a time.

A streamed draft must not show the user what ``guard_out`` would have
removed (an e-mail address, a card number, a leaked secret). The output
policy's redactors work on whole strings, and the things they find do not
cross a sentence end, so the stream holds text back until a sentence is
complete, runs the policy on it, and releases the redacted sentence. If
the policy refuses a sentence, the stream stops releasing: the run's final
answer (guarded as a whole) says what the user gets instead.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interlock.guardrails.policy import OutputPolicy

# A sentence ends at . ! ? followed by whitespace, or at a line break.
_BOUNDARY = re.compile(r"[.!?](?=\s)|\n")


class GuardedStream:
    def __init__(self, policy: OutputPolicy) -> None:
        self.policy = policy
        self._pending = ""
        self.blocked = False

    async def feed(self, text: str) -> str:
        """Add streamed text; return what may be shown now ('' while a sentence is open)."""
        if self.blocked:
            return ""
        self._pending += text
        end = max((m.end() for m in _BOUNDARY.finditer(self._pending)), default=0)
        if not end:
            return ""
        ready, self._pending = self._pending[:end], self._pending[end:]
        return await self._release(ready)

    async def flush(self) -> str:
        """The draft is complete: release the rest."""
        rest, self._pending = self._pending, ""
        return await self._release(rest) if rest and not self.blocked else ""

    async def _release(self, text: str) -> str:
        if not text.strip():
            return text
        verdict = await self.policy.acheck(text)
        if not verdict.allowed:
            self.blocked = True
            return ""
        # The policy strips surrounding space; keep the stream's own spacing.
        lead = text[: len(text) - len(text.lstrip())]
        trail = text[len(text.rstrip()) :]
        return lead + verdict.text.strip() + trail
