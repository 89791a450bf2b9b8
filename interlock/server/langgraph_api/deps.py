"""What a LangGraph API route works with, injected per request.

Every route takes a ``Caller``: the tenant the request's principal acts for
(every thread lookup is scoped to it) and the services the app built in its
lifespan. Nothing here is a module-level singleton.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from langgraph.pregel import Pregel

from interlock.agent import Agent
from interlock.graphs.registry import GraphRegistry
from interlock.graphs.spec import AGENT_GRAPH_ID
from interlock.memory.threads import ThreadConflict, ThreadRecord, ThreadRegistry
from interlock.server.auth import Principal, require

# Where the lifespan keeps the served graphs (see ``build_router``).
GRAPHS_STATE = "langgraph_graphs"


@dataclass(frozen=True)
class Caller:
    tenant: str
    agent: Agent
    graphs: GraphRegistry

    @property
    def threads(self) -> ThreadRegistry:
        return self.agent.threads

    def graph_of(self, record: ThreadRecord) -> Pregel:
        """The graph whose state a thread holds (a fresh thread reads as the agent's)."""
        graph_id = record.graph_id or AGENT_GRAPH_ID
        served = self.graphs.resolve(graph_id)
        if served is None:
            raise ThreadConflict(
                f"thread {record.thread_id!r} runs graph {graph_id!r}, which this server "
                "does not serve (INTERLOCK_GRAPHS)"
            )
        return served.graph


def _caller(request: Request, principal: Principal) -> Caller:
    return Caller(
        tenant=principal.tenant,
        agent=request.app.state.agent,
        graphs=getattr(request.app.state, GRAPHS_STATE),
    )


async def thread_caller(
    request: Request, principal: Annotated[Principal, Depends(require("threads"))]
) -> Caller:
    return _caller(request, principal)


async def run_caller(
    request: Request, principal: Annotated[Principal, Depends(require("runs"))]
) -> Caller:
    return _caller(request, principal)


# What routes declare: the caller, with the scope each kind of route needs.
ThreadCaller = Annotated[Caller, Depends(thread_caller)]
RunCaller = Annotated[Caller, Depends(run_caller)]
