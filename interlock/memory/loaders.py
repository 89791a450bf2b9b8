"""Files to structured text: Markdown, plain text, HTML and PDF.

Every format becomes Markdown-shaped text (``#`` headings, blank-line
paragraphs) so one structure-aware chunker serves them all:

* Markdown and text pass through; a YAML front matter block is read for
  ``title`` and ``tags`` and removed.
* HTML goes through ``markdownify`` (maintained, BeautifulSoup-based):
  ``<h1>``–``<h6>`` become headings, so sections survive; scripts, styles,
  navigation and forms are dropped first.
* PDF goes through ``pypdf`` (pure Python, maintained): text per page, each
  page a section ("Page N") under the document's title. PDFs carry no
  reliable heading structure; pages are the structure they do have.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import yaml

SUFFIXES = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_DROP_TAGS = ("script", "style", "nav", "header", "footer", "form", "noscript", "svg")


class UnreadableDocument(ValueError):
    """A file in a supported format that could not be parsed (corrupt PDF, …)."""


@dataclass(frozen=True)
class LoadedDocument:
    text: str  # Markdown-shaped: headings and blank-line paragraphs
    title: str
    tags: list[str] = field(default_factory=list)


def format_of(name: str) -> str | None:
    return SUFFIXES.get(PurePath(name).suffix.lower())


def _tags(value: Any) -> list[str]:
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, list):
        return [str(t).strip() for t in value if str(t).strip()]
    return []


def _markdown(text: str, default_title: str) -> LoadedDocument:
    match = _FRONT_MATTER.match(text)
    meta: dict[str, Any] = {}
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError:
            loaded = None
        if isinstance(loaded, dict):
            meta = loaded
            text = text[match.end() :]
    title = str(meta.get("title") or default_title)
    return LoadedDocument(text=text, title=title, tags=_tags(meta.get("tags")))


def _html(raw: bytes, default_title: str) -> LoadedDocument:
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    if soup.title:
        soup.title.decompose()
    keywords = soup.find("meta", attrs={"name": "keywords"})
    tags = _tags(keywords.get("content", "")) if keywords is not None else []
    body = soup.body or soup
    text = MarkdownConverter(heading_style="ATX", strip=["img"]).convert_soup(body)
    return LoadedDocument(text=text, title=title or default_title, tags=tags)


def _pdf(raw: bytes, default_title: str) -> LoadedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = reader.metadata.title if reader.metadata else None
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise UnreadableDocument(f"not a readable PDF: {exc}") from exc
    title = str(meta_title or default_title)
    sections = []
    for number, text in enumerate(pages, 1):
        # pypdf ends lines inside paragraphs; a line ending a sentence, or a
        # blank line, closes a paragraph.
        paragraphs = re.sub(r"(?<=[.!?:])\n", "\n\n", text.strip())
        if paragraphs:
            sections.append(f"# {title}\n\n## Page {number}\n\n{paragraphs}")
    return LoadedDocument(text="\n\n".join(sections), title=title)


def load(name: str, raw: bytes) -> LoadedDocument:
    """Parse one document by its file name's suffix; ValueError if unsupported."""
    kind = format_of(name)
    default_title = PurePath(name).stem.replace("-", " ").replace("_", " ")
    if kind in ("markdown", "text"):
        return _markdown(raw.decode("utf-8", errors="replace"), default_title)
    if kind == "html":
        return _html(raw, default_title)
    if kind == "pdf":
        return _pdf(raw, default_title)
    raise ValueError(f"unsupported format: {name} (supported: {', '.join(sorted(SUFFIXES))})")
