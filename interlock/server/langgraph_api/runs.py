"""LangGraph API runs: stream or wait, on a thread or stateless.

A run lives in its request: ``runs.stream`` streams it and cancels it when
the client disconnects, ``runs.wait`` answers with its final values.
Background runs (``runs.create``, ``join``, crons) are not offered: they
need a worker that outlives requests, and this server keeps no state
between requests; those routes answer 501 saying so.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from interlock.server.langgraph_api.deps import Caller, RunCaller
from interlock.server.langgraph_api.errors import AssistantNotFound, NotSupported
from interlock.server.langgraph_api.runner import StartedRun, graph_modes, start_run
from interlock.server.langgraph_api.schemas import RunCreate
from interlock.server.langgraph_api.serde import json_response
from interlock.server.langgraph_api.sse import HEADERS, event_stream, wait_for

router = APIRouter(tags=["LangGraph API: runs"])

BACKGROUND = (
    "background runs are not supported (the server keeps no work between requests); "
    "use runs.wait for the result or runs.stream for the events"
)
NOT_STORED = (
    "runs are not stored after their request: there is nothing to list, get, join or cancel; "
    "a streamed run is cancelled by closing its stream"
)
CRONS = "crons are not supported"


async def _start(
    caller: Caller, thread_id: str | None, body: RunCreate, *, streaming: bool
) -> StartedRun:
    served = caller.graphs.resolve(body.assistant_id)
    if served is None:
        known = sorted(g.graph_id for g in caller.graphs)
        raise AssistantNotFound(
            f"assistant {body.assistant_id!r} does not exist; the graphs served are {known}"
        )
    modes = graph_modes(body.modes, served) if streaming else []
    return await start_run(
        caller,
        served,
        thread_id,
        body,
        modes=modes,
        lease_s=caller.agent.settings.request_timeout_s + 5,
    )


async def _stream(caller: Caller, thread_id: str | None, body: RunCreate) -> StreamingResponse:
    run = await _start(caller, thread_id, body, streaming=True)
    timeout = caller.agent.settings.request_timeout_s
    return StreamingResponse(
        event_stream(run, body.modes, timeout),
        media_type="text/event-stream",
        headers={**HEADERS, "content-location": run.location},
    )


async def _wait(caller: Caller, thread_id: str | None, body: RunCreate) -> Response:
    run = await _start(caller, thread_id, body, streaming=False)
    values = await wait_for(run, caller.agent.settings.request_timeout_s)
    return json_response(values, headers={"content-location": run.location})


STREAM_DOC = "Run and stream its events (SSE): metadata, one event per chunk of each mode, end."


@router.post("/threads/{thread_id}/runs/stream", description=STREAM_DOC)
async def stream_on_thread(thread_id: str, body: RunCreate, caller: RunCaller) -> StreamingResponse:
    return await _stream(caller, thread_id, body)


@router.post("/runs/stream", description=STREAM_DOC)
async def stream_stateless(body: RunCreate, caller: RunCaller) -> StreamingResponse:
    """A run on a temporary thread, deleted after it unless ``on_completion='keep'``."""
    return await _stream(caller, None, body)


@router.post("/threads/{thread_id}/runs/wait")
async def wait_on_thread(thread_id: str, body: RunCreate, caller: RunCaller) -> Response:
    """Run and answer with the thread's final values."""
    return await _wait(caller, thread_id, body)


@router.post("/runs/wait")
async def wait_stateless(body: RunCreate, caller: RunCaller) -> Response:
    return await _wait(caller, None, body)


@router.post("/threads/{thread_id}/runs", status_code=501)
async def create_on_thread(thread_id: str, caller: RunCaller) -> Response:
    raise NotSupported(BACKGROUND)


@router.post("/runs", status_code=501)
async def create_stateless(caller: RunCaller) -> Response:
    raise NotSupported(BACKGROUND)


@router.post("/runs/batch", status_code=501)
async def create_batch(caller: RunCaller) -> Response:
    raise NotSupported(BACKGROUND)


@router.post("/runs/crons", status_code=501)
@router.post("/runs/crons/search", status_code=501)
@router.post("/threads/{thread_id}/runs/crons", status_code=501)
async def crons(caller: RunCaller) -> Response:
    raise NotSupported(CRONS)


@router.get("/threads/{thread_id}/runs", status_code=501)
@router.get("/threads/{thread_id}/runs/{run_id}", status_code=501)
@router.get("/threads/{thread_id}/runs/{run_id}/join", status_code=501)
@router.get("/threads/{thread_id}/runs/{run_id}/stream", status_code=501)
@router.post("/threads/{thread_id}/runs/{run_id}/cancel", status_code=501)
async def stored_runs(caller: RunCaller) -> Response:
    raise NotSupported(NOT_STORED)
