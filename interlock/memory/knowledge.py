"""The knowledge base: document chunks in LanceDB, searched by vector and by text.

Search is hybrid because each half fails differently: vectors find
paraphrases but miss exact names, numbers and identifiers; full-text finds
those but misses paraphrases. LanceDB fuses the two rankings with reciprocal
rank fusion. Every row carries a tenant, and every query filters on it, so
one tenant never sees another's chunks.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lancedb
import pyarrow as pa
from lancedb.index import FTS
from lancedb.rerankers import RRFReranker

from interlock.memory.chunking import Chunk, chunk_text
from interlock.memory.embeddings import DIMENSIONS, MiniLMEmbeddings
from interlock.state import Document

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = {".md", ".markdown", ".txt"}

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("tenant", pa.string()),
        pa.field("source", pa.string()),
        pa.field("title", pa.string()),
        pa.field("position", pa.int32()),
        pa.field("text", pa.string()),
        pa.field("content_hash", pa.string()),
        pa.field("file_hash", pa.string()),
        pa.field("vector", pa.list_(pa.float32(), DIMENSIONS)),
    ]
)


def sql_literal(value: str) -> str:
    """Quote a string for a LanceDB filter (SQL single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


@dataclass
class IngestReport:
    files_added: list[str] = field(default_factory=list)
    files_unchanged: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)
    chunks_written: int = 0


def discover(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """(file, source name) for every supported file under the given paths.

    A folder's files are named relative to the folder's parent so sources
    read like ``sample_kb/overview.md`` wherever the folder lives.
    """
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if file.is_file():
                    found.append((file, file.relative_to(path.parent).as_posix()))
        elif path.is_file():
            found.append((path, path.name))
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


class KnowledgeBase:
    """Hybrid search over a LanceDB table of chunks; async on the serving path."""

    def __init__(self, uri: str, embeddings: MiniLMEmbeddings, table: str = "knowledge") -> None:
        self.uri = uri
        self.table_name = table
        self.embeddings = embeddings
        self._db: lancedb.AsyncConnection | None = None
        self._table: lancedb.AsyncTable | None = None
        self._lock = asyncio.Lock()

    async def table(self) -> lancedb.AsyncTable:
        async with self._lock:
            if self._table is None:
                self._db = await lancedb.connect_async(self.uri)
                self._table = await self._db.create_table(
                    self.table_name, schema=SCHEMA, exist_ok=True
                )
            return self._table

    async def count(self, tenant: str | None = None) -> int:
        table = await self.table()
        return int(await table.count_rows(f"tenant = {sql_literal(tenant)}" if tenant else None))

    async def ingest(
        self,
        paths: Iterable[Path],
        *,
        tenant: str = "default",
        progress: Callable[[str], None] | None = None,
    ) -> IngestReport:
        """Add files; an unchanged file is skipped, a changed one replaces its chunks."""
        table = await self.table()
        report = IngestReport()
        for file, source in discover(paths):
            if file.suffix.lower() not in SUPPORTED_SUFFIXES:
                report.files_skipped.append(source)
                continue
            raw = file.read_bytes()
            file_hash = hashlib.sha256(raw).hexdigest()
            where = f"tenant = {sql_literal(tenant)} AND source = {sql_literal(source)}"
            existing = await table.query().where(where).select(["file_hash"]).limit(1).to_list()
            if existing and existing[0]["file_hash"] == file_hash:
                report.files_unchanged.append(source)
                continue
            chunks = chunk_text(raw.decode("utf-8", errors="replace"), source)
            rows = await self._rows(chunks, tenant, file_hash)
            await table.delete(where)
            if rows:
                await table.add(rows)
            report.files_added.append(source)
            report.chunks_written += len(rows)
            if progress:
                progress(source)
        if report.files_added:
            # Rebuilt after each ingest: on the corpora this serves it takes
            # milliseconds, and unindexed rows would otherwise be scanned.
            await table.create_index("text", config=FTS(), replace=True)
        return report

    async def _rows(self, chunks: list[Chunk], tenant: str, file_hash: str) -> list[dict[str, Any]]:
        vectors = await self.embeddings.aencode([f"{c.title}\n{c.text}" for c in chunks])
        return [
            {
                "id": chunk.id,
                "tenant": tenant,
                "source": chunk.source,
                "title": chunk.title,
                "position": chunk.position,
                "text": chunk.text,
                "content_hash": chunk.content_hash,
                "file_hash": file_hash,
                "vector": vector.tolist(),
            }
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]

    async def search(
        self, query: str, *, tenant: str = "default", top_k: int = 5
    ) -> list[Document]:
        """Top chunks of this tenant for the query, best first, with fused scores."""
        table = await self.table()
        vector = (await self.embeddings.aencode([query]))[0]
        where = f"tenant = {sql_literal(tenant)}"
        try:
            rows = await (
                table.query()
                .nearest_to(vector)
                .nearest_to_text(query)
                .where(where)
                .rerank(RRFReranker())
                .limit(top_k)
                .to_list()
            )
        except (ValueError, RuntimeError) as exc:
            # An empty table has no FTS index yet; vector search alone still answers.
            log.debug("hybrid search unavailable (%s); using vector search", exc)
            rows = await table.query().nearest_to(vector).where(where).limit(top_k).to_list()
        return [
            Document(
                id=row["id"],
                text=row["text"],
                source=row["source"],
                title=row["title"],
                score=float(row.get("_relevance_score", 1.0 - row.get("_distance", 1.0))),
            )
            for row in rows
        ]
