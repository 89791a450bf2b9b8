"""Who is calling, and whether they may: API keys, scopes, rate limits, budgets.

Routes depend on ``require(scope)``. Before the route runs it answers 401
(no key, unknown key), 403 (revoked key, missing scope), 429 with
``Retry-After`` (requests or tokens per minute spent) or 402 (a budget
spent), and otherwise hands the route a ``Principal``. Everything a tenant
can see (threads, documents, memories) is looked up under
``principal.tenant``, never under a tenant a request body names.

With ``INTERLOCK_AUTH=off`` there are no keys: every caller is an anonymous
principal with every scope and no limits, acting for the tenant it names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from fastapi import Request

from interlock.config import Settings
from interlock.errors import InterlockError
from interlock.nodes.run_cap import RunCap
from interlock.server.budgets import SpendLedger
from interlock.server.keys import ALL_SCOPES, ApiKey, ApiKeyStore, Forbidden
from interlock.server.ratelimit import SlidingWindowLimiter

Scope = Literal["runs", "threads", "knowledge", "users"]
DEFAULT_TENANT = "default"


class RateLimited(InterlockError):
    """Too many requests or tokens this minute: 429, with when to come back."""

    status = 429

    def __init__(self, reason: str, retry_after_s: int) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Principal:
    """The caller of one request; ``key`` is None when auth is off."""

    tenant: str = DEFAULT_TENANT
    key: ApiKey | None = None
    scopes: frozenset[str] = field(default_factory=lambda: ALL_SCOPES)
    cap: RunCap | None = None  # the hard cap for a run, from the key's limits and budgets

    @property
    def key_id(self) -> str | None:
        return self.key.key_id if self.key else None

    @property
    def authenticated(self) -> bool:
        return self.key is not None

    def tenant_for(self, requested: str | None) -> str:
        """The tenant a request acts for: the key's (403 if the body names another)."""
        if not self.authenticated:
            return requested or self.tenant
        if requested and requested != self.tenant:
            raise Forbidden(f"this API key acts for tenant {self.tenant!r}, not {requested!r}")
        return self.tenant

    def user_for(self, user_id: str) -> str:
        """The user id as stored: qualified by the key's tenant, so two tenants'
        "alice" never share memories, threads or a data-removal request."""
        return f"{self.tenant}/{user_id}" if self.authenticated else user_id


def presented_key(request: Request) -> str | None:
    """The key from ``Authorization: Bearer`` (OpenAI clients) or ``x-api-key`` (langgraph-sdk)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key")


class AccessControl:
    """Keys, per-key rate limits and budgets, all in Redis (shared by every replica)."""

    def __init__(self, keys: ApiKeyStore, settings: Settings) -> None:
        self.keys = keys
        self.settings = settings
        self.limiter = SlidingWindowLimiter(keys.redis, settings.redis_prefix)
        self.ledger = SpendLedger(keys.redis, settings.redis_prefix)

    def _rpm(self, key: ApiKey) -> int:
        return self.settings.rate_limit_rpm if key.limits.rpm is None else key.limits.rpm

    def _tpm(self, key: ApiKey) -> int:
        return self.settings.rate_limit_tpm if key.limits.tpm is None else key.limits.tpm

    async def authenticate(self, request: Request) -> Principal:
        """The key's principal, after counting this request against its rate limit."""
        key = await self.keys.authenticate(presented_key(request))
        if rpm := self._rpm(key):
            verdict = await self.limiter.take(f"{key.key_id}:requests", rpm)
            if not verdict.admitted:
                raise RateLimited(
                    f"rate limit of {rpm} requests per minute reached for key {key.key_id}",
                    verdict.retry_after_s,
                )
        return Principal(tenant=key.tenant, key=key, scopes=key.scopes)

    async def admit_run(self, principal: Principal) -> Principal:
        """Refuse a run the key's token rate or budgets cannot pay for; set its cap."""
        key = principal.key
        if key is None:
            return principal
        if tpm := self._tpm(key):
            verdict = await self.limiter.peek(f"{key.key_id}:tokens", tpm)
            if not verdict.admitted:
                raise RateLimited(
                    f"token limit of {tpm} per minute reached for key {key.key_id} "
                    f"({verdict.used} used)",
                    verdict.retry_after_s,
                )
        budgets = {
            period: amount
            for period, amount in (
                ("hour", key.limits.budget_hour),
                ("day", key.limits.budget_day),
                ("month", key.limits.budget_month),
            )
            if amount
        }
        left = await self.ledger.check(key.key_id, budgets)
        cap = RunCap()
        costs = [*left.values(), *([key.limits.max_run_cost] if key.limits.max_run_cost else [])]
        if costs:
            cap["max_cost"] = min(costs)
        if key.limits.max_run_tokens:
            cap["max_tokens"] = key.limits.max_run_tokens
        return replace(principal, cap=cap or None)

    async def settle(self, principal: Principal, usage: dict[str, Any] | None) -> None:
        """Count a finished run's tokens and cost against the key."""
        if principal.key is None or not usage:
            return
        tokens = int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))
        await self.limiter.add(f"{principal.key.key_id}:tokens", tokens)
        await self.ledger.add(principal.key.key_id, float(usage.get("cost", 0.0)))


def access_of(request: Request) -> AccessControl | None:
    access: AccessControl | None = getattr(request.app.state, "access", None)
    return access


async def principal(request: Request) -> Principal:
    """The request's caller; with auth off, an anonymous caller with every scope."""
    access = access_of(request)
    if access is None:
        return Principal()
    found = await access.authenticate(request)
    request.state.principal = found
    return found


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the caller, who must hold ``scope``; a run is also admitted."""

    async def dependency(request: Request) -> Principal:
        caller = await principal(request)
        if scope not in caller.scopes:
            raise Forbidden(f"this API key lacks the {scope!r} scope")
        access = access_of(request)
        if scope == "runs" and access is not None:
            caller = await access.admit_run(caller)
        return caller

    dependency.__name__ = f"require_{scope}"
    return dependency


async def settle(request: Request, caller: Principal, usage: dict[str, Any] | None) -> None:
    """After a run: charge its usage to the caller's key (no-op with auth off)."""
    access = access_of(request)
    if access is not None:
        await access.settle(caller, usage)
