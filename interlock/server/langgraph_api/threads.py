"""LangGraph API threads: create, read, search, delete, and their state and history.

Every route reads under the caller's tenant: another tenant's thread
answers 404 exactly as a missing one.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Response
from langchain_core.runnables import RunnableConfig

from interlock.agent import redis_unavailable, validate_thread_id
from interlock.graphs.spec import AGENT_GRAPH_ID
from interlock.memory.threads import SortBy, ThreadRecord
from interlock.server.langgraph_api.deps import Caller, ThreadCaller
from interlock.server.langgraph_api.errors import NotSupported
from interlock.server.langgraph_api.schemas import (
    HistoryRequest,
    StateAt,
    ThreadCount,
    ThreadCreate,
    ThreadPatch,
    ThreadSearch,
    state_json,
    thread_json,
)
from interlock.server.langgraph_api.serde import json_response

router = APIRouter(tags=["LangGraph API: threads"])

TTL_NOT_SUPPORTED = "a per-thread ttl is not supported; threads expire after INTERLOCK_THREAD_TTL_S"


async def _values(caller: Caller, record: ThreadRecord) -> dict[str, Any] | None:
    """The thread's current values; None while it has none (LangGraph shows a new thread so)."""
    served = caller.graphs.resolve(record.graph_id or AGENT_GRAPH_ID)
    if served is None:
        return None
    snapshot = await served.graph.aget_state({"configurable": {"thread_id": record.thread_id}})
    if snapshot.created_at is None:
        return None
    return dict(snapshot.values) if isinstance(snapshot.values, dict) else {"": snapshot.values}


async def _thread(caller: Caller, record: ThreadRecord) -> dict[str, Any]:
    return thread_json(record, await _values(caller, record))


async def _record(caller: Caller, thread_id: str) -> ThreadRecord:
    validate_thread_id(thread_id)
    return await caller.threads.require(thread_id, caller.tenant)


@router.post("/threads")
async def create_thread(body: ThreadCreate, caller: ThreadCaller) -> Response:
    """Create a thread of the caller's tenant (409 if the id is taken, unless ``do_nothing``)."""
    if body.supersteps:
        raise NotSupported("creating a thread from supersteps is not supported")
    if body.ttl is not None:
        raise NotSupported(TTL_NOT_SUPPORTED)
    thread_id = validate_thread_id(body.thread_id) if body.thread_id else str(uuid.uuid4())
    metadata = body.metadata or {}
    named = metadata.get("graph_id")
    graph_id = named if isinstance(named, str) and caller.graphs.resolve(named) else None
    with redis_unavailable():
        record = await caller.threads.create(
            thread_id, caller.tenant, graph_id=graph_id, metadata=metadata, if_exists=body.if_exists
        )
        return json_response(await _thread(caller, record))


@router.get("/threads/{thread_id}")
async def get_thread(thread_id: str, caller: ThreadCaller) -> Response:
    with redis_unavailable():
        return json_response(await _thread(caller, await _record(caller, thread_id)))


@router.patch("/threads/{thread_id}")
async def update_thread(thread_id: str, body: ThreadPatch, caller: ThreadCaller) -> Response:
    """Merge metadata into the thread's."""
    if body.ttl is not None:
        raise NotSupported(TTL_NOT_SUPPORTED)
    validate_thread_id(thread_id)
    with redis_unavailable():
        record = await caller.threads.update_metadata(thread_id, caller.tenant, body.metadata)
        return json_response(await _thread(caller, record))


@router.delete("/threads/{thread_id}", status_code=204)
async def delete_thread(thread_id: str, caller: ThreadCaller) -> Response:
    """Delete the thread: its record and every checkpoint."""
    await caller.agent.delete_thread(thread_id, caller.tenant)
    return Response(status_code=204)


def _sort(body: ThreadSearch) -> tuple[SortBy, bool]:
    sort_by: SortBy = "created_at"
    if body.sort_by == "state_updated_at":
        sort_by = "updated_at"
    elif body.sort_by is not None:
        sort_by = body.sort_by
    return sort_by, body.sort_order != "asc"


@router.post("/threads/search")
async def search_threads(body: ThreadSearch, caller: ThreadCaller) -> Response:
    """The caller's threads by metadata, ids and status, newest first (one page)."""
    if body.values:
        raise NotSupported("searching threads by state values is not supported; use metadata")
    if body.extract:
        raise NotSupported("extract is not supported")
    sort_by, descending = _sort(body)
    with redis_unavailable():
        records = await caller.threads.search(
            caller.tenant,
            metadata=body.metadata,
            ids=body.ids,
            status=body.status,
            sort_by=sort_by,
            descending=descending,
            limit=body.limit,
            offset=body.offset,
        )
        threads = await asyncio.gather(*(_thread(caller, r) for r in records))
    if body.select:
        threads = [{k: v for k, v in t.items() if k in body.select} for t in threads]
    return json_response(threads)


@router.post("/threads/count")
async def count_threads(body: ThreadCount, caller: ThreadCaller) -> Response:
    if body.values:
        raise NotSupported("counting threads by state values is not supported; use metadata")
    with redis_unavailable():
        found = await caller.threads.search(
            caller.tenant, metadata=body.metadata, status=body.status
        )
    return json_response(len(found))


async def _state(
    caller: Caller, thread_id: str, checkpoint: dict[str, Any], subgraphs: bool
) -> Response:
    with redis_unavailable():
        record = await _record(caller, thread_id)
        configurable = {k: v for k, v in checkpoint.items() if v is not None}
        config = RunnableConfig(configurable={**configurable, "thread_id": thread_id})
        snapshot = await caller.graph_of(record).aget_state(config, subgraphs=subgraphs)
    return json_response(state_json(snapshot))


@router.get("/threads/{thread_id}/state")
async def get_state(thread_id: str, caller: ThreadCaller, subgraphs: bool = False) -> Response:
    """The thread's latest state: values, next nodes, checkpoint, tasks, interrupts."""
    return await _state(caller, thread_id, {}, subgraphs)


@router.get("/threads/{thread_id}/state/{checkpoint_id}")
async def get_state_at(
    thread_id: str,
    checkpoint_id: str,
    caller: ThreadCaller,
    subgraphs: bool = False,
) -> Response:
    return await _state(caller, thread_id, {"checkpoint_id": checkpoint_id}, subgraphs)


@router.post("/threads/{thread_id}/state/checkpoint")
async def post_state_at(thread_id: str, body: StateAt, caller: ThreadCaller) -> Response:
    wanted = {k: body.checkpoint.get(k) for k in ("checkpoint_id", "checkpoint_ns")}
    return await _state(caller, thread_id, wanted, body.subgraphs)


@router.post("/threads/{thread_id}/history")
async def get_history(thread_id: str, body: HistoryRequest, caller: ThreadCaller) -> Response:
    """Past states of the thread, newest first."""
    where = {k: v for k, v in (body.checkpoint or {}).items() if k == "checkpoint_ns" and v}
    before: RunnableConfig | None = None
    if body.before is not None:
        mark = body.before if isinstance(body.before, dict) else {"checkpoint_id": body.before}
        before = RunnableConfig(configurable={**mark, "thread_id": thread_id})
    with redis_unavailable():
        graph = caller.graph_of(await _record(caller, thread_id))
        states = [
            state_json(snapshot)
            async for snapshot in graph.aget_state_history(
                RunnableConfig(configurable={**where, "thread_id": thread_id}),
                filter=body.metadata,
                before=before,
                limit=body.limit,
            )
        ]
    return json_response(states)
