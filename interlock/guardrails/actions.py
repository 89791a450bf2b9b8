"""What each guard does when it fires: refuse, redact, warn or off, per validator.

Kept apart from the validators so ``Settings`` can check an
``INTERLOCK_GUARD_ACTIONS`` value without importing guardrails-ai (seconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, cast

Action = Literal["refuse", "redact", "warn", "off"]

# The validators by the names a deployment configures them with, and what
# they do unless told otherwise.
DEFAULT_ACTIONS: dict[str, Action] = {
    "injection": "refuse",
    "toxicity": "refuse",
    "length": "refuse",
    "topics": "refuse",
    "json_schema": "refuse",
    "secrets": "redact",
    "pii": "redact",
}
REDACTORS = frozenset({"secrets", "pii"})  # the only ones that can fix a text


def resolve_actions(overrides: Mapping[str, str] | None = None) -> dict[str, Action]:
    """The defaults with ``overrides`` applied; a ValueError names what is wrong."""
    actions = dict(DEFAULT_ACTIONS)
    for name, action in (overrides or {}).items():
        if name not in DEFAULT_ACTIONS:
            raise ValueError(f"unknown guard {name!r}; one of {sorted(DEFAULT_ACTIONS)}")
        allowed = (
            ("refuse", "redact", "warn", "off") if name in REDACTORS else ("refuse", "warn", "off")
        )
        if action not in allowed:
            raise ValueError(f"guard {name!r} cannot {action!r}; it can {', '.join(allowed)}")
        actions[name] = cast(Action, action)
    return actions
