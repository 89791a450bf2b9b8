"""Graph values as JSON, the way LangGraph's server writes them.

Graph states hold LangChain messages, dataclasses, pydantic models, tuples
and LangGraph's own types (``Interrupt``, ``Send``); the SDK expects each as
the plain JSON the LangGraph server sends (a message as its ``model_dump``).
Whatever has no JSON form is written as its ``str``, so one odd value in a
user's state never breaks a response or a stream.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from fastapi.responses import Response
from langgraph.types import Interrupt, Send
from pydantic import BaseModel


def _default(obj: object) -> Any:
    if isinstance(obj, BaseModel):  # LangChain messages included
        return obj.model_dump()
    if isinstance(obj, Interrupt):
        return {"value": obj.value, "id": obj.id}
    if isinstance(obj, Send):
        return {"node": obj.node, "arg": obj.arg}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, set | frozenset):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="replace")
    if isinstance(obj, BaseException):
        return f"{type(obj).__name__}: {obj}"
    return str(obj)


def _finite(obj: Any) -> Any:
    """NaN and infinities as null: JSON has no such numbers and the SDK's parser refuses them."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def dumps(obj: object) -> str:
    """One line of JSON (newlines inside strings are escaped, so an SSE data line stays one)."""
    try:
        return json.dumps(obj, default=_default, ensure_ascii=False, allow_nan=False)
    except ValueError:
        plain = json.loads(json.dumps(obj, default=_default, ensure_ascii=False))
        return json.dumps(_finite(plain), ensure_ascii=False)


def json_response(
    obj: object, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        dumps(obj), status_code=status_code, media_type="application/json", headers=headers
    )
