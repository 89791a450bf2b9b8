"""Who is calling: the API key of a request, resolved to a tenant and its scopes.

Routes depend on ``require(scope)``; it answers 401 (no key, unknown key),
403 (revoked key, missing scope) before the route runs, and hands the route a
``Principal``. Everything a tenant can see (threads, documents, memories) is
looked up under ``principal.tenant``, never under a tenant named in the body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from fastapi import Request

Scope = Literal["runs", "threads", "knowledge", "users"]
ALL_SCOPES: frozenset[str] = frozenset({"runs", "threads", "knowledge", "users"})
DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class Principal:
    """The caller of one request.

    ``key_id`` is None when the server runs with ``INTERLOCK_AUTH=off``; the
    tenant is then whatever the request names (development only).
    """

    tenant: str = DEFAULT_TENANT
    key_id: str | None = None
    scopes: frozenset[str] = field(default_factory=lambda: ALL_SCOPES)

    @property
    def authenticated(self) -> bool:
        return self.key_id is not None

    def tenant_for(self, requested: str | None) -> str:
        """The tenant a request acts for: the key's, or with auth off the one it names."""
        if self.authenticated or not requested:
            return self.tenant
        return requested


async def principal(request: Request) -> Principal:
    """The request's caller; with auth off, an anonymous caller with every scope."""
    resolver: Callable[[Request], Awaitable[Principal]] | None = getattr(
        request.app.state, "authenticate", None
    )
    if resolver is None:
        return Principal()
    return await resolver(request)


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the caller, who must hold ``scope``."""

    async def dependency(request: Request) -> Principal:
        return await principal(request)

    dependency.__name__ = f"require_{scope}"
    return dependency
