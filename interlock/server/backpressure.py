"""Backpressure: a cap on the runs one process holds; beyond it, 503 at once.

Queueing past the cap would only move the wait into the client's timeout
while holding memory and sockets for each waiter; an immediate 503 with
``Retry-After`` lets a load balancer or the client send the request to a
less busy replica instead. The slot is held until the response has been
sent in full (for a stream, until its last event), which only an ASGI
middleware sees: a route or a dependency returns before a stream ends.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

RUN_PATHS = frozenset({"/v1/agent/invoke", "/v1/agent/stream", "/v1/chat/completions"})
RUN_SUFFIXES = ("/runs/wait", "/runs/stream")  # the LangGraph-compatible runs


def is_run(scope: Scope) -> bool:
    path: str = scope["path"]
    return scope["method"] == "POST" and (path in RUN_PATHS or path.endswith(RUN_SUFFIXES))


class InFlightRuns:
    """Pure ASGI middleware; ``count`` is the number of runs being served now."""

    def __init__(self, app: ASGIApp, max_runs: int, retry_after_s: int = 1) -> None:
        self.app = app
        self.max_runs = max_runs
        self.retry_after_s = retry_after_s
        self.count = 0

    async def _refuse(self, send: Send) -> None:
        reason = (
            f"server busy: {self.max_runs} runs in flight (INTERLOCK_MAX_INFLIGHT_RUNS); "
            f"retry in {self.retry_after_s}s"
        )
        body = {
            "error": {
                "type": "Overloaded",
                "reason": reason,
                "message": reason,
                "retry_after_s": self.retry_after_s,
            }
        }
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"retry-after", str(self.retry_after_s).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_run(scope):
            await self.app(scope, receive, send)
            return
        if self.count >= self.max_runs:
            await self._refuse(send)
            return
        # No lock needed: the check and the increment run without an await
        # between them, so no other request of this event loop interleaves.
        self.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.count -= 1
