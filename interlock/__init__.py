"""interlock: a production LLM agent framework on LangGraph.

The public API is what this module exports; everything else is reachable
through its subpackage (``interlock.nodes``, ``interlock.memory`` …) for
composing your own graphs. Exports load on first use, so importing one
store or node does not pay for the whole stack (guardrails alone costs
seconds to import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from interlock.agent import Agent, AgentResult
    from interlock.config import Settings
    from interlock.errors import (
        InputTooLarge,
        InterlockError,
        InvalidInput,
        ModelUnavailable,
        ServiceUnavailable,
        ThreadNotFound,
    )
    from interlock.graphs.agent import AgentComponents, agent_graph, build_agent_graph
    from interlock.models.chat_model import PoolChatModel
    from interlock.models.tier import ModelTier
    from interlock.state import AgentState, run_input

_EXPORTS = {
    "Agent": "interlock.agent",
    "AgentResult": "interlock.agent",
    "AgentComponents": "interlock.graphs.agent",
    "AgentState": "interlock.state",
    "InputTooLarge": "interlock.errors",
    "InterlockError": "interlock.errors",
    "InvalidInput": "interlock.errors",
    "ModelTier": "interlock.models.tier",
    "ModelUnavailable": "interlock.errors",
    "PoolChatModel": "interlock.models.chat_model",
    "ServiceUnavailable": "interlock.errors",
    "Settings": "interlock.config",
    "ThreadNotFound": "interlock.errors",
    "agent_graph": "interlock.graphs.agent",
    "build_agent_graph": "interlock.graphs.agent",
    "run_input": "interlock.state",
}

__all__ = [
    "Agent",
    "AgentComponents",
    "AgentResult",
    "AgentState",
    "InputTooLarge",
    "InterlockError",
    "InvalidInput",
    "ModelTier",
    "ModelUnavailable",
    "PoolChatModel",
    "ServiceUnavailable",
    "Settings",
    "ThreadNotFound",
    "agent_graph",
    "build_agent_graph",
    "run_input",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'interlock' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
