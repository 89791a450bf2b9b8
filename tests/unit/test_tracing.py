"""Tracing's pure parts: trace ids, scores, masking, the tree, the settings."""

from __future__ import annotations

import uuid

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langfuse import Langfuse

from interlock.config import Settings
from interlock.guardrails.policy import InputPolicy
from interlock.tracing import TraceRecord, run_scores, trace_id_for
from interlock.tracing.langfuse_export import masked
from interlock.tracing.tree import render, render_list


def test_trace_id_is_langfuses_own_for_the_run_id() -> None:
    for _ in range(5):
        run_id = str(uuid.uuid4())
        assert trace_id_for(run_id) == Langfuse.create_trace_id(seed=run_id)


def test_scores_name_the_check_the_guards_and_the_routers_own_choice() -> None:
    state = {
        "check": {"score": 0.8, "verdict": "supported", "unsupported": []},
        "guards": [
            {
                "stage": "input",
                "allowed": True,
                "redacted": True,
                "reasons": ["PII redacted: email"],
            },
            {"stage": "output", "allowed": False, "redacted": False, "reasons": ["toxicity"]},
        ],
        "route": {"tier": "large", "reason": "escalated after the check failed"},
    }
    scores = {s["name"]: s for s in run_scores(state, {"tier": "small", "reason": "lookup"})}
    assert scores["hallucination_check"]["value"] == 0.8
    assert scores["grounded"] == {
        "name": "grounded",
        "value": 1.0,
        "data_type": "BOOLEAN",
        "comment": None,
    }
    assert scores["guard_input"]["value"] == "redacted"
    assert scores["guard_input"]["comment"] == "PII redacted: email"
    assert scores["guard_output"]["value"] == "refused"
    assert scores["route"]["value"] == "small"  # the router's decision, not the fallback's
    # A run the check did not apply to (a refusal, chit-chat) has no check score.
    assert [s["name"] for s in run_scores({"check": {"verdict": "not_applicable"}})] == []


def test_masking_redacts_every_string_messages_and_documents_included() -> None:
    policy = InputPolicy()

    def redact(text: str) -> str:
        return policy.redact(text)[0]

    data = {
        "messages": [
            HumanMessage("mail me at jane.doe@example.com"),
            AIMessage("sure, jane.doe@example.com"),
        ],
        "documents": [Document(id="c1", page_content="call 415-555-0134", metadata={"score": 0.5})],
        "nested": [("key sk-abcdefghijklmnopqrstuvwx1234",)],
        "n": 3,
    }
    out = masked(data, redact)
    text = str(out)
    assert "jane.doe@example.com" not in text and "415-555-0134" not in text
    assert "sk-abcdefghijklmnopqrstuvwx1234" not in text
    assert out["messages"][0]["role"] == "human" and out["n"] == 3
    assert out["documents"][0]["id"] == "c1" and out["documents"][0]["metadata"]["score"] == 0.5


def test_the_tree_puts_model_calls_and_retrievals_under_their_node() -> None:
    record = TraceRecord(
        trace_id="a" * 32,
        run_id="r-1",
        graph="interlock-agent",
        thread_id="t-1",
        user_id="u",
        tenant="default",
        started_at=1_800_000_000.0,
        duration_ms=900.0,
        status="ok",
        error=None,
        spans=[
            {
                "kind": "node",
                "name": "retrieve",
                "node": None,
                "start_ms": 10.0,
                "duration_ms": 50.0,
                "detail": {},
            },
            {
                "kind": "retriever",
                "name": "KnowledgeRetriever",
                "node": "retrieve",
                "start_ms": 12.0,
                "duration_ms": 40.0,
                "detail": {"chunks": [{"id": "kb#1", "score": 0.83}]},
            },
            {
                "kind": "node",
                "name": "generate",
                "node": None,
                "start_ms": 70.0,
                "duration_ms": 800.0,
                "detail": {},
            },
            {
                "kind": "generation",
                "name": "PoolChatModel",
                "node": "generate",
                "start_ms": 71.0,
                "duration_ms": 790.0,
                "detail": {
                    "tier": "small",
                    "input_tokens": 300,
                    "output_tokens": 40,
                    "cost": 0.0,
                    "ttft_s": 0.15,
                    "latency_s": 0.79,
                },
            },
        ],
        scores=[{"name": "route", "value": "small", "data_type": "CATEGORICAL", "comment": None}],
        usage={"calls": 1, "input_tokens": 300, "output_tokens": 40, "cost": 0.0},
    )
    lines = render(record).splitlines()
    retrieve = next(i for i, line in enumerate(lines) if line.endswith("  retrieve"))
    assert "└ retriever  1 chunks: kb#1 0.83" in lines[retrieve + 1]
    generate = next(i for i, line in enumerate(lines) if line.endswith("  generate"))
    assert "└ generation small" in lines[generate + 1] and "ttft 150 ms" in lines[generate + 1]
    assert "scores: route small" in render(record)
    assert "a" * 32 in render_list([record])
    assert "no runs recorded" in render_list([])


def test_langfuse_is_configured_by_its_own_variables_or_interlocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "LANGFUSE_PUBLIC_KEY",
        "LANGFUSE_SECRET_KEY",
        "LANGFUSE_HOST",
        "LANGFUSE_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    assert not Settings.load().langfuse_enabled
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-hidden-42")
    monkeypatch.setenv("LANGFUSE_HOST", "http://langfuse.internal:3000/")
    settings = Settings.load()
    assert settings.langfuse_enabled and settings.langfuse_host == "http://langfuse.internal:3000"
    assert "sk-lf-hidden-42" not in repr(settings)
    monkeypatch.setenv("INTERLOCK_LANGFUSE_HOST", "http://other:3000")
    assert Settings.load().langfuse_host == "http://other:3000"
