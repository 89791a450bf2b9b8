"""Liveness and readiness, for load balancers and Kubernetes probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from interlock.server.schemas import ReadyResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (says nothing about its dependencies)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=ReadyResponse, responses={503: {"model": ReadyResponse}})
async def readyz(request: Request) -> JSONResponse:
    """Redis, LanceDB and a model replica per tier reachable; else 503 naming what is down."""
    components = await request.app.state.agent.readiness()
    ready = all(v == "ok" for v in components.values())
    return JSONResponse(
        ReadyResponse(ready=ready, components=components).model_dump(),
        status_code=200 if ready else 503,
    )
