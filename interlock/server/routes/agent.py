"""interlock's own agent API: invoke a run, read a thread."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from interlock.agent import Agent
from interlock.errors import InterlockError
from interlock.server.schemas import InvokeRequest, InvokeResponse, Message, ThreadResponse

router = APIRouter(prefix="/v1", tags=["agent"])


class RequestTimeout(InterlockError):
    status = 504


def _agent(request: Request) -> Agent:
    agent: Agent = request.app.state.agent
    return agent


@router.post("/agent/invoke", response_model=InvokeResponse)
async def invoke(body: InvokeRequest, request: Request) -> InvokeResponse:
    """Run the agent graph on one question and return the answer with its metadata."""
    agent = _agent(request)
    timeout = agent.settings.request_timeout_s
    try:
        result = await asyncio.wait_for(
            agent.ask(body.question, thread_id=body.thread_id, user_id=body.user_id),
            timeout=timeout,
        )
    except TimeoutError:
        raise RequestTimeout(f"the run took longer than {timeout:.0f}s") from None
    return InvokeResponse(**result.to_dict())


@router.get("/threads/{thread_id}", response_model=ThreadResponse)
async def get_thread(thread_id: str, request: Request) -> ThreadResponse:
    """A conversation's messages, oldest first (404 if the thread does not exist)."""
    messages = await _agent(request).messages(thread_id)
    return ThreadResponse(thread_id=thread_id, messages=[Message(**m) for m in messages])
