"""Agent tools (LangChain tools) that a planner or a tool node may call."""

from interlock.tools.calculator import calculator
from interlock.tools.knowledge_search import knowledge_search_tool

__all__ = ["calculator", "knowledge_search_tool"]
