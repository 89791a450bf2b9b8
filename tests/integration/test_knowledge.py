"""The knowledge base against a real LanceDB folder and the real MiniLM model."""

from __future__ import annotations

from pathlib import Path

from interlock.memory.embeddings import MiniLMEmbeddings
from interlock.memory.knowledge import KnowledgeBase


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


async def test_ingest_search_reingest_and_change(
    tmp_path: Path, embeddings: MiniLMEmbeddings
) -> None:
    docs = tmp_path / "docs"
    write(
        docs,
        "ports.md",
        "# Ports\n\n## API\n\nThe API listens on port 8000.\n\n## Cache\n\nRedis uses port 6379.\n",
    )
    write(docs, "cats.md", "# Cats\n\nCats purr when they are content.\n")
    write(docs, "image.png", "not text")
    kb = KnowledgeBase(str(tmp_path / "db"), embeddings)

    first = await kb.ingest([docs])
    assert sorted(first.files_added) == ["docs/cats.md", "docs/ports.md"]
    assert first.files_skipped == ["docs/image.png"]
    assert first.chunks_written == 3

    hits = await kb.search("Which port does the API listen on?", top_k=2)
    assert hits[0]["source"] == "docs/ports.md" and "8000" in hits[0]["text"]
    assert hits[0]["title"] == "Ports > API"
    # Exact tokens (the full-text half of hybrid search) find the number too.
    assert (await kb.search("6379", top_k=1))[0]["title"] == "Ports > Cache"

    again = await kb.ingest([docs])
    assert again.files_added == [] and sorted(again.files_unchanged) == [
        "docs/cats.md",
        "docs/ports.md",
    ]

    write(docs, "cats.md", "# Cats\n\nCats sleep sixteen hours a day.\n")
    changed = await kb.ingest([docs])
    assert changed.files_added == ["docs/cats.md"]
    assert await kb.count() == 3
    top = (await kb.search("how long do cats sleep", top_k=1))[0]
    assert "sixteen" in top["text"]


async def test_tenants_never_see_each_others_chunks(
    tmp_path: Path, embeddings: MiniLMEmbeddings
) -> None:
    kb = KnowledgeBase(str(tmp_path / "db"), embeddings)
    await kb.ingest(
        [write(tmp_path / "a", "secret.md", "# Secret\n\nThe launch code is 1234.\n")],
        tenant="acme",
    )
    await kb.ingest(
        [write(tmp_path / "b", "public.md", "# Public\n\nThe office opens at 9.\n")],
        tenant="globex",
    )
    globex = await kb.search("launch code", tenant="globex", top_k=10)
    assert globex and all(d["source"] == "public.md" for d in globex)
    assert await kb.search("launch code", tenant="nobody", top_k=10) == []
    assert (await kb.search("launch code", tenant="acme", top_k=1))[0]["source"] == "secret.md"
