"""HTTP request metrics, as a pure ASGI middleware.

Not ``BaseHTTPMiddleware``: that one runs the app in a separate task and wraps
streamed bodies, which costs every request and breaks the cancellation of
``/v1/agent/stream`` when a client leaves. Here a request costs two clock reads
and three instrument updates (``benchmarks/metrics_overhead.py``).

Requests are labelled with the matched route's path template
(``/v1/threads/{thread_id}``), never the raw path: one series per thread id
would grow without bound. Starlette records the matched route in the scope
while routing; a request refused before routing (a 413 from the body limit)
is matched here against the same routes, and one no route matches is
``unmatched``. The latency of a streamed response runs to its last byte.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlock.metrics import Metrics

UNMATCHED = "unmatched"


def route_template(scope: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """The path template of the route that served (or would serve) this request."""
    route = scope.get("route")
    if route is None:
        for candidate in routes:
            match, _ = candidate.matches(scope)
            if match is not Match.NONE:
                route = candidate
                break
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    if "app_root_path" in scope and route is scope.get("route"):
        # Under a Mount (which sets app_root_path) a route's path is relative to it.
        return scope.get("root_path", "")[len(scope["app_root_path"]) :] + path
    return path


class HTTPMetrics:
    """Counts, times and gauges every HTTP request; add it outermost."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes  # the app's route list, read at request time (routers add later)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before responding

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        began = time.perf_counter()
        self.metrics.http_started()
        try:
            await self.app(scope, receive, send_status)
        finally:
            try:
                route = route_template(scope, self.routes)
            except Exception:
                route = UNMATCHED
            self.metrics.http_finished(scope["method"], route, status, time.perf_counter() - began)
