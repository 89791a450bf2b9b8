"""check: is the answer supported by what was retrieved, and are its citations real?"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from interlock.guardrails.groundedness import GroundednessChecker
from interlock.models.prompt import SourceWindow
from interlock.models.structured import claims, response_schema
from interlock.state import AgentState


class Check:
    def __init__(
        self,
        checker: GroundednessChecker,
        *,
        threshold: float = 0.5,
        window: SourceWindow | None = None,
    ) -> None:
        self.checker = checker
        self.threshold = threshold
        self.window = window or SourceWindow()

    async def __call__(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        answer = state.get("answer")
        if answer is None:
            # Generation failed; the fallback decides. An earlier attempt's check
            # stays: it tells the fallback this run did get an answer before.
            return {}
        documents = state.get("documents") or []
        # A structured answer's claims are its string values.
        text = claims(answer["text"]) if response_schema(config) else answer["text"]
        result = await self.checker.check(
            text,
            documents,
            shown=self.window.select(documents),
            question=state["question"],
            threshold=self.threshold,
        )
        return {"check": result}


def after_check(state: AgentState) -> str:
    check = state.get("check")
    if state.get("error") or check is None or check["verdict"] == "unsupported":
        return "fallback"
    return "accept"
