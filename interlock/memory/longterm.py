"""Long-term memory: a LangGraph ``BaseStore`` on LanceDB.

Implementing LangGraph's store interface (rather than an interlock-only
API) means LangGraph's own memory patterns (``store.put``/``search`` in a
node, ``compile(store=...)``) work against it. Values are JSON; each item
is embedded (its ``text`` field, or the whole value) so ``search(query=...)``
is semantic. Namespaces are per user, e.g. ``("memories", user_id)``.

``abatch`` runs the synchronous LanceDB calls in a worker thread: LanceDB's
sync table API is safe to call from one thread at a time, which the lock
guarantees, and this keeps the event loop free.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

from interlock.memory import lance
from interlock.memory.embeddings import DIMENSIONS, MiniLMEmbeddings
from interlock.memory.knowledge import sql_literal

SEP = "\x1f"  # unit separator: cannot appear in a namespace label typed by a user

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("namespace", pa.string()),
        pa.field("key", pa.string()),
        pa.field("value", pa.string()),
        pa.field("created_at", pa.string()),
        pa.field("updated_at", pa.string()),
        pa.field("vector", pa.list_(pa.float32(), DIMENSIONS)),
    ]
)


def _text_of(value: dict[str, Any]) -> str:
    text = value.get("text")
    return str(text) if text is not None else json.dumps(value, ensure_ascii=False)


class LanceDBStore(BaseStore):
    def __init__(self, uri: str, embeddings: MiniLMEmbeddings, table: str = "memories") -> None:
        self.embeddings = embeddings
        self._db = lance.connect(uri)
        self._table = self._db.create_table(table, schema=SCHEMA, exist_ok=True)
        self._lock = threading.Lock()

    # -- BaseStore -------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        with self._lock:
            return [self._run(op) for op in ops]

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await asyncio.to_thread(self.batch, list(ops))

    def _run(self, op: Op) -> Result:
        if isinstance(op, GetOp):
            return self._get(op)
        if isinstance(op, PutOp):
            self._put(op)
            return None
        if isinstance(op, SearchOp):
            return self._search(op)
        if isinstance(op, ListNamespacesOp):
            return self._list_namespaces(op)
        raise TypeError(f"unsupported store operation: {type(op).__name__}")

    # -- operations --------------------------------------------------------------
    @staticmethod
    def _id(namespace: tuple[str, ...], key: str) -> str:
        return SEP.join(namespace) + SEP + SEP + key

    def _get(self, op: GetOp) -> Item | None:
        rows = (
            self._table.search()
            .where(f"id = {sql_literal(self._id(op.namespace, op.key))}")
            .limit(1)
            .to_list()
        )
        return self._item(rows[0]) if rows else None

    def _put(self, op: PutOp) -> None:
        row_id = self._id(op.namespace, op.key)
        if op.value is None:
            self._table.delete(f"id = {sql_literal(row_id)}")
            return
        now = datetime.now(UTC).isoformat()
        existing = self._get(GetOp(op.namespace, op.key))
        created = existing.created_at.isoformat() if existing else now
        value = dict(op.value)
        vector = (
            self.embeddings.encode([_text_of(value)])[0].tolist()
            if op.index is not False
            else [0.0] * DIMENSIONS
        )
        row = {
            "id": row_id,
            "namespace": SEP.join(op.namespace),
            "key": op.key,
            "value": json.dumps(value, ensure_ascii=False),
            "created_at": created,
            "updated_at": now,
            "vector": vector,
        }
        (
            self._table.merge_insert("id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute([row])
        )

    def _search(self, op: SearchOp) -> list[SearchItem]:
        prefix = SEP.join(op.namespace_prefix)
        where = f"starts_with(namespace, {sql_literal(prefix)})" if prefix else None
        wanted = op.limit + op.offset
        if op.query:
            query = self._table.search(self.embeddings.encode([op.query])[0].tolist())
        else:
            query = self._table.search()
        if where:
            query = query.where(where, prefilter=True)
        # Value filters run in Python (values are JSON text), so with a filter every
        # row of the namespace is a candidate: a fixed over-fetch could miss matches.
        limit = max(1, self._table.count_rows(where)) if op.filter else wanted
        rows = query.limit(limit).to_list()
        items: list[SearchItem] = []
        for row in rows:
            namespace = tuple(row["namespace"].split(SEP)) if row["namespace"] else ()
            if namespace[: len(op.namespace_prefix)] != op.namespace_prefix:
                continue
            value = json.loads(row["value"])
            if op.filter and not matches_filter(value, op.filter):
                continue
            score = 1.0 - float(row["_distance"]) / 2 if "_distance" in row else None
            items.append(
                SearchItem(
                    namespace=namespace,
                    key=row["key"],
                    value=value,
                    created_at=datetime.fromisoformat(row["created_at"]),
                    updated_at=datetime.fromisoformat(row["updated_at"]),
                    score=score,
                )
            )
        return items[op.offset : op.offset + op.limit]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        column = self._table.to_arrow().column("namespace").to_pylist()
        namespaces = {tuple(ns.split(SEP)) for ns in column if ns}
        if op.max_depth is not None:
            namespaces = {ns[: op.max_depth] for ns in namespaces}
        for condition in op.match_conditions or ():
            namespaces = {
                ns for ns in namespaces if _matches(ns, condition.match_type, condition.path)
            }
        ordered = sorted(namespaces)
        return ordered[op.offset : op.offset + op.limit]

    @staticmethod
    def _item(row: dict[str, Any]) -> Item:
        return Item(
            value=json.loads(row["value"]),
            key=row["key"],
            namespace=tuple(row["namespace"].split(SEP)) if row["namespace"] else (),
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
        )


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _compare(actual: Any, operator: str, wanted: Any) -> bool:
    if operator == "$eq":
        return bool(actual == wanted)
    if operator == "$ne":
        return bool(actual != wanted)
    a, b = _number(actual), _number(wanted)
    if a is None or b is None:  # a missing or non-numeric value matches no range
        return False
    if operator == "$gt":
        return a > b
    if operator == "$gte":
        return a >= b
    if operator == "$lt":
        return a < b
    if operator == "$lte":
        return a <= b
    raise ValueError(f"unsupported filter operator: {operator}")


def matches_filter(value: Any, filter: Any) -> bool:
    """LangGraph's store filter semantics (those of its InMemoryStore and PostgresStore).

    ``{"field": exact}``, nested ``{"field": {"sub": exact}}``, lists compared
    element-wise, and operators ``{"field": {"$gte": 2, "$ne": 5}}`` with ranges
    compared as numbers. Applied in Python after the vector/namespace query,
    since values are stored as JSON text. Unlike InMemoryStore, a missing or
    non-numeric value simply does not match a range instead of raising.
    """
    if isinstance(filter, dict):
        if any(str(k).startswith("$") for k in filter):
            return all(_compare(value, op, wanted) for op, wanted in filter.items())
        if not isinstance(value, dict):
            return False
        return all(matches_filter(value.get(k), v) for k, v in filter.items())
    if isinstance(filter, list | tuple):
        return (
            isinstance(value, list | tuple)
            and len(value) == len(filter)
            and all(matches_filter(v, f) for v, f in zip(value, filter, strict=True))
        )
    return bool(value == filter)


def _matches(namespace: tuple[str, ...], kind: str, path: tuple[str, ...]) -> bool:
    if len(path) > len(namespace):
        return False
    part = namespace[: len(path)] if kind == "prefix" else namespace[len(namespace) - len(path) :]
    return all(p == "*" or p == n for p, n in zip(path, part, strict=True))
