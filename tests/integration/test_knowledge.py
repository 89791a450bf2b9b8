"""The knowledge base against a real LanceDB folder and the real MiniLM model."""

from __future__ import annotations

from pathlib import Path

from interlock.memory.embeddings import MiniLMEmbeddings
from interlock.memory.knowledge import KnowledgeBase
from tests.fixtures.make_pdf import pdf_bytes


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


HTML = b"""<html><head><title>Deploy Guide</title>
<meta name="keywords" content="ops, deploy"><script>var x = "ignore me";</script></head>
<body><nav>Home | About</nav><h1>Deploying</h1><p>Run two API pods behind a Service.</p>
<h2>Scaling</h2><p>Scale the API on CPU above 70 percent.</p></body></html>"""


async def test_html_and_pdf_are_chunked_by_their_structure(
    tmp_path: Path, embeddings: MiniLMEmbeddings
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "deploy.html").write_bytes(HTML)
    (docs / "guide.pdf").write_bytes(
        pdf_bytes(
            [
                ["Backups run nightly at 2am.", "They are kept for 30 days."],
                ["Restores take one hour."],
            ],
            title="Ops Guide",
        )
    )
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    kb = KnowledgeBase(str(tmp_path / "db"), embeddings)
    report = await kb.ingest([docs])
    assert sorted(report.files_added) == ["docs/deploy.html", "docs/guide.pdf"]
    assert list(report.files_failed) == ["docs/broken.pdf"]
    scaling = (await kb.search("when to scale the API", top_k=1))[0]
    assert scaling["title"] == "Deploying > Scaling" and "70 percent" in scaling["text"]
    assert "ignore me" not in scaling["text"] and "Home | About" not in scaling["text"]
    restore = (await kb.search("how long does a restore take", top_k=1))[0]
    assert restore["source"] == "docs/guide.pdf" and restore["title"] == "Ops Guide > Page 2"
    # HTML keywords become tags.
    tagged = await kb.search("pods", tags=["deploy"], top_k=5)
    assert tagged and {d["source"] for d in tagged} == {"docs/deploy.html"}


async def test_deleted_files_go_and_changes_report_exactly_their_chunks(
    tmp_path: Path, embeddings: MiniLMEmbeddings
) -> None:
    docs = tmp_path / "docs"
    write(docs, "a.md", "# A\n\nAlpha one.\n\n## Two\n\nAlpha two.\n")
    write(docs, "b.md", "# B\n\nBravo.\n")
    kb = KnowledgeBase(str(tmp_path / "db"), embeddings)
    first = await kb.ingest([docs])
    assert first.chunks_embedded == first.chunks_written == 3
    ids = {
        d["source"] + "|" + d["title"]: d["id"] for d in await kb.search("alpha bravo", top_k=10)
    }

    write(docs, "a.md", "# A\n\nAlpha one.\n\n## Two\n\nAlpha two, revised.\n")
    (docs / "b.md").unlink()
    second = await kb.ingest([docs])
    assert second.files_added == ["docs/a.md"] and second.files_removed == ["docs/b.md"]
    # Only the changed chunk and the deleted file's chunk are reported…
    assert sorted(second.removed_chunk_ids) == sorted(
        [ids["docs/a.md|A > Two"], ids["docs/b.md|B"]]
    )
    # …and only the changed text was embedded again.
    assert second.chunks_embedded == 1
    assert {d["source"] for d in await kb.search("bravo", top_k=10)} == {"docs/a.md"}

    # The same text under another name reuses the stored vectors: nothing is embedded.
    write(tmp_path / "copy", "a.md", (docs / "a.md").read_text())
    copied = await kb.ingest([tmp_path / "copy"])
    assert copied.chunks_written == 2 and copied.chunks_embedded == 0
    assert await kb.delete_sources(["copy/a.md"]) and await kb.count() == 2


async def test_filters_tags_modes_and_rerank(tmp_path: Path, embeddings: MiniLMEmbeddings) -> None:
    kb = KnowledgeBase(str(tmp_path / "db"), embeddings)
    write(
        tmp_path / "ops",
        "redis.md",
        "---\ntags: [storage, ops]\n---\n# Redis\n\nRedis keeps threads.\n",
    )
    write(tmp_path / "dev", "redis-client.md", "# Client\n\nThe Redis client retries twice.\n")
    await kb.ingest([tmp_path / "ops"], tenant="t1")
    await kb.ingest([tmp_path / "dev"], tenant="t1", tags=["dev"])
    await kb.ingest([tmp_path / "dev"], tenant="t2")
    both = {d["source"] for d in await kb.search("redis", tenant="t1", top_k=5)}
    assert both == {"ops/redis.md", "dev/redis-client.md"}
    assert {d["source"] for d in await kb.search("redis", tenant="t1", tags=["storage"])} == {
        "ops/redis.md"
    }
    assert {d["source"] for d in await kb.search("redis", tenant="t1", source_prefix="dev/")} == {
        "dev/redis-client.md"
    }
    assert await kb.search("redis", tenant="t1", source="ops/redis.md", top_k=5)
    # A filter never widens the tenant: t2 has no ops/ documents and no "dev" tags.
    assert await kb.search("redis", tenant="t2", source_prefix="ops/") == []
    assert await kb.search("redis", tenant="t2", tags=["dev"]) == []
    for mode in ("vector", "text", "hybrid"):
        assert (await kb.search("client retries", tenant="t1", mode=mode, top_k=1))[0][
            "source"
        ] == "dev/redis-client.md"
    reranked = await kb.search("client retries", tenant="t1", rerank=True, top_k=2)
    assert reranked[0]["source"] == "dev/redis-client.md"
    assert reranked[0]["score"] >= reranked[1]["score"]


async def test_an_old_schema_table_is_rebuilt(tmp_path: Path, embeddings: MiniLMEmbeddings) -> None:
    import lancedb
    import pyarrow as pa

    from interlock.memory.knowledge import SCHEMA

    old = pa.schema([f for f in SCHEMA if f.name != "tags"])
    db = await lancedb.connect_async(str(tmp_path / "db"))
    await db.create_table("knowledge", schema=old)
    kb = KnowledgeBase(str(tmp_path / "db"), embeddings)
    report = await kb.ingest([write(tmp_path / "d", "x.md", "# X\n\nHello.\n")])
    assert report.files_added == ["x.md"] and await kb.count() == 1
