"""interlock's own agent API: invoke a run, stream a run, read a thread."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from interlock.agent import Agent, AgentEvent
from interlock.errors import InterlockError
from interlock.server.auth import Principal, require
from interlock.server.schemas import InvokeRequest, InvokeResponse, Message, ThreadResponse

router = APIRouter(prefix="/v1", tags=["agent"])

RunsCaller = Annotated[Principal, Depends(require("runs"))]
ThreadsCaller = Annotated[Principal, Depends(require("threads"))]
# With authentication off, which tenant's thread to read; a key's tenant otherwise.
TenantParam = Annotated[
    str | None, Query(description="The thread's tenant (only when authentication is off).")
]


class RequestTimeout(InterlockError):
    status = 504


def _agent(request: Request) -> Agent:
    agent: Agent = request.app.state.agent
    return agent


@router.post("/agent/invoke", response_model=InvokeResponse)
async def invoke(body: InvokeRequest, request: Request, caller: RunsCaller) -> InvokeResponse:
    """Run the agent graph on one question and return the answer with its metadata."""
    agent = _agent(request)
    timeout = agent.settings.request_timeout_s
    try:
        result = await asyncio.wait_for(
            agent.ask(
                body.question,
                thread_id=body.thread_id,
                user_id=body.user_id,
                tenant=caller.tenant_for(body.tenant),
                cache=body.cache(),
                limits=body.limits(),
                response_schema=body.response_schema,
            ),
            timeout=timeout,
        )
    except TimeoutError:
        raise RequestTimeout(f"the run took longer than {timeout:.0f}s") from None
    return InvokeResponse(**result.to_dict())


def sse(event: AgentEvent) -> str:
    """One Server-Sent Event; the data line is always one JSON document."""
    return f"event: {event.kind}\ndata: {json.dumps(event.data, ensure_ascii=False)}\n\n"


STREAM_DOC = """Server-Sent Events, in order:

* `run`: `{"thread_id", "run_id"}`
* `node`: one per graph node as it finishes: `{"node", "updated", ...what it decided}`
* `token`: `{"text"}` for each piece of the model's draft answer
* `result`: the same body as `/v1/agent/invoke` — its `answer` is final (the check, the
  fallback or the output guard may have replaced the streamed draft)
* or `error`: `{"status", "error"}` if the run failed after the stream began

Input errors (empty question, unknown thread…) are answered before the stream
starts, as plain 4xx responses. Closing the connection cancels the run.
"""


@router.post(
    "/agent/stream",
    response_class=StreamingResponse,
    description=STREAM_DOC,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(body: InvokeRequest, request: Request, caller: RunsCaller) -> StreamingResponse:
    """Run the agent graph and stream node updates, answer tokens and the final result."""
    agent = _agent(request)
    events = await agent.stream(
        body.question,
        thread_id=body.thread_id,
        user_id=body.user_id,
        tenant=caller.tenant_for(body.tenant),
        cache=body.cache(),
        limits=body.limits(),
        response_schema=body.response_schema,
    )
    timeout = agent.settings.request_timeout_s

    async def body_iter() -> AsyncIterator[str]:
        try:
            async with asyncio.timeout(timeout):
                async for event in events:
                    yield sse(event)
        except TimeoutError:
            late = AgentEvent(
                "error", {"status": 504, "error": f"the run took longer than {timeout:.0f}s"}
            )
            yield sse(late)

    return StreamingResponse(
        body_iter(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


@router.get("/threads/{thread_id}", response_model=ThreadResponse)
async def get_thread(
    thread_id: str, request: Request, caller: ThreadsCaller, tenant: TenantParam = None
) -> ThreadResponse:
    """A conversation's messages, oldest first (404 if the thread does not exist)."""
    messages = await _agent(request).messages(thread_id, caller.tenant_for(tenant))
    return ThreadResponse(thread_id=thread_id, messages=[Message(**m) for m in messages])


@router.delete("/threads/{thread_id}", status_code=204)
async def delete_thread(
    thread_id: str, request: Request, caller: ThreadsCaller, tenant: TenantParam = None
) -> None:
    """Delete a conversation (404 if it does not exist)."""
    await _agent(request).delete_thread(thread_id, caller.tenant_for(tenant))


@router.delete("/users/{user_id}")
async def forget_user(user_id: str, request: Request) -> dict[str, int]:
    """A data-removal request: delete every thread and long-term memory of the user."""
    return await _agent(request).forget_user(user_id)
