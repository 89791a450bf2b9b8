"""The LangGraph API's own errors; the app's handlers turn them into status and reason."""

from __future__ import annotations

from interlock.errors import InterlockError


class NotSupported(InterlockError):
    """A LangGraph server feature interlock does not offer; the reason says which."""

    status = 501


class AssistantNotFound(InterlockError):
    status = 404
