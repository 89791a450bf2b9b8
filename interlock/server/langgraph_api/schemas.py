"""Request bodies the LangGraph SDK sends, and the shapes it reads back.

Field names and defaults follow ``langgraph_sdk`` (its ``schema.py`` and the
payloads its clients build). Unknown fields are ignored, as the SDK sends
options this server has no use for (``feedback_keys``, ``langsmith_tracer``…);
options it cannot honour are refused by the routes with 501 and a reason,
never silently dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import Interrupt, PregelTask, StateSnapshot
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from interlock.errors import InvalidInput
from interlock.graphs.registry import ServedGraph
from interlock.memory.response_cache import CacheControl
from interlock.memory.threads import ThreadRecord, ThreadStatus
from interlock.nodes.route import RouteLimits

StreamModeName = Literal[
    "values",
    "messages",
    "updates",
    "events",
    "tasks",
    "checkpoints",
    "debug",
    "custom",
    "messages-tuple",
    "tools",
    "lifecycle",
]
ThreadSortBy = Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"]
AssistantSortBy = Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"]
SortOrder = Literal["asc", "desc"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ThreadCreate(_Body):
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    supersteps: list[Any] | None = None
    ttl: Any = None


class ThreadPatch(_Body):
    metadata: dict[str, Any] = Field(default_factory=dict)
    ttl: Any = None


class ThreadSearch(_Body):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    ids: list[str] | None = None
    status: ThreadStatus | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    sort_by: ThreadSortBy | None = None
    sort_order: SortOrder | None = None
    select: list[str] | None = None
    extract: dict[str, str] | None = None


class ThreadCount(_Body):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: ThreadStatus | None = None


class StateAt(_Body):
    checkpoint: dict[str, Any]
    subgraphs: bool = False


class HistoryRequest(_Body):
    limit: int = Field(10, ge=1, le=1000)
    before: str | dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None


class RunCreate(_Body):
    assistant_id: str = Field(min_length=1)
    input: dict[str, Any] | None = None
    command: dict[str, Any] | None = None
    stream_mode: StreamModeName | list[StreamModeName] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None
    checkpoint_id: str | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    webhook: str | None = None
    multitask_strategy: Literal["reject", "interrupt", "rollback", "enqueue"] | None = None
    if_not_exists: Literal["create", "reject"] | None = None
    on_disconnect: Literal["cancel", "continue"] | None = None
    on_completion: Literal["delete", "keep"] | None = None
    after_seconds: float | None = None
    durability: Literal["sync", "async", "exit"] | None = None

    @property
    def modes(self) -> list[str]:
        """The requested stream modes, in order, without repeats."""
        asked = [self.stream_mode] if isinstance(self.stream_mode, str) else self.stream_mode
        return list(dict.fromkeys(asked))


class AgentOptions(_Body):
    """What ``config.configurable`` sets for an agent run: ``/v1/agent/invoke``'s knobs."""

    user_id: str = Field("anonymous", min_length=1, max_length=128)
    no_cache: bool = False
    cache_ttl_s: int | None = Field(None, ge=0)
    max_cost: float | None = Field(None, ge=0)
    max_latency_ms: float | None = Field(None, gt=0)
    response_schema: dict[str, Any] | None = None

    @classmethod
    def of(cls, config: dict[str, Any] | None) -> AgentOptions:
        try:
            return cls.model_validate((config or {}).get("configurable") or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(f"config.configurable.{where}: {first['msg']}") from None

    def cache(self) -> CacheControl | None:
        control = CacheControl()
        if self.no_cache:
            control["no_cache"] = True
        if self.cache_ttl_s is not None:
            control["ttl_s"] = self.cache_ttl_s
        return control or None

    def limits(self) -> RouteLimits | None:
        limits = RouteLimits()
        if self.max_cost is not None:
            limits["max_cost"] = self.max_cost
        if self.max_latency_ms is not None:
            limits["max_latency_ms"] = self.max_latency_ms
        return limits or None


class AssistantSearch(_Body):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    sort_by: AssistantSortBy | None = None
    sort_order: SortOrder | None = None
    select: list[str] | None = None


# -- responses -------------------------------------------------------------------------
def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def thread_json(record: ThreadRecord, values: dict[str, Any] | None) -> dict[str, Any]:
    """A ``Thread`` of the SDK's schema."""
    return {
        "thread_id": record.thread_id,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "metadata": record.shown_metadata,
        "status": record.status,
        "values": values,
        "interrupts": {},
        "config": {},
    }


def checkpoint_json(config: RunnableConfig | None) -> dict[str, Any] | None:
    if not config:
        return None
    conf = config.get("configurable", {})
    return {
        "thread_id": conf.get("thread_id"),
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf.get("checkpoint_id"),
        "checkpoint_map": conf.get("checkpoint_map"),
    }


def interrupt_json(interrupt: Interrupt) -> dict[str, Any]:
    return {"value": interrupt.value, "id": interrupt.id}


def _task_json(task: PregelTask) -> dict[str, Any]:
    nested = task.state
    return {
        "id": task.id,
        "name": task.name,
        "error": f"{type(task.error).__name__}: {task.error}" if task.error else None,
        "interrupts": [interrupt_json(i) for i in task.interrupts],
        "checkpoint": checkpoint_json(nested) if isinstance(nested, dict) else None,
        "state": state_json(nested) if isinstance(nested, StateSnapshot) else None,
        "result": task.result,
    }


def state_json(snapshot: StateSnapshot) -> dict[str, Any]:
    """A ``ThreadState`` of the SDK's schema."""
    return {
        "values": snapshot.values,
        "next": list(snapshot.next),
        "tasks": [_task_json(t) for t in snapshot.tasks],
        "checkpoint": checkpoint_json(snapshot.config),
        "metadata": snapshot.metadata,
        "created_at": snapshot.created_at,
        "parent_checkpoint": checkpoint_json(snapshot.parent_config),
        "interrupts": [interrupt_json(i) for i in snapshot.interrupts],
    }


def assistant_json(served: ServedGraph) -> dict[str, Any]:
    """An ``Assistant``: one per served graph, with LangGraph's default fields."""
    created = iso(served.created_at)
    return {
        "assistant_id": served.assistant_id,
        "graph_id": served.graph_id,
        "config": {},
        "context": {},
        "created_at": created,
        "updated_at": created,
        "metadata": {"created_by": "system"},
        "version": 1,
        "name": served.graph_id,
        "description": None,
    }
