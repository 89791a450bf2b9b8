"""Guard policies: which guardrails-ai validators run on input and on output.

Every validator runs on every call (``on_fail`` noop for refusals, fix for
redactions), so a verdict lists everything that fired, not only the first.
Refusal beats redaction: a message that is both an injection and carries an
email is refused (and the text kept in the verdict is still the redacted one,
so a refused message never leaks into logs either).

Redactors run in separate guard stages, one fixing validator per guard.
guardrails-ai runs the validators of one guard concurrently and three-way
merges their fix values; two redactions touching the same or adjacent text
can then lose one of them. Chaining stages keeps redaction deterministic
(secrets first, then PII on the already-redacted text).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from guardrails import AsyncGuard, Guard, OnFailAction
from guardrails.validator_base import Validator

from interlock.guardrails.actions import Action, resolve_actions
from interlock.guardrails.injection_classifier import InjectionClassifier
from interlock.guardrails.validators import (
    BannedTopics,
    InjectionClassifierCheck,
    JsonSchemaOutput,
    MaxLength,
    PIIRedactor,
    PromptInjection,
    SecretLeak,
    Toxicity,
    disable_guardrails_telemetry,
    redact_pii,
    redact_secrets,
)


@dataclass(frozen=True)
class GuardVerdict:
    """What a policy decided about one text.

    ``text`` is what may travel on: the redacted text (also on refusal, so a
    refused message's secrets stay out of logs). ``reasons`` explains
    refusals first, then redactions, in words a user can read.
    """

    allowed: bool
    text: str
    reasons: list[str] = field(default_factory=list)
    redacted: bool = False
    triggered: list[str] = field(default_factory=list)


@dataclass
class _StageResult:
    text: str
    failures: list[tuple[str, str]]  # (validator name, failure reason)
    usable: bool


class _Policy:
    """Refusing and warning validators plus a chain of redacting ones, on a sync and an async guard.

    A warning validator runs like a refusing one but only adds its reason to
    the verdict (``INTERLOCK_GUARD_ACTIONS``: ``warn``).
    """

    def __init__(
        self,
        refusers: Sequence[Validator],
        redactors: Sequence[Validator],
        warners: Sequence[Validator] = (),
    ) -> None:
        # Validators read the metrics setting when they are built, and every
        # Guard() reloads it from the rc file: switch it off around both.
        disable_guardrails_telemetry()
        self._refusers = {type(v).__name__ for v in refusers}
        self._warners = {type(v).__name__ for v in warners}
        checks = [*refusers, *warners]
        stages: list[list[Validator]] = (
            [[*checks, redactors[0]], *([r] for r in redactors[1:])] if redactors else [checks]
        )
        self._guards = [self._configured(Guard(), stage) for stage in stages]
        self._async_guards = [self._configured(AsyncGuard(), stage) for stage in stages]
        disable_guardrails_telemetry()

    @staticmethod
    def _configured(guard: Any, validators: list[Validator]) -> Any:
        guard.configure(allow_metrics_collection=False)
        guard.use(*validators)
        return guard

    async def _ametadata(self, text: str) -> dict[str, Any]:
        """What validators need that must be computed off the event loop (see InputPolicy)."""
        return {}

    async def acheck(self, text: str, context: Mapping[str, Any] | None = None) -> GuardVerdict:
        """Run every stage; ``context`` reaches the validators as metadata (e.g. a schema)."""
        metadata = {**(context or {}), **await self._ametadata(text)}
        stages = []
        current = text
        for guard in self._async_guards:
            stage = self._stage(current, await guard.validate(current, metadata=metadata))
            stages.append(stage)
            current = stage.text
        return self._verdict(stages)

    def check(self, text: str) -> GuardVerdict:
        """Synchronous form, for scripts and sync code paths.

        Outside an event loop this runs :meth:`acheck` on a private loop: the
        sync ``Guard.validate`` would otherwise install uvloop as the
        process-wide event loop policy (guardrails-ai does that as a side
        effect). Inside a running loop the sync guards run sequentially.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.acheck(text))
        stages = []
        current = text
        with warnings.catch_warnings():
            # Inside a running loop guardrails-ai falls back to sequential
            # validation (what is wanted here) and warns about it every call.
            warnings.filterwarnings("ignore", "Could not obtain an event loop", UserWarning)
            for guard in self._guards:
                stage = self._stage(current, guard.validate(current))
                stages.append(stage)
                current = stage.text
        return self._verdict(stages)

    @staticmethod
    def _stage(text: str, outcome: Any) -> _StageResult:
        failures = [
            (s.validator_name, s.failure_reason or s.validator_name)
            for s in outcome.validation_summaries or []
            if s.validator_status == "fail"
        ]
        output = outcome.validated_output
        if isinstance(output, str):
            return _StageResult(output, failures, True)
        return _StageResult(text, failures, False)

    def _verdict(self, stages: list[_StageResult]) -> GuardVerdict:
        triggered: list[str] = []
        refusals: list[str] = []
        notes: list[str] = []
        warnings_: list[str] = []
        for stage in stages:
            for name, reason in stage.failures:
                if name not in triggered:
                    triggered.append(name)
                if name in self._refusers:
                    refusals.append(reason)
                elif name in self._warners:
                    warnings_.append(f"warning: {reason}")
                else:
                    notes.append(reason)
        text = stages[-1].text
        redacted = bool(notes)
        notes += warnings_
        if not all(stage.usable for stage in stages):
            # Fail closed: never pass on text whose redaction did not complete.
            refusals.append("the message could not be checked safely")
        if refusals:
            return GuardVerdict(False, text, refusals + notes, redacted, triggered)
        return GuardVerdict(True, text, notes, redacted, triggered)


