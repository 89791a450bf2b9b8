"""Guardrails: guardrails-ai validators and policies, and the groundedness check.

The policy names load on first use: importing guardrails-ai costs 2-3 s,
which ``interlock.guardrails.groundedness`` users should not pay. Loading
them (through ``interlock.guardrails.validators``) switches guardrails-ai's
hub telemetry off before any guard or validator exists; see
:func:`interlock.guardrails.validators.disable_guardrails_telemetry`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from interlock.guardrails.policy import GuardVerdict, InputPolicy, OutputPolicy
    from interlock.guardrails.validators import disable_guardrails_telemetry

__all__ = ["GuardVerdict", "InputPolicy", "OutputPolicy", "disable_guardrails_telemetry"]

_EXPORTS = {
    "GuardVerdict": "interlock.guardrails.policy",
    "InputPolicy": "interlock.guardrails.policy",
    "OutputPolicy": "interlock.guardrails.policy",
    "disable_guardrails_telemetry": "interlock.guardrails.validators",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
