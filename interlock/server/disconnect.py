"""Cancel a run when its client goes away.

For a stream Starlette does this itself (it stops the body iterator when
the client disconnects). A plain request/response handler is not told: it
would run the graph to the end, holding a model slot for nobody. So the
run is raced against the connection's next ASGI message, which after the
body has been read can only be ``http.disconnect``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from interlock.errors import InterlockError

T = TypeVar("T")


class ClientClosedRequest(InterlockError):
    """The client left before the answer (nginx's 499); nobody reads this response."""

    status = 499


class RequestTimeout(InterlockError):
    status = 504


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def run_for_client(request: Request, work: Coroutine[Any, Any, T], timeout_s: float) -> T:
    """``work``'s result; cancelled on disconnect (499) or after ``timeout_s`` (504)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait(
            {task, watcher}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            return task.result()
        if watcher in done:
            raise ClientClosedRequest("the client closed the connection; the run was cancelled")
        raise RequestTimeout(f"the run took longer than {timeout_s:.0f}s")
    finally:
        for pending in (task, watcher):
            if not pending.done():
                pending.cancel()
        # Wait for the run to unwind, so its model stream is closed before we answer.
        await asyncio.gather(task, watcher, return_exceptions=True)


_END = object()


async def stream_for_client(request: Request, events: AsyncIterator[T]) -> AsyncIterator[T]:
    """``events`` passed through; the run stops as soon as the client goes away.

    Starlette notices a gone client only when it next writes, and a run
    waiting seconds for its first token writes nothing, so the model would
    keep generating for nobody. The run is consumed by one task (LangGraph's
    context variables stay in one context) into a small queue, and that
    task is cancelled when the connection's ``http.disconnect`` arrives.
    """
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=8)

    async def produce() -> None:
        try:
            async for event in events:
                await queue.put(event)
        finally:
            await queue.put(_END)

    producer = asyncio.ensure_future(produce())
    watcher = asyncio.ensure_future(_disconnected(request))
    # The watcher stops the run; the run's own clean-up then ends the queue. Racing each
    # queue.get() against the watcher instead cost a task and an asyncio.wait per event.
    watcher.add_done_callback(lambda _: producer.cancel())
    try:
        while (item := await queue.get()) is not _END:
            yield item  # type: ignore[misc]
        if not watcher.done():
            await producer  # re-raise what ended the run, if anything did
    finally:
        for pending in (producer, watcher):
            if not pending.done():
                pending.cancel()
        await asyncio.gather(producer, watcher, return_exceptions=True)


class EventStreamResponse(StreamingResponse):
    """A stream whose body comes from ``stream_for_client``, which watches the client.

    Starlette's own ``StreamingResponse`` also listens for the disconnect and
    cancels the body through an anyio cancel scope; that cancellation is
    level-triggered, so every ``await`` of the run's clean-up is cancelled
    again and the HTTP stream to the model replica was left open, generating
    for nobody until it finished. Here the body is simply sent; the
    disconnect is handled once, by ``stream_for_client`` cancelling the run
    as a plain asyncio task, whose clean-up then completes.
    """

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # OSError: the client is gone; stream_for_client has stopped the run.
        with contextlib.suppress(OSError):
            await self.stream_response(send)
