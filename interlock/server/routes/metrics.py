"""``GET /metrics``: the Prometheus exposition of this process (or of every worker)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from interlock.metrics import Metrics

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text format (OpenMetrics when the scraper asks for it).

    Unauthenticated, like ``/healthz``: scrape it from inside the cluster and
    keep it off the public ingress. Its labels carry no tenant, user or thread.
    """
    instruments: Metrics = request.app.state.metrics
    body, content_type = await instruments.arender(request.headers.get("accept"))
    return Response(content=body, media_type=content_type)
