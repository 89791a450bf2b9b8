"""Error responses: a status and a reason, never a traceback.

Every typed interlock error maps to its own status; a validation error keeps
FastAPI's field-level detail; anything unexpected is logged with its
traceback on the server and answered with a plain 500.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from interlock.errors import InterlockError, ServiceUnavailable

log = logging.getLogger(__name__)


def error_body(kind: str, reason: str, **extra: object) -> dict[str, object]:
    """``message`` repeats ``reason`` in the field OpenAI's clients show the user."""
    return {"error": {"type": kind, "reason": reason, "message": reason, **extra}}


async def _interlock_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InterlockError)
    retry_after = getattr(exc, "retry_after_s", 5 if isinstance(exc, ServiceUnavailable) else None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    extra = {"retry_after_s": retry_after} if retry_after is not None else {}
    return JSONResponse(
        error_body(type(exc).__name__, exc.reason, **extra),
        status_code=exc.status,
        headers=headers,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors()
    ]
    reason = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return JSONResponse(error_body("InvalidInput", reason, details=details), status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        error_body("HTTPError", str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(error_body("InternalError", "internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InterlockError, _interlock_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
