"""API keys: created once, stored hashed in Redis, each with a tenant, scopes and limits.

A key reads ``ilk_<id>_<secret>``. The id locates the record (one HGETALL,
no scan); the secret is never stored, only the SHA-256 of the whole key.
A fast hash is the right one here, unlike for passwords: the secret is 256
random bits, so there is nothing to guess from a leaked hash, and a slow
hash (bcrypt, argon2) would cost ~100 ms of CPU on every request.

Records live in Redis so every API replica sees a revocation at once; the
lookup is per request (~0.2 ms) rather than cached, for the same reason.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis

from interlock.errors import InterlockError, InvalidInput

KEY_RE = re.compile(r"^ilk_([0-9a-f]{16})_([A-Za-z0-9_\-]{20,})$")
SCOPES = ("runs", "threads", "knowledge", "users")
ALL_SCOPES = frozenset(SCOPES)
DEFAULT_SCOPES = ("runs", "threads")
TENANT_RE = re.compile(r"^[\w.\-]{1,128}$")


class Unauthorized(InterlockError):
    """No key, or a key this server never issued."""

    status = 401


class Forbidden(InterlockError):
    """A known key that may not do this: revoked, or without the scope."""

    status = 403


@dataclass(frozen=True)
class KeyLimits:
    """Per-key limits; ``None`` means the server's default (Settings), 0 means none."""

    rpm: int | None = None
    tpm: int | None = None
    budget_hour: float | None = None
    budget_day: float | None = None
    budget_month: float | None = None
    max_run_tokens: int | None = None
    max_run_cost: float | None = None


@dataclass(frozen=True)
class ApiKey:
    """A key's record, without its secret."""

    key_id: str
    tenant: str
    scopes: frozenset[str]
    name: str = ""
    created_at: float = 0.0
    revoked_at: float | None = None
    limits: KeyLimits = field(default_factory=KeyLimits)

    def public(self) -> dict[str, Any]:
        """What `interlock keys list` shows: everything but the hash."""
        return {
            "key_id": self.key_id,
            "tenant": self.tenant,
            "scopes": sorted(self.scopes),
            "name": self.name,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "limits": {k: v for k, v in asdict(self.limits).items() if v is not None},
        }


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _num(value: bytes | None, kind: type[int] | type[float]) -> Any:
    return None if not value else kind(value.decode())


class ApiKeyStore:
    """Keys under ``{prefix}:apikey:{id}`` and an index set ``{prefix}:apikeys``."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix

    def _key(self, key_id: str) -> str:
        return f"{self.prefix}:apikey:{key_id}"

    async def create(
        self,
        tenant: str,
        *,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        name: str = "",
        limits: KeyLimits | None = None,
    ) -> tuple[str, ApiKey]:
        """A new key: returns the secret (shown once, never stored) and its record."""
        if not TENANT_RE.match(tenant):
            raise InvalidInput(f"tenant {tenant!r}: use 1-128 letters, digits, '.', '_' or '-'")
        wanted = frozenset(scopes)
        if unknown := wanted - set(SCOPES):
            raise InvalidInput(
                f"unknown scope(s) {', '.join(sorted(unknown))}; known: {', '.join(SCOPES)}"
            )
        if not wanted:
            raise InvalidInput("a key needs at least one scope")
        limits = limits or KeyLimits()
        for label, value in asdict(limits).items():
            if value is not None and value < 0:
                raise InvalidInput(f"{label} must be >= 0 (0 = no limit)")
        key_id = secrets.token_hex(8)
        raw = f"ilk_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(
            key_id=key_id,
            tenant=tenant,
            scopes=wanted,
            name=name,
            created_at=round(time.time(), 3),
            limits=limits,
        )
        fields: dict[str, str] = {
            "hash": _digest(raw),
            "tenant": tenant,
            "scopes": ",".join(sorted(wanted)),
            "name": name,
            "created_at": str(record.created_at),
        }
        fields.update({k: str(v) for k, v in asdict(limits).items() if v is not None})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(key_id), mapping=fields)  # type: ignore[arg-type]
            pipe.sadd(f"{self.prefix}:apikeys", key_id)
            await pipe.execute()
        return raw, record

    def _record(self, key_id: str, data: dict[bytes, bytes]) -> ApiKey:
        limits = KeyLimits(
            rpm=_num(data.get(b"rpm"), int),
            tpm=_num(data.get(b"tpm"), int),
            budget_hour=_num(data.get(b"budget_hour"), float),
            budget_day=_num(data.get(b"budget_day"), float),
            budget_month=_num(data.get(b"budget_month"), float),
            max_run_tokens=_num(data.get(b"max_run_tokens"), int),
            max_run_cost=_num(data.get(b"max_run_cost"), float),
        )
        return ApiKey(
            key_id=key_id,
            tenant=data[b"tenant"].decode(),
            scopes=frozenset(s for s in data.get(b"scopes", b"").decode().split(",") if s),
            name=data.get(b"name", b"").decode(),
            created_at=_num(data.get(b"created_at"), float) or 0.0,
            revoked_at=_num(data.get(b"revoked_at"), float),
            limits=limits,
        )

    async def get(self, key_id: str) -> ApiKey | None:
        data = cast(dict[bytes, bytes], await self.redis.hgetall(self._key(key_id)))
        return self._record(key_id, data) if data else None

    async def list(self, tenant: str | None = None) -> list[ApiKey]:
        members = cast(set[bytes], await self.redis.smembers(f"{self.prefix}:apikeys"))
        ids = sorted(m.decode() for m in members)
        records = [r for key_id in ids if (r := await self.get(key_id)) is not None]
        return [r for r in records if tenant is None or r.tenant == tenant]

    async def revoke(self, key_id: str) -> ApiKey:
        """Mark revoked (kept, so its holder hears 403 "revoked", not 401 "unknown")."""
        if await self.get(key_id) is None:
            raise InvalidInput(f"no key with id {key_id!r}")
        stamp = str(round(time.time(), 3))
        await self.redis.hsetnx(self._key(key_id), "revoked_at", stamp)
        revoked = await self.get(key_id)
        assert revoked is not None
        return revoked

    async def authenticate(self, raw: str | None) -> ApiKey:
        """The record of a presented key; 401/403 with the reason otherwise."""
        if not raw:
            raise Unauthorized(
                "no API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`"
            )
        match = KEY_RE.match(raw.strip())
        if match is None:
            raise Unauthorized("malformed API key (expected ilk_<id>_<secret>)")
        data = cast(dict[bytes, bytes], await self.redis.hgetall(self._key(match.group(1))))
        if not data or not hmac.compare_digest(data[b"hash"].decode(), _digest(raw.strip())):
            raise Unauthorized("unknown API key")
        record = self._record(match.group(1), data)
        if record.revoked_at is not None:
            raise Forbidden(f"API key {record.key_id} was revoked")
        return record
