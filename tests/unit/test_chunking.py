from __future__ import annotations

import itertools

from interlock.memory.chunking import chunk_text

DOC = """# Guide

Intro paragraph.

## Install

Run make run.

Then wait.

## Configure

Set INTERLOCK_PORT.
"""


def test_chunks_follow_headings_and_carry_their_title() -> None:
    chunks = chunk_text(DOC, "docs/guide.md")
    assert [c.title for c in chunks] == ["Guide", "Guide > Install", "Guide > Configure"]
    assert chunks[1].text == "Run make run.\n\nThen wait."


def test_ids_are_stable_and_hashes_track_content() -> None:
    first = chunk_text(DOC, "docs/guide.md")
    again = chunk_text(DOC, "docs/guide.md")
    changed = chunk_text(DOC.replace("Then wait.", "Then relax."), "docs/guide.md")
    assert [c.id for c in first] == [c.id for c in again]
    assert [c.id for c in first] == [c.id for c in changed]
    assert first[1].content_hash != changed[1].content_hash
    assert first[0].content_hash == changed[0].content_hash


def test_long_sections_split_with_overlap() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 40 for i in range(6)]
    chunks = chunk_text("# T\n\n" + "\n\n".join(paragraphs), "t.md", max_chars=500)
    assert len(chunks) > 1
    for before, after in itertools.pairwise(chunks):
        assert before.text.split("\n\n")[-1] == after.text.split("\n\n")[0]


def test_plain_text_without_headings_uses_the_file_name() -> None:
    chunks = chunk_text("just text\n\nmore text", "notes/todo.txt")
    assert chunks[0].title == "todo.txt"
