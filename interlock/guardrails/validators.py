"""interlock's guardrails-ai validators, written here because none can be fetched.

The Guardrails Hub validators install from the hub (unreachable offline) or
download models at run time; these are pattern-based validators registered
with guardrails-ai's own ``register_validator`` so they compose with any hub
validator a deployment adds. Each runs in well under a millisecond.
"""

from __future__ import annotations

import re
from typing import Any

from guardrails.classes.validation.validation_result import (
    FailResult,
    PassResult,
    ValidationResult,
)
from guardrails.validator_base import Validator, register_validator

_INJECTION = [
    r"ignore (?:all |any |the )?(?:previous|prior|above|earlier) (?:instructions|prompts|rules)",
    r"disregard (?:the |your |all )?(?:system prompt|previous instructions|rules)",
    r"forget (?:all |your )?(?:previous |prior )?instructions",
    r"(?:reveal|print|show|repeat) (?:me )?(?:your|the) (?:system|hidden|initial) prompt",
    r"you are now (?:dan|in developer mode|jailbroken)",
    r"\bdo anything now\b",
    r"<\|im_start\|>\s*system",
    r"\[/?(?:system|inst)\]",
    r"^\s*system\s*:",
]
_INJECTION_RE = re.compile("|".join(f"(?:{p})" for p in _INJECTION), re.IGNORECASE | re.MULTILINE)

_TOXIC = re.compile(
    r"\b(?:kill yourself|kys|you (?:stupid|worthless|pathetic) (?:idiot|moron|piece of \w+)|"
    r"you idiot|shut up,? you|i will (?:kill|hurt) you)\b",
    re.IGNORECASE,
)

_SECRETS: list[tuple[str, re.Pattern[str]]] = [
    ("aws access key", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("api key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b")),
    ("github token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    (
        "private key",
        re.compile(
            r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]*?"
            r"(?:-----END (?:[A-Z]+ )?PRIVATE KEY-----|$)"
        ),
    ),
    ("password", re.compile(r"(?i)\b(?:password|passwd|pwd|secret|api_key|token)\s*[=:]\s*\S+")),
]

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
# Phone numbers: an international "+" form, or a grouped national form such as
# (555) 123-4567 / 555-123-4567 / 555 123 4567. Bare digit runs (years, ports,
# counts) never match: a separator structure is required.
_PHONE = re.compile(
    r"(?:\+\d{1,3}[ .-]?(?:\(?\d{1,4}\)?[ .-]?){2,4}\d{2,4})"
    r"|(?:\(\d{3}\)\s?\d{3}[ .-]\d{4})"
    r"|(?:\b\d{3}[.-]\d{3}[.-]\d{4}\b)"
    r"|(?:\b\d{3} \d{3} \d{4}\b)"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


@register_validator(name="interlock/prompt_injection", data_type="string")
class PromptInjection(Validator):
    """Known prompt-injection phrasings; refuse rather than try to clean them."""

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        match = _INJECTION_RE.search(str(value))
        if match:
            return FailResult(
                error_message="the message looks like a prompt-injection attempt: "
                f"{match.group(0)!r}"
            )
        return PassResult()


@register_validator(name="interlock/toxicity", data_type="string")
class Toxicity(Validator):
    """Abusive language aimed at a person (a short list; a model-based check can replace it)."""

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        match = _TOXIC.search(str(value))
        if match:
            return FailResult(
                error_message=f"the message contains abusive language: {match.group(0)!r}"
            )
        return PassResult()


@register_validator(name="interlock/max_length", data_type="string")
class MaxLength(Validator):
    def __init__(self, max_chars: int, **kwargs: Any) -> None:
        super().__init__(max_chars=max_chars, **kwargs)
        self.max_chars = max_chars

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        if len(str(value)) > self.max_chars:
            return FailResult(
                error_message=f"the message is {len(str(value))} characters; "
                f"the limit is {self.max_chars}"
            )
        return PassResult()


@register_validator(name="interlock/secret_leak", data_type="string")
class SecretLeak(Validator):
    """Credentials must never reach a model, a log or a trace: redact them."""

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        text, found = str(value), []
        for kind, pattern in _SECRETS:
            if pattern.search(text):
                found.append(kind)
                text = pattern.sub("[REDACTED_SECRET]", text)
        if found:
            return FailResult(error_message=f"secrets redacted: {', '.join(found)}", fix_value=text)
        return PassResult()


@register_validator(name="interlock/pii", data_type="string")
class PIIRedactor(Validator):
    """Emails, phone numbers, Luhn-valid card numbers, IBANs and US SSNs → placeholders."""

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        text, found = redact_pii(str(value))
        if found:
            return FailResult(error_message=f"PII redacted: {', '.join(found)}", fix_value=text)
        return PassResult()


def redact_pii(text: str) -> tuple[str, list[str]]:
    found: list[str] = []

    def sub(pattern: re.Pattern[str], label: str, kind: str, text: str, check: Any = None) -> str:
        def replace(match: re.Match[str]) -> str:
            if check is not None and not check(match.group(0)):
                return match.group(0)
            if kind not in found:
                found.append(kind)
            return label

        return pattern.sub(replace, text)

    text = sub(_EMAIL, "[EMAIL]", "email", text)
    text = sub(_IBAN, "[IBAN]", "iban", text)
    text = sub(_SSN, "[SSN]", "ssn", text)
    text = sub(
        _CARD,
        "[CARD]",
        "card number",
        text,
        lambda s: 13 <= len(re.sub(r"\D", "", s)) <= 19 and _luhn(re.sub(r"\D", "", s)),
    )
    text = sub(_PHONE, "[PHONE]", "phone number", text, lambda s: len(re.sub(r"\D", "", s)) >= 9)
    return text, found
