"""Split documents by their structure into retrievable chunks.

Rule: a chunk never crosses a heading, so every chunk is about one section
and carries that section's title; inside a section paragraphs are packed up
to ``max_chars``, and the last paragraph of a chunk is repeated at the start
of the next (overlap) so a fact split across the boundary is still found
whole in one of them. Ids are derived from the source and position, so they
are stable across re-ingestion; the content hash tells whether a chunk
changed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str
    title: str
    position: int
    text: str
    content_hash: str


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sections(text: str, default_title: str) -> list[tuple[str, list[str]]]:
    """(heading path, paragraphs) per section, in document order."""
    sections: list[tuple[str, list[str]]] = []
    path: list[str] = []
    paragraphs: list[str] = []
    buffer: list[str] = []

    def flush_paragraph() -> None:
        if buffer:
            paragraphs.append("\n".join(buffer).strip())
            buffer.clear()

    def flush_section() -> None:
        flush_paragraph()
        if paragraphs:
            sections.append((" > ".join(path) or default_title, list(paragraphs)))
            paragraphs.clear()

    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            flush_section()
            level = len(heading.group(1))
            path[:] = [*path[: level - 1], heading.group(2)]
        elif line.strip():
            buffer.append(line)
        else:
            flush_paragraph()
    flush_section()
    return sections


def chunk_text(
    text: str, source: str, *, max_chars: int = 900, title: str | None = None
) -> list[Chunk]:
    """Chunks of Markdown-shaped text (plain text has no headings: one section).

    ``title`` names text before the first heading (the file name if not given).
    """
    default_title = title or source.rsplit("/", 1)[-1]
    chunks: list[Chunk] = []
    for title, paragraphs in _sections(text, default_title):
        current: list[str] = []
        for paragraph in paragraphs:
            if current and sum(len(p) for p in current) + len(paragraph) > max_chars:
                chunks.append(_make(source, title, len(chunks), current))
                current = [current[-1]] if len(current[-1]) < max_chars // 2 else []
            current.append(paragraph)
        if current:
            chunks.append(_make(source, title, len(chunks), current))
    return chunks


def _make(source: str, title: str, position: int, paragraphs: list[str]) -> Chunk:
    body = "\n\n".join(paragraphs)
    return Chunk(
        id=_digest(f"{source}#{position}")[:24],
        source=source,
        title=title,
        position=position,
        text=body,
        content_hash=_digest(body),
    )
