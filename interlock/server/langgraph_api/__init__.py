"""A LangGraph-server-compatible API, so ``langgraph_sdk`` clients work unchanged.

Threads, their state and history, runs (``wait`` and ``stream``, on a thread
or stateless) and assistants, on the paths and in the shapes the official
SDK uses. Served graphs are the default agent (graph and assistant id
``agent``) and the user graphs of ``INTERLOCK_GRAPHS``. Modules: ``threads``,
``runs`` and ``assistants`` hold the routes; ``runner`` starts runs, ``sse``
writes them as events, ``schemas`` and ``serde`` the JSON, ``deps`` what a
route is given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from interlock.config import Settings
from interlock.graphs.registry import bind_graphs, import_graphs
from interlock.server.langgraph_api import assistants, runs, threads
from interlock.server.langgraph_api.deps import GRAPHS_STATE


def build_router(settings: Settings) -> APIRouter:
    """The API's routes, for ``app.include_router``.

    User graphs are imported now, so a broken one stops the app from being
    built with a ConfigError naming it; they are compiled with the agent's
    checkpointer in the lifespan, once the agent exists (FastAPI runs an
    included router's lifespan inside the app's).
    """
    imported = import_graphs(settings.graphs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        agent = app.state.agent
        graphs = await bind_graphs(
            agent.graph,
            imported,
            checkpointer=agent.checkpointer,
            store=agent.components.store,
            specs=settings.graphs,
        )
        setattr(app.state, GRAPHS_STATE, graphs)
        yield

    router = APIRouter(lifespan=lifespan)
    for part in (assistants.router, threads.router, runs.router):
        router.include_router(part)
    return router


__all__ = ["build_router"]
