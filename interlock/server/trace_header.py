"""``x-interlock-trace-id`` on every response that ran a graph, whichever API served it.

Pure ASGI middleware: the run announces its trace id while it is being set up
(``interlock.tracing.context``), before the response starts, and this adds the
header to whatever response follows: an answer, a stream, or an error the run
ended with. One place, so the OpenAI-compatible and LangGraph-compatible
routes carry it without knowing about it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlock.server.backpressure import is_run
from interlock.tracing import TRACE_HEADER, collect_trace_ids


class TraceHeader:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_run(scope):
            await self.app(scope, receive, send)
            return
        with collect_trace_ids() as ids:

            async def send_with_header(message: Message) -> None:
                if message["type"] == "http.response.start" and ids:
                    headers = list(message.get("headers", []))
                    headers.append((TRACE_HEADER.encode(), ids[-1].encode()))
                    message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, send_with_header)
