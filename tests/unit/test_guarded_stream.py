"""Streamed drafts pass the output guard a sentence at a time."""

from __future__ import annotations

from interlock.guardrails.policy import OutputPolicy
from interlock.guardrails.streaming import GuardedStream


async def test_text_is_held_until_a_sentence_ends_then_redacted() -> None:
    stream = GuardedStream(OutputPolicy())
    released = []
    for piece in ["Write to ", "ada.lovelace@", "example.com", " today.", " Or call", " later"]:
        released.append(await stream.feed(piece))
    assert released[:3] == ["", "", ""], "nothing leaves before the sentence is complete"
    first = "".join(released)
    assert "ada.lovelace@example.com" not in first and first.startswith("Write to ")
    assert first.endswith("today.")
    assert (await stream.flush()).strip() == "Or call later"
    assert await stream.flush() == ""
