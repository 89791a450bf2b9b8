"""AgentState: the one shape that flows through an interlock graph.

Records are TypedDicts rather than classes so a checkpoint in Redis is plain
data any replica (or any version of interlock) can read back, and an API
response can return them as they are.

A thread's state outlives a run (the checkpointer keeps it), but most fields
describe only the current run. ``run_input`` therefore resets them explicitly;
the list reducers below treat ``None`` as "start empty" for that purpose.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.graph.message import add_messages

Tier = Literal["small", "large"]
RequestKind = Literal["chitchat", "lookup", "multi_part", "reasoning", "code", "summary"]


class Document(TypedDict):
    """A retrieved knowledge-base chunk; ``id`` is stable across re-ingestion."""

    id: str
    text: str
    source: str
    title: str
    score: float


class Plan(TypedDict):
    kind: RequestKind
    needs_retrieval: bool
    sub_queries: list[str]


class RouteDecision(TypedDict):
    tier: Tier
    score: float
    reason: str
    degraded: NotRequired[bool]  # the preferred tier was down; say so to the caller


class Citation(TypedDict):
    id: str
    source: str
    title: str


class Answer(TypedDict):
    text: str
    citations: list[Citation]
    from_cache: bool
    model: NotRequired[str]


class SentenceScore(TypedDict):
    sentence: str
    score: float
    supported: bool
    best_document: str | None
    reason: str  # why it is not supported ("" when it is)


class CheckResult(TypedDict):
    score: float
    verdict: Literal["supported", "unsupported", "not_applicable"]
    sentences: list[SentenceScore]
    unsupported: list[str]
    invalid_citations: list[str]
    unknown_numbers: list[str]
    judged: NotRequired[int]  # sentences the LLM judge gave a verdict on (judge mode only)


class GuardReport(TypedDict):
    stage: Literal["input", "output"]
    allowed: bool
    redacted: bool
    triggered: list[str]
    reasons: list[str]


class Usage(TypedDict):
    calls: int
    input_tokens: int
    output_tokens: int
    cost: float


class ErrorInfo(TypedDict):
    kind: Literal["model_unavailable", "model_rejected", "over_budget", "refused"]
    detail: str


class RetrieveTask(TypedDict):
    """What the planner's ``Send`` hands to one retrieve branch."""

    query: str
    tenant: str


def merge_documents(left: list[Document] | None, right: list[Document] | None) -> list[Document]:
    """Merge retrieve branches without duplicates, keeping each chunk's best score.

    ``None`` on the right resets the list: it is how a new run on an old thread
    starts with no documents from the previous turn.
    """
    if right is None:
        return []
    merged: dict[str, Document] = {doc["id"]: doc for doc in left or []}
    for doc in right:
        kept = merged.get(doc["id"])
        if kept is None or doc["score"] > kept["score"]:
            merged[doc["id"]] = doc
    return sorted(merged.values(), key=lambda d: d["score"], reverse=True)


def append_reports(
    left: list[GuardReport] | None, right: list[GuardReport] | None
) -> list[GuardReport]:
    if right is None:
        return []
    return [*(left or []), *right]


def append_notes(left: list[str] | None, right: list[str] | None) -> list[str]:
    if right is None:
        return []
    return [*(left or []), *right]


def add_usage(left: Usage | None, right: Usage | None) -> Usage:
    if right is None:
        return empty_usage()
    base = left or empty_usage()
    return Usage(
        calls=base["calls"] + right["calls"],
        input_tokens=base["input_tokens"] + right["input_tokens"],
        output_tokens=base["output_tokens"] + right["output_tokens"],
        cost=round(base["cost"] + right["cost"], 8),
    )


def empty_usage() -> Usage:
    return Usage(calls=0, input_tokens=0, output_tokens=0, cost=0.0)


class AgentState(TypedDict, total=False):
    """The graph state. Nodes return partial updates of the fields they own."""

    messages: Annotated[list[AnyMessage], add_messages]
    run_id: str
    question: str
    user_id: str
    tenant: str
    plan: Plan | None
    documents: Annotated[list[Document], merge_documents]
    memories: list[str]
    route: RouteDecision | None
    answer: Answer | None
    check: CheckResult | None
    guards: Annotated[list[GuardReport], append_reports]
    attempts: int
    redactions: list[str]  # done before the run began (so no checkpoint holds the raw text)
    strict: bool  # generate with the stricter grounded prompt (a fallback path)
    fallbacks: Annotated[list[str], append_notes]  # each fallback path taken, in order
    error: ErrorInfo | None
    usage: Annotated[Usage, add_usage]


def run_input(
    question: str,
    *,
    user_id: str = "anonymous",
    tenant: str = "default",
    redactions: list[str] | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """The input of one run: the new user message plus a reset of per-run fields."""
    return {
        "redactions": list(redactions or []),
        "messages": [HumanMessage(content=question)],
        "run_id": run_id or str(uuid.uuid4()),
        "question": question,
        "user_id": user_id,
        "tenant": tenant,
        "plan": None,
        "documents": None,
        "memories": [],
        "route": None,
        "answer": None,
        "check": None,
        "guards": None,
        "usage": None,
        "attempts": 0,
        "strict": False,
        "fallbacks": None,
        "error": None,
    }
