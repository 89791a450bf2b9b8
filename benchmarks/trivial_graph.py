"""The trivial graph of the HTTP load benchmark: one node, one streamed chat completion.

Served unchanged by interlock (``INTERLOCK_GRAPHS='{"trivial":
"benchmarks/trivial_graph.py:graph"}'``) and by LangGraph's own server
(``langgraph.json`` naming the same ``benchmarks/trivial_graph.py:graph``), so the
load benchmark compares the two servers on the same graph code.

``graph``: the node calls langchain-openai's ``ChatOpenAI``, one client per replica
URL, picking the replica round robin per call (the same code in both servers; no
failover: a call to a dead replica fails after ChatOpenAI's own retries).
``pool_graph`` (only where interlock is importable): the same node over interlock's
large tier (``PoolChatModel``: balancing, circuit breakers, failover to another
replica), built from the ``INTERLOCK_*`` settings.

Replica URLs come from ``INTERLOCK_LARGE_MODEL_URLS`` (comma-separated OpenAI-compatible
base URLs, ``…/v1``) and the model name from ``INTERLOCK_LARGE_MODEL_NAME`` (default
``sim-model``, the simulator's). Input: ``{"messages": [...], "max_tokens": N}``; the
answer's tokens stream as ``messages`` events.
"""

from __future__ import annotations

import itertools
import os
from typing import Annotated, Any, NotRequired, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from pydantic import SecretStr

URLS = [u.strip() for u in os.environ.get("INTERLOCK_LARGE_MODEL_URLS", "").split(",") if u.strip()]
MODEL = os.environ.get("INTERLOCK_LARGE_MODEL_NAME", "sim-model")


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    max_tokens: NotRequired[int]


def _build(pick: Any) -> Any:
    """The one-node graph; ``pick()`` returns the chat model for this call."""

    async def answer(state: State) -> dict[str, Any]:
        model: BaseChatModel = pick()
        reply = await model.ainvoke(state["messages"], max_tokens=state.get("max_tokens", 24))
        return {"messages": [reply]}

    builder = StateGraph(State)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", END)
    return builder.compile()


def _round_robin() -> Any:
    """One ChatOpenAI (own connection pool) per replica, taken in turn; built on first use."""
    turn: list[Any] = []

    def pick() -> BaseChatModel:
        if not turn:
            if not URLS:
                raise RuntimeError("set INTERLOCK_LARGE_MODEL_URLS to the replicas' …/v1 URLs")
            models = [
                ChatOpenAI(
                    base_url=url,
                    api_key=SecretStr("unused"),
                    model=MODEL,
                    temperature=0,
                    timeout=60,
                )
                for url in URLS
            ]
            turn.append(itertools.cycle(models))
        model: BaseChatModel = next(turn[0])
        return model

    return pick


graph = _build(_round_robin())

try:  # interlock's pool: only where interlock is installed (not in LangGraph's own venv)
    from interlock.agent import build_tiers
    from interlock.config import Settings
    from interlock.models.chat_model import PoolChatModel
except ImportError:  # pragma: no cover - LangGraph's server imports this file too
    pass
else:
    _settings = Settings.load()
    if _settings.large_model_urls:
        # build_tiers builds both tiers; only the large one is used here.
        _small = _settings.small_model_urls or _settings.large_model_urls
        _tier = build_tiers(_settings.model_copy(update={"small_model_urls": _small}))["large"]
        _pool = PoolChatModel(tier=_tier)
        pool_graph = _build(lambda: _pool)
