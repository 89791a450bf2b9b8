"""Structured answers: a caller's JSON Schema, the request format that enforces it, and its claims.

A caller who asks for structured output gets JSON constrained by the
server's guided decoding (vLLM and llama-server both honour an OpenAI
``response_format`` of type ``json_schema``), checked once more by the output
guard (a model may stop mid-object at its token limit). The hallucination
check still runs: on the answer's string values, which are its claims.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from interlock.errors import InvalidInput


def validate_schema(schema: object) -> dict[str, Any]:
    """The schema, if it is a usable JSON Schema object; otherwise a 422 with the reason."""
    if not isinstance(schema, Mapping):
        raise InvalidInput("response_schema must be a JSON Schema object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidInput(f"response_schema is not a valid JSON Schema: {exc.message}") from None
    return dict(schema)


def response_schema(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The run's requested schema, from ``config["configurable"]["response_schema"]``."""
    schema = ((config or {}).get("configurable") or {}).get("response_schema")
    return dict(schema) if isinstance(schema, Mapping) else None


def response_format(schema: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """The OpenAI/vLLM ``response_format`` that constrains decoding to ``schema``."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": name or str(schema.get("title", "output")),
            "schema": dict(schema),
            "strict": True,
        },
    }


def schema_errors(text: str, schema: Mapping[str, Any]) -> list[str]:
    """Why ``text`` is not a JSON document valid against ``schema`` ([] when it is)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"not JSON ({exc.msg} at character {exc.pos})"]
    return [
        f"{'/'.join(map(str, error.path)) or '(root)'}: {error.message}"
        for error in Draft202012Validator(schema).iter_errors(document)
    ]


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def claims(text: str) -> str:
    """The string values of a JSON answer as sentences, for the groundedness check."""
    try:
        document = json.loads(text)
    except ValueError:
        return text
    parts = [s.strip().rstrip(".") for s in _strings(document) if s.strip()]
    return ". ".join(parts) + "." if parts else ""
