"""Typed errors: every failure a caller can act on has a class and a reason.

The HTTP layer maps each class to one status code and the CLI prints the
message; neither ever shows a traceback for these.
"""

from __future__ import annotations


class InterlockError(Exception):
    """Base class; ``status`` is the HTTP status the server answers with."""

    status: int = 500

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidInput(InterlockError):
    """The request itself is wrong (empty, not UTF-8, malformed)."""

    status = 422


class InputTooLarge(InterlockError):
    status = 413


class ThreadNotFound(InterlockError):
    status = 404


class BudgetExceeded(InterlockError):
    """Spending more would break a budget (the key's, or the run's hard cap): 402."""

    status = 402


class ServiceUnavailable(InterlockError):
    """A backing service (Redis, LanceDB, every model replica) cannot be reached.

    ``component`` names which, so an operator knows where to look.
    """

    status = 503

    def __init__(self, component: str, reason: str) -> None:
        super().__init__(f"{component} unavailable: {reason}")
        self.component = component


class ModelUnavailable(ServiceUnavailable):
    def __init__(self, reason: str) -> None:
        super().__init__("model", reason.removeprefix("model unavailable: "))
