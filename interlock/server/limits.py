"""Request body size limit, enforced before the body is read into memory.

A pure ASGI middleware (not ``BaseHTTPMiddleware``) so it can refuse on the
``Content-Length`` header and also stop a chunked body that grows past the
limit, without buffering it.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """``max_bytes`` everywhere, except under the path prefixes of ``overrides``
    (prefix → (limit, the setting that names it)), e.g. document uploads."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        overrides: dict[str, tuple[int, str]] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = overrides or {}

    def _limit(self, path: str) -> tuple[int, str]:
        for prefix, limit in self.overrides.items():
            if path.startswith(prefix):
                return limit
        return self.max_bytes, "INTERLOCK_MAX_BODY_BYTES"

    async def _refuse(self, send: Send, limit: int, setting: str) -> None:
        reason = f"request body over {limit} bytes ({setting})"
        body = json.dumps(
            {"error": {"type": "InputTooLarge", "reason": reason, "message": reason}}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self._limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit, setting)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await self._refuse(send, limit, setting)
