"""The FastAPI application: one Agent per process, created in the lifespan.

The app also owns the process's ``Metrics`` and hands them to the Agent, so
every run the Agent makes — whichever route asked for it — is counted.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from interlock.agent import Agent
from interlock.config import Settings
from interlock.metrics import Metrics
from interlock.server import langgraph_api
from interlock.server.auth import AccessControl
from interlock.server.backpressure import InFlightRuns
from interlock.server.errors import install_error_handlers
from interlock.server.http_metrics import HTTPMetrics
from interlock.server.keys import ApiKeyStore
from interlock.server.limits import BodySizeLimit
from interlock.server.routes import agent as agent_routes
from interlock.server.routes import health as health_routes
from interlock.server.routes import knowledge as knowledge_routes
from interlock.server.routes import metrics as metrics_routes
from interlock.server.routes import openai_compat
from interlock.server.trace_header import TraceHeader

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    agent: Agent | None = None,
    ingest_sample: bool = False,
) -> FastAPI:
    """Build the app; pass ``agent`` to serve one you built (its lifetime stays yours).

    ``ingest_sample`` loads the bundled docs into an empty knowledge base at
    start, so a first ``make run`` can answer questions with citations.
    """
    settings = settings or (agent.settings if agent else Settings.load())
    metrics = (agent.metrics if agent else None) or Metrics.from_environment()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = agent is None
        app.state.agent = agent or await Agent.from_settings(settings)
        app.state.agent.metrics = metrics
        metrics.watch_pool(app.state.agent.components.tiers)
        if settings.auth == "api_keys":
            keys = ApiKeyStore(app.state.agent.redis, settings.redis_prefix)
            app.state.access = AccessControl(keys, settings)
        else:
            log.warning("INTERLOCK_AUTH=off: no API keys, callers name their tenant (dev only)")
        if ingest_sample:
            await app.state.agent.ensure_sample_knowledge()
        try:
            yield
        finally:
            if owned:
                await app.state.agent.aclose()

    app = FastAPI(
        title="interlock",
        version="0.1.0",
        summary="An LLM agent endpoint: guarded, routed, checked and remembered.",
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    install_error_handlers(app)
    # Middleware added last runs first: CORS answers preflights before anything else.
    app.add_middleware(TraceHeader)
    app.add_middleware(InFlightRuns, max_runs=settings.max_inflight_runs)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        overrides={
            "/v1/knowledge/": (settings.max_ingest_body_bytes, "INTERLOCK_MAX_INGEST_BODY_BYTES")
        },
    )
    # Outside the limits, so it also counts what the body limit and backpressure refuse.
    app.add_middleware(HTTPMetrics, metrics=metrics, routes=app.routes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["retry-after", "x-interlock-trace-id"],
        )
    app.include_router(health_routes.router)
    app.include_router(agent_routes.router)
    app.include_router(knowledge_routes.router)
    app.include_router(openai_compat.router)
    app.include_router(metrics_routes.router)
    app.include_router(langgraph_api.build_router(settings))
    return app
