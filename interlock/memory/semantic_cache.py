"""Semantic response cache in LanceDB: a paraphrase of an answered question hits.

Scope rules, each closing a way a semantic cache serves a wrong answer:

* Only questions asked without earlier turns are looked up or stored: a
  follow-up ("and in French?") means nothing without its conversation, and
  conversations are the exact cache's job (it keys on the context).
* Per tenant: a query filters on its tenant.
* Similarity is necessary, not sufficient: a candidate must also pass
  :class:`~interlock.memory.cache_guard.CacheGuard` (negation, opposites,
  numbers and names, content overlap).
* Entries expire (``expires_at``) and are dropped when a chunk they cite
  changes (``invalidate_chunks``, fed by the knowledge base's ingest report).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import lancedb
import numpy as np
import pyarrow as pa

from interlock.memory import lance
from interlock.memory.cache_guard import CacheGuard
from interlock.memory.embeddings import DIMENSIONS, MiniLMEmbeddings
from interlock.memory.knowledge import sql_literal
from interlock.memory.response_cache import chunk_ids, normalise
from interlock.state import Answer

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("tenant", pa.string()),
        pa.field("question", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("chunk_ids", pa.list_(pa.string())),
        pa.field("expires_at", pa.float64()),
        pa.field("vector", pa.list_(pa.float32(), DIMENSIONS)),
    ]
)


@dataclass(frozen=True)
class SemanticHit:
    answer: Answer
    question: str  # the cached question this answer was given to
    similarity: float


class SemanticCache:
    def __init__(
        self,
        uri: str,
        embeddings: MiniLMEmbeddings,
        *,
        table: str = "semantic_cache",
        threshold: float = 0.85,
        ttl_s: int = 3600,
        guard: CacheGuard | None = None,
        candidates: int = 3,
    ) -> None:
        self.uri = uri
        self.table_name = table
        self.embeddings = embeddings
        self.threshold = threshold
        self.ttl_s = ttl_s
        self.guard = guard or CacheGuard()
        self.candidates = candidates
        self._table: lancedb.AsyncTable | None = None
        self._lock = asyncio.Lock()

    async def table(self) -> lancedb.AsyncTable:
        async with self._lock:
            if self._table is None:
                db = await lance.connect_async(self.uri)
                self._table = await db.create_table(self.table_name, schema=SCHEMA, exist_ok=True)
            return self._table

    async def _vector(self, question: str) -> np.ndarray:
        vector: np.ndarray = (await self.embeddings.aencode([normalise(question)]))[0]
        return vector

    async def nearest(self, question: str, *, tenant: str) -> list[SemanticHit]:
        """The closest live entries of the tenant, nearest first (no threshold, no guard)."""
        table = await self.table()
        vector = await self._vector(question)
        where = f"tenant = {sql_literal(tenant)} AND expires_at > {time.time()}"
        rows = await (
            table.query()
            .nearest_to(vector)
            .distance_type("cosine")
            .where(where)
            .limit(self.candidates)
            .to_list()
        )
        hits = []
        for row in rows:
            answer: Answer = json.loads(row["answer"])
            answer["from_cache"] = True
            hits.append(SemanticHit(answer, row["question"], 1.0 - float(row["_distance"])))
        return hits

    async def get(
        self, question: str, *, tenant: str, threshold: float | None = None
    ) -> SemanticHit | None:
        """The nearest entry at or above the threshold that passes the guard, or None.

        ``threshold`` overrides the cache's own for one lookup (the fallback
        node looks further, as a last resort before an honest "I do not know").
        """
        if self.ttl_s <= 0:
            return None
        for hit in await self.nearest(question, tenant=tenant):
            if hit.similarity < (self.threshold if threshold is None else threshold):
                return None
            if self.guard.check(question, hit.question).ok:
                return hit
        return None

    async def put(
        self,
        question: str,
        answer: Answer,
        *,
        tenant: str,
        ttl_s: int | None = None,
        depends_on: Iterable[str] = (),
    ) -> None:
        """Store an answer; ``depends_on`` as in ``ResponseCache.put``."""
        ttl = self.ttl_s if ttl_s is None else ttl_s
        if ttl <= 0:
            return
        table = await self.table()
        vector = await self._vector(question)
        stored = {**answer, "from_cache": False}
        await table.add(
            [
                {
                    "id": uuid.uuid4().hex,
                    "tenant": tenant,
                    "question": question,
                    "answer": json.dumps(stored, ensure_ascii=False),
                    "chunk_ids": chunk_ids(answer, depends_on),
                    "expires_at": time.time() + ttl,
                    "vector": vector.tolist(),
                }
            ]
        )

    async def invalidate_chunks(self, chunk_ids: Iterable[str]) -> int:
        """Drop every entry citing one of these chunks; returns how many went."""
        ids = sorted(set(chunk_ids))
        if not ids:
            return 0
        table = await self.table()
        where = "array_has_any(chunk_ids, [" + ", ".join(sql_literal(i) for i in ids) + "])"
        before = await table.count_rows(where)
        if before:
            await table.delete(where)
        return int(before)

    async def purge_expired(self) -> None:
        table = await self.table()
        await table.delete(f"expires_at <= {time.time()}")