def _arrange(
    validators: Mapping[str, list[Validator]], actions: Mapping[str, Action]
) -> tuple[list[Validator], list[Validator], list[Validator]]:
    """(refusers, redactors, warners) from each named validator's action.

    Redactors stay in a fixed order (secrets, then PII) so the chain is
    deterministic; "off" leaves a validator out entirely.
    """
    refusers: list[Validator] = []
    redactors: list[Validator] = []
    warners: list[Validator] = []
    for name, built in validators.items():
        action = actions[name]
        if action == "refuse":
            refusers.extend(built)
        elif action == "redact":
            redactors.extend(built)
        elif action == "warn":
            warners.extend(built)
    return refusers, redactors, warners


def _on_fail(name: str, actions: Mapping[str, Action]) -> OnFailAction:
    return OnFailAction.FIX if actions[name] == "redact" else OnFailAction.NOOP


class InputPolicy(_Policy):
    """Before any model sees a message: refuse injection, abuse, banned topics and oversize;
    redact the rest.

    Injection is caught two ways: the patterns (precise, name what they saw)
    and, when a ``classifier`` is given, the learned check that catches
    reworded, translated and pasted-in attacks; either refuses. Secrets are
    redacted (they are never needed to answer); PII too, unless
    ``redact_pii`` is off, for deployments that must keep it (e.g. a support
    desk looking up the caller's own account). ``actions`` changes what any
    of them does (see ``guardrails/actions.py``).
    """

    def __init__(
        self,
        max_chars: int = 8000,
        redact_pii: bool = True,
        classifier: InjectionClassifier | None = None,
        *,
        actions: Mapping[str, str] | None = None,
        banned_topics: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        disable_guardrails_telemetry()
        self.max_chars = max_chars
        self.classifier = classifier
        overrides = {**({} if redact_pii else {"pii": "off"}), **(actions or {})}
        self.actions = resolve_actions(overrides)
        self.redact_pii = self.actions["pii"] == "redact"
        act = self.actions
        injection: list[Validator] = [
            PromptInjection(defer_quoted=classifier is not None, on_fail=OnFailAction.NOOP)
        ]
        if classifier is not None:
            injection.append(InjectionClassifierCheck(classifier, on_fail=OnFailAction.NOOP))
        named: dict[str, list[Validator]] = {
            "injection": injection,
            "toxicity": [Toxicity(on_fail=OnFailAction.NOOP)],
            "length": [MaxLength(max_chars=max_chars, on_fail=OnFailAction.NOOP)],
            "topics": (
                [BannedTopics(banned_topics, on_fail=OnFailAction.NOOP)] if banned_topics else []
            ),
            "secrets": [SecretLeak(on_fail=_on_fail("secrets", act))],
            "pii": [PIIRedactor(on_fail=_on_fail("pii", act))],
        }
        super().__init__(*_arrange(named, act))

    def redact(self, text: str) -> tuple[str, list[str]]:
        """The redactions alone, as plain functions: for text that must be clean before it
        is stored anywhere (the agent applies them before the run's input is checkpointed).

        Returns the text and the reasons, in the validators' words.
        """
        reasons: list[str] = []
        if self.actions["secrets"] == "redact":
            text, kinds = redact_secrets(text)
            if kinds:
                reasons.append(f"secrets redacted: {', '.join(kinds)}")
        if self.actions["pii"] == "redact":
            text, kinds = redact_pii(text)
            if kinds:
                reasons.append(f"PII redacted: {', '.join(kinds)}")
        return text, reasons

    async def _ametadata(self, text: str) -> dict[str, Any]:
        if self.classifier is None or len(text) > self.max_chars:
            # Oversized text is refused anyway; do not spend an encode on it.
            return {"injection_score": 0.0} if self.classifier else {}
        return {"injection_score": await self.classifier.ascore(text)}


class OutputPolicy(_Policy):
    """The last word on what the user sees: redact PII and secrets the model produced, refuse abuse.

    No injection check: the model's own answer quoting an attack (e.g. when
    explaining one) is not itself an attack. A structured answer must match
    the caller's schema (``acheck(text, {"json_schema": schema})``).
    ``actions`` as for the input.
    """

    def __init__(
        self, redact_pii: bool = True, *, actions: Mapping[str, str] | None = None
    ) -> None:
        disable_guardrails_telemetry()
        overrides = {**({} if redact_pii else {"pii": "off"}), **(actions or {})}
        self.actions = resolve_actions(overrides)
        self.redact_pii = self.actions["pii"] == "redact"
        act = self.actions
        named: dict[str, list[Validator]] = {
            "toxicity": [Toxicity(on_fail=OnFailAction.NOOP)],
            "json_schema": [JsonSchemaOutput(on_fail=OnFailAction.NOOP)],
            "secrets": [SecretLeak(on_fail=_on_fail("secrets", act))],
            "pii": [PIIRedactor(on_fail=_on_fail("pii", act))],
        }
        super().__init__(*_arrange(named, act))
