"""The guards at both ends of the graph: input (guard_in) and output (guard_out).

Both are one concept: run a guardrails policy over text and record its
verdict. The input guard refuses or redacts the user's message before any
model sees it; the output guard redacts what the model produced and
assembles the final answer the user gets, with its citations.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from interlock.guardrails.policy import GuardVerdict, InputPolicy, OutputPolicy
from interlock.models.structured import response_schema
from interlock.nodes.fallback import answered_honestly
from interlock.state import AgentState, Answer, Citation, ErrorInfo, GuardReport


def _report(stage: Any, verdict: GuardVerdict) -> GuardReport:
    return GuardReport(
        stage=stage,
        allowed=verdict.allowed,
        redacted=verdict.redacted,
        triggered=list(verdict.triggered),
        reasons=list(verdict.reasons),
    )


class InputGuard:
    """guard_in: refuse with a reason, or pass the (possibly redacted) question on."""

    def __init__(self, policy: InputPolicy) -> None:
        self.policy = policy

    async def __call__(self, state: AgentState) -> dict[str, Any]:
        verdict = await self.policy.acheck(state["question"])
        report = _report("input", verdict)
        if earlier := state.get("redactions"):
            # Redacted by the agent before the run (see Agent._prepare): report it here.
            report["redacted"] = True
            report["reasons"] = [*earlier, *report["reasons"]]
        update: dict[str, Any] = {"guards": [report]}
        if not verdict.allowed:
            reason = "; ".join(verdict.reasons) or "the message was refused by the input policy"
            refusal = f"I can't help with that request: {reason}."
            update["error"] = ErrorInfo(kind="refused", detail=reason)
            update["answer"] = Answer(text=refusal, citations=[], from_cache=False)
            update["messages"] = [AIMessage(content=refusal)]
        elif verdict.redacted:
            # Replace the stored user message (same id) so the redacted text is
            # what later turns, caches and traces see.
            last = state["messages"][-1]
            update["question"] = verdict.text
            update["messages"] = [HumanMessage(content=verdict.text, id=last.id)]
        return update


def after_input_guard(state: AgentState) -> str:
    return "refused" if state.get("error") else "allowed"


class OutputGuard:
    """guard_out: the last word on what the user sees."""

    def __init__(self, policy: OutputPolicy) -> None:
        self.policy = policy

    async def __call__(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        answer = state.get("answer")
        if answer is None:
            return {}
        schema = response_schema(config)
        if answered_honestly(state):
            schema = None  # "the sources do not say" is prose; `fallbacks` tells the caller
        verdict = await self.policy.acheck(
            answer["text"], {"json_schema": schema} if schema else None
        )
        text = (
            verdict.text
            if verdict.allowed
            else ("I can't share that answer: " + "; ".join(verdict.reasons) + ".")
        )
        final = Answer(
            text=text,
            citations=_citations(state, answer) if verdict.allowed else [],
            from_cache=answer["from_cache"],
        )
        if "model" in answer:
            final["model"] = answer["model"]
        return {
            "guards": [_report("output", verdict)],
            "answer": final,
            "messages": [AIMessage(content=text)],
        }


def _citations(state: AgentState, answer: Answer) -> list[Citation]:
    """The model's own valid citations, plus the chunks the check found supporting it."""
    citations = {c["id"]: c for c in answer["citations"]}
    check = state.get("check")
    documents = {d["id"]: d for d in state.get("documents") or []}
    for sentence in check["sentences"] if check else []:
        doc = documents.get(sentence["best_document"] or "")
        if sentence["supported"] and doc and doc["id"] not in citations:
            citations[doc["id"]] = Citation(id=doc["id"], source=doc["source"], title=doc["title"])
    return list(citations.values())
