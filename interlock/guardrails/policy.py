"""Guard policies: which guardrails-ai validators run on input and on output.

A policy runs every validator on every call (``on_fail`` noop for refusals,
fix for redactions) so the report lists everything that fired, not only the
first. Refusal beats redaction: a message that is both injected and carries
an email is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guardrails import AsyncGuard, OnFailAction
from guardrails.settings import settings as guardrails_settings
from guardrails.validator_base import Validator

from interlock.guardrails.validators import (
    MaxLength,
    PIIRedactor,
    PromptInjection,
    SecretLeak,
    Toxicity,
)


def _telemetry_off() -> None:
    """guardrails-ai exports usage metrics by default; offline each export retries for seconds.

    ``Guard.configure`` reloads the rc file (which defaults to metrics on), so
    this is applied after every guard is configured and before validators
    are built (they read the setting at construction).
    """
    guardrails_settings.rc.enable_metrics = False


@dataclass(frozen=True)
class GuardVerdict:
    allowed: bool
    text: str
    reasons: list[str] = field(default_factory=list)
    redacted: bool = False
    triggered: list[str] = field(default_factory=list)


class _Policy:
    def __init__(
        self, refusers: list[type[Validator] | Validator], redactors: list[Validator]
    ) -> None:
        self._guard = AsyncGuard()
        self._guard.configure(allow_metrics_collection=False)
        _telemetry_off()
        refusing = [
            v if isinstance(v, Validator) else v(on_fail=OnFailAction.NOOP) for v in refusers
        ]
        self._refusers = {type(v).__name__ for v in refusing}
        self._guard.use(*refusing, *redactors)

    async def acheck(self, text: str) -> GuardVerdict:
        outcome = await self._guard.validate(text)
        refused, redacted, triggered = [], False, []
        for summary in outcome.validation_summaries or []:
            if summary.validator_status != "fail":
                continue
            triggered.append(summary.validator_name)
            if summary.validator_name in self._refusers:
                refused.append(summary.failure_reason or summary.validator_name)
            else:
                redacted = True
        output = outcome.validated_output if isinstance(outcome.validated_output, str) else text
        if refused:
            return GuardVerdict(False, text, refused, False, triggered)
        return GuardVerdict(True, output, [], redacted, triggered)


class InputPolicy(_Policy):
    """Refuse injection, abuse and oversized messages; redact PII and secrets."""

    def __init__(self, max_chars: int = 8000, redact_pii: bool = True) -> None:
        _telemetry_off()
        redactors: list[Validator] = [SecretLeak(on_fail=OnFailAction.FIX)]
        if redact_pii:
            redactors.append(PIIRedactor(on_fail=OnFailAction.FIX))
        super().__init__(
            [PromptInjection, Toxicity, MaxLength(max_chars=max_chars, on_fail=OnFailAction.NOOP)],
            redactors,
        )


class OutputPolicy(_Policy):
    """Redact PII and secrets the model produced; refuse abusive output."""

    def __init__(self, redact_pii: bool = True) -> None:
        _telemetry_off()
        redactors: list[Validator] = [SecretLeak(on_fail=OnFailAction.FIX)]
        if redact_pii:
            redactors.append(PIIRedactor(on_fail=OnFailAction.FIX))
        super().__init__([Toxicity], redactors)
