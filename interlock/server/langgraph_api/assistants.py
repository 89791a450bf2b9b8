"""LangGraph API assistants: one per served graph, read-only.

An assistant's id is its graph id or the uuid LangGraph derives from it
(``interlock.graphs.registry.assistant_id``); clients may pass either.
Creating or versioning assistants is not offered: the graphs are the
server's configuration (``INTERLOCK_GRAPHS``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response

from interlock.graphs.registry import ServedGraph
from interlock.server.langgraph_api.deps import Caller, RunCaller
from interlock.server.langgraph_api.errors import AssistantNotFound, NotSupported
from interlock.server.langgraph_api.schemas import AssistantSearch, assistant_json
from interlock.server.langgraph_api.serde import json_response

router = APIRouter(tags=["LangGraph API: assistants"])


def _served(caller: Caller, assistant_id: str) -> ServedGraph:
    served = caller.graphs.resolve(assistant_id)
    if served is None:
        raise AssistantNotFound(f"assistant {assistant_id!r} does not exist")
    return served


def _matching(caller: Caller, body: AssistantSearch) -> list[dict[str, Any]]:
    found = [assistant_json(g) for g in caller.graphs]
    if body.graph_id:
        found = [a for a in found if a["graph_id"] == body.graph_id]
    if body.name:
        found = [a for a in found if body.name.lower() in a["name"].lower()]
    for key, value in (body.metadata or {}).items():
        found = [a for a in found if a["metadata"].get(key) == value]
    return found


@router.post("/assistants/search")
async def search_assistants(body: AssistantSearch, caller: RunCaller) -> Response:
    """The served graphs as assistants, filtered, sorted, one page."""
    found = _matching(caller, body)
    found.sort(key=lambda a: a[body.sort_by or "created_at"], reverse=body.sort_order == "desc")
    page = found[body.offset : body.offset + body.limit]
    if body.select:
        page = [{k: v for k, v in a.items() if k in body.select} for a in page]
    more = body.offset + body.limit < len(found)
    headers = {"x-pagination-next": str(body.offset + body.limit)} if more else {}
    return json_response(page, headers=headers)


@router.post("/assistants/count")
async def count_assistants(body: AssistantSearch, caller: RunCaller) -> Response:
    return json_response(len(_matching(caller, body)))


@router.post("/assistants", status_code=501)
async def create_assistant(caller: RunCaller) -> Response:
    raise NotSupported("assistants are the graphs this server serves (INTERLOCK_GRAPHS)")


@router.get("/assistants/{assistant_id}")
async def get_assistant(assistant_id: str, caller: RunCaller) -> Response:
    return json_response(assistant_json(_served(caller, assistant_id)))


@router.get("/assistants/{assistant_id}/graph")
async def get_assistant_graph(
    assistant_id: str, caller: RunCaller, xray: int | bool = False
) -> Response:
    """The graph's nodes and edges, as LangGraph draws them."""
    graph = _served(caller, assistant_id).graph
    return json_response(graph.get_graph(xray=xray).to_json())


def _schema(make: Callable[[], Any]) -> Any:
    try:
        return make()
    except Exception:  # a state LangGraph cannot describe: the SDK's schema allows None
        return None


@router.get("/assistants/{assistant_id}/schemas")
async def get_assistant_schemas(assistant_id: str, caller: RunCaller) -> Response:
    """JSON Schemas of the graph's input, output, state, config and context."""
    served = _served(caller, assistant_id)
    graph = served.graph
    return json_response(
        {
            "graph_id": served.graph_id,
            "input_schema": _schema(graph.get_input_jsonschema),
            "output_schema": _schema(graph.get_output_jsonschema),
            "state_schema": _schema(graph.get_output_jsonschema),
            "config_schema": _schema(graph.get_config_jsonschema),
            "context_schema": _schema(graph.get_context_jsonschema),
        }
    )
