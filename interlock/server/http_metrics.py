"""HTTP request metrics, as a pure ASGI middleware.

Not ``BaseHTTPMiddleware``: that one runs the app in a separate task and wraps
streamed bodies, which costs every request and breaks the cancellation of
``/v1/agent/stream`` when a client leaves. Here a request costs two clock reads
and three instrument updates (``benchmarks/metrics_overhead.py``).

Requests are labelled with the matched route's path template
(``/v1/threads/{thread_id}``), never the raw path: one series per thread id
would grow without bound. Starlette records the matched route object in the
scope while routing; :class:`RouteTemplates` maps it to its full template
(FastAPI >= 0.165 keeps an included router whole, so a route's own ``path``
lacks the prefix given at ``include_router``). A request refused before
routing (a 413 from the body limit) is matched against the same routes, and
one no route matches is ``unmatched``. A streamed response is timed to its
last byte.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlock.metrics import Metrics

UNMATCHED = "unmatched"


def flatten(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[BaseRoute, str]]:
    """Every route with the prefix it is served under (included routers opened up)."""
    for route in routes:
        inner: Any = getattr(route, "original_router", None)  # FastAPI's _IncludedRouter
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from flatten(inner.routes, prefix + str(getattr(context, "prefix", "") or ""))
        else:
            yield route, prefix


class RouteTemplates:
    """Full path templates of an app's routes, looked up by the matched route object."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = routes  # the app's list: routers included later are seen on rebuild
        self._entries: list[tuple[BaseRoute, str, str]] = []  # (route, prefix, template)
        self._by_id: dict[int, str] = {}
        self._built_from = -1

    def _build(self) -> None:
        self._entries = [
            (route, prefix, prefix + path)
            for route, prefix in flatten(self.routes)
            if isinstance(path := getattr(route, "path", None), str)
        ]
        self._by_id = {id(route): template for route, _, template in self._entries}
        self._built_from = len(self.routes)

    def of(self, scope: Scope) -> str:
        """The template of the route that served (or would have served) this request."""
        if self._built_from != len(self.routes):
            self._build()
        route = scope.get("route")
        if route is not None:
            if "app_root_path" in scope:
                # Under a Starlette Mount a route's path is relative to the mount point.
                mount = scope.get("root_path", "")[len(scope["app_root_path"]) :]
                return mount + str(getattr(route, "path", ""))
            template = self._by_id.get(id(route))
            if template is None:
                self._build()
                template = self._by_id.get(id(route), str(getattr(route, "path", UNMATCHED)))
            return template
        return self._match(scope)

    def _match(self, scope: Scope) -> str:
        path = scope["path"]
        partial = None
        for route, prefix, template in self._entries:
            if not path.startswith(prefix):
                continue
            match, _ = route.matches({**scope, "path": path[len(prefix) :], "root_path": ""})
            if match is Match.FULL:
                return template
            if match is Match.PARTIAL and partial is None:
                partial = template
        return partial or UNMATCHED


class HTTPMetrics:
    """Counts, times and gauges every HTTP request; add it outermost."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = RouteTemplates(routes)

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
                route = self.templates.of(scope)
            except Exception:
                route = UNMATCHED
            self.metrics.http_finished(scope["method"], route, status, time.perf_counter() - began)
