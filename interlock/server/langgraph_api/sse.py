"""A run as the Server-Sent Events the LangGraph SDK parses.

The stream is: ``metadata`` (``{"run_id", "thread_id", "attempt"}``) first,
then one event per item of each requested mode, named after the mode
(``values``, ``updates``, ``custom``…; ``mode|ns1|ns2`` for a subgraph's),
and last ``end``, or ``error`` (``{"error", "message"}``) if the run failed.
Every data line is one JSON document.

Messages come in two shapes. ``messages-tuple`` sends each message or token
chunk as it comes, as ``messages`` events of ``[message, metadata]``.
``messages`` sends ``messages/metadata`` once per message id, then for a
streamed message ``messages/partial`` with the text so far, and for a
message written whole ``messages/complete``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, BaseMessageChunk

from interlock.server.langgraph_api.runner import Chunk, Finished, StartedRun
from interlock.server.langgraph_api.serde import dumps

log = logging.getLogger(__name__)

HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {dumps(data)}\n\n"


class EventEncoder:
    """A run's chunks as SSE events, for the modes the client asked for."""

    def __init__(self, requested: Sequence[str], run_id: str) -> None:
        self.tuples = "messages-tuple" in requested
        self.whole = "messages" in requested
        self.run_id = run_id
        self._so_far: dict[str, BaseMessageChunk] = {}
        self._described: set[str] = set()
        self._unnamed = 0

    def encode(self, chunk: Chunk) -> Iterator[str]:
        suffix = "".join(f"|{part}" for part in chunk.namespace)
        if chunk.mode != "messages":
            yield event(chunk.mode + suffix, chunk.payload)
            return
        message, metadata = chunk.payload
        if self.tuples:
            yield event("messages" + suffix, [message, metadata])
        if self.whole:
            yield from self._messages(message, metadata, suffix)

    def _message_id(self, message: object) -> str:
        found = getattr(message, "id", None)
        if isinstance(found, str) and found:
            return found
        self._unnamed += 1
        return f"run-{self.run_id}-{self._unnamed}"

    def _messages(self, message: object, metadata: dict[str, Any], suffix: str) -> Iterator[str]:
        message_id = self._message_id(message)
        if message_id not in self._described:
            self._described.add(message_id)
            yield event("messages/metadata" + suffix, {message_id: {"metadata": metadata}})
        if isinstance(message, BaseMessageChunk):
            known = self._so_far.get(message_id)
            so_far = message if known is None else known + message
            self._so_far[message_id] = so_far
            yield event("messages/partial" + suffix, [_with_id(so_far, message_id)])
        else:
            yield event("messages/complete" + suffix, [_with_id(message, message_id)])


def _with_id(message: object, message_id: str) -> object:
    if isinstance(message, BaseMessage) and not message.id:
        return message.model_copy(update={"id": message_id})
    return message


async def event_stream(
    run: StartedRun, requested: Sequence[str], timeout_s: float
) -> AsyncIterator[str]:
    """The response body; closing it (the client left) cancels the run."""
    yield event("metadata", {"run_id": run.run_id, "thread_id": run.thread_id, "attempt": 1})
    encoder = EventEncoder(requested, run.run_id)
    try:
        async with asyncio.timeout(timeout_s):
            async for item in run.items:
                if isinstance(item, Finished):
                    if item.failure is not None:
                        yield event("error", item.failure.json())
                    else:
                        yield event("end", {"run_id": run.run_id, "status": "success"})
                    return
                for text in encoder.encode(item):
                    yield text
    except TimeoutError:
        reason = f"the run took longer than {timeout_s:.0f}s (INTERLOCK_REQUEST_TIMEOUT_S)"
        yield event("error", {"error": "TimeoutError", "message": reason})
    except Exception:
        log.exception("run %s failed while streaming", run.run_id)
        yield event("error", {"error": "InternalError", "message": "internal server error"})


async def wait_for(run: StartedRun, timeout_s: float) -> Any:
    """The run's final values, or ``{"__error__": {...}}`` as LangGraph's server answers."""
    finished: Finished | None = None
    try:
        async with asyncio.timeout(timeout_s):
            async for item in run.items:
                if isinstance(item, Finished):
                    finished = item
    except TimeoutError:
        reason = f"the run took longer than {timeout_s:.0f}s (INTERLOCK_REQUEST_TIMEOUT_S)"
        return {"__error__": {"error": "TimeoutError", "message": reason}}
    if finished is None:  # pragma: no cover - every run ends with Finished
        return {
            "__error__": {"error": "InternalError", "message": "the run ended without a result"}
        }
    if finished.failure is not None:
        return {"__error__": finished.failure.json()}
    return finished.values
