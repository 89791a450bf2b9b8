"""Request and response bodies of the HTTP API (they are the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from interlock.memory.response_cache import CacheControl
from interlock.nodes.route import RouteLimits


class InvokeRequest(BaseModel):
    question: str = Field(
        description="The user's message.", examples=["Which port does interlock listen on?"]
    )
    thread_id: str | None = Field(
        None, description="Continue this conversation; omit to start a new one."
    )
    user_id: str = Field("anonymous", max_length=128, description="Whose long-term memory to use.")
    tenant: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[\w.\-]+$",
        description="Whose knowledge base to search; with API keys it is the key's tenant "
        "(naming another is 403); with auth off, `default` unless given.",
    )
    no_cache: bool = Field(False, description="Neither read nor write the response caches.")
    cache_ttl_s: int | None = Field(
        None, ge=0, description="Keep this answer cached this long (default: the server's)."
    )

    max_cost: float | None = Field(
        None, ge=0, description="Route to a tier whose estimated cost stays under this."
    )
    max_latency_ms: float | None = Field(
        None, gt=0, description="Route to a tier whose recent latency stays under this."
    )

    response_schema: dict[str, Any] | None = Field(
        None,
        description="A JSON Schema: the answer is JSON matching it (guided decoding, then "
        "checked by the output guard). Such answers are not cached.",
        examples=[
            {
                "type": "object",
                "properties": {"port": {"type": "integer"}, "source": {"type": "string"}},
                "required": ["port", "source"],
            }
        ],
    )

    def limits(self) -> RouteLimits | None:
        limits = RouteLimits()
        if self.max_cost is not None:
            limits["max_cost"] = self.max_cost
        if self.max_latency_ms is not None:
            limits["max_latency_ms"] = self.max_latency_ms
        return limits or None

    def cache(self) -> CacheControl | None:
        control = CacheControl()
        if self.no_cache:
            control["no_cache"] = True
        if self.cache_ttl_s is not None:
            control["ttl_s"] = self.cache_ttl_s
        return control or None


INVOKE_EXAMPLE: dict[str, Any] = {
    "thread_id": "0b7f6a2e-3c1d-4d8e-9f61-2a5b7c9d0e13",
    "run_id": "5d2c8e4a-1f3b-4a6c-8d9e-7b0a1c2d3e4f",
    "answer": "interlock listens on port 8000 by default [1].",
    "citations": [
        {"id": "sample_kb/serving.md#0", "source": "sample_kb/serving.md", "title": "Serving"}
    ],
    "route": {"tier": "small", "score": 0.18, "reason": "lookup: short factual question"},
    "check": {
        "score": 0.91,
        "verdict": "supported",
        "sentences": [],
        "unsupported": [],
        "invalid_citations": [],
        "unknown_numbers": [],
    },
    "guards": [
        {"stage": "input", "allowed": True, "redacted": False, "triggered": [], "reasons": []}
    ],
    "usage": {"calls": 1, "input_tokens": 512, "output_tokens": 14, "cost": 0.0},
    "timings_ms": {
        "guard_in": 14.2,
        "planner": 3.1,
        "retrieve": 61.0,
        "route": 2.0,
        "generate": 1893.4,
        "check": 40.2,
        "guard_out": 6.5,
    },
    "trace_id": "4e604a9f6a5d9997b48a9fed24f40b17",
    "refused": False,
    "from_cache": False,
    "model": "smollm2-135m-instruct",
    "plan": {"kind": "lookup", "needs_retrieval": True, "sub_queries": []},
    "fallbacks": [],
}


class InvokeResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [INVOKE_EXAMPLE]})

    thread_id: str
    run_id: str
    answer: str
    citations: list[dict[str, Any]]
    route: dict[str, Any] | None
    check: dict[str, Any] | None
    guards: list[dict[str, Any]]
    usage: dict[str, Any]
    timings_ms: dict[str, float]
    trace_id: str = Field(
        "",
        description="The run's trace: in Langfuse when configured, and `interlock traces ID`.",
    )
    refused: bool
    from_cache: bool
    model: str | None
    plan: dict[str, Any] | None
    fallbacks: list[str] = Field(
        default_factory=list, description="Fallback paths taken (trim, escalate, ...)."
    )


class Message(BaseModel):
    role: str
    content: str


class ThreadResponse(BaseModel):
    thread_id: str
    messages: list[Message]


class ReadyResponse(BaseModel):
    ready: bool
    components: dict[str, str]
