"""The FastAPI application: one Agent per process, created in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from interlock.agent import Agent
from interlock.config import Settings
from interlock.server import langgraph_api
from interlock.server.errors import install_error_handlers
from interlock.server.limits import BodySizeLimit
from interlock.server.routes import agent as agent_routes
from interlock.server.routes import health as health_routes
from interlock.server.routes import knowledge as knowledge_routes
from interlock.server.routes import openai_compat


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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = agent is None
        app.state.agent = agent or await Agent.from_settings(settings)
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
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        overrides={
            "/v1/knowledge/": (settings.max_ingest_body_bytes, "INTERLOCK_MAX_INGEST_BODY_BYTES")
        },
    )
    app.include_router(health_routes.router)
    app.include_router(agent_routes.router)
    app.include_router(knowledge_routes.router)
    app.include_router(openai_compat.router)
    app.include_router(langgraph_api.build_router(settings))
    return app
