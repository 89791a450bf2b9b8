"""The hard cap on one run's tokens and cost, checked before every model call.

A caller (the HTTP layer, from the API key) puts ``{"max_tokens": N,
"max_cost": X}`` in ``config["configurable"]["cap"]``. Before a call, the
run's usage so far plus this call's worst case (its prompt and the full
answer allowance) must fit; when only the answer allowance does not, the
answer is shortened to what is left rather than refused. A budget that a
fallback retry would break stops the run there instead of spending it.
"""

from __future__ import annotations

from typing import TypedDict

from langchain_core.runnables import RunnableConfig

from interlock.models.tier import ModelTier
from interlock.state import Usage

MIN_ANSWER_TOKENS = 16  # below this an answer is not worth a call


class RunCap(TypedDict, total=False):
    max_tokens: int
    max_cost: float


def run_cap(config: RunnableConfig | None) -> RunCap:
    cap = ((config or {}).get("configurable") or {}).get("cap")
    return RunCap(**cap) if isinstance(cap, dict) else RunCap()


def answer_allowance(
    cap: RunCap, used: Usage | None, tier: ModelTier, prompt_tokens: int, answer_tokens: int
) -> tuple[int, str]:
    """How many answer tokens this call may use, or 0 and why it may not be made."""
    used_tokens = (used["input_tokens"] + used["output_tokens"]) if used else 0
    used_cost = used["cost"] if used else 0.0
    allowed = answer_tokens
    if "max_tokens" in cap:
        allowed = min(allowed, cap["max_tokens"] - used_tokens - prompt_tokens)
    if "max_cost" in cap:
        per_out = tier.estimate_cost(0, 1000) / 1000
        left = cap["max_cost"] - used_cost - tier.estimate_cost(prompt_tokens, 0)
        if per_out > 0:
            allowed = min(allowed, int(left / per_out + 1e-9))  # 99.999… is 100
        elif left < 0:
            allowed = 0
    if allowed < MIN_ANSWER_TOKENS:
        return 0, (
            f"the run's cap ({', '.join(f'{k} {v:g}' for k, v in cap.items())}) leaves no room "
            f"for this call: {used_tokens} tokens and {used_cost:.6g} spent, "
            f"~{prompt_tokens} prompt tokens on the {tier.name} tier"
        )
    return allowed, ""
