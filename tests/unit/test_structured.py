"""Structured answers: the caller's schema, the output check, and the claims that get checked."""

from __future__ import annotations

import json

import pytest

from interlock.errors import InvalidInput
from interlock.guardrails.policy import OutputPolicy
from interlock.models.structured import (
    claims,
    response_format,
    response_schema,
    schema_errors,
    validate_schema,
)

SCHEMA = {
    "type": "object",
    "properties": {"port": {"type": "integer"}, "source": {"type": "string"}},
    "required": ["port", "source"],
}


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ("a string", "must be a JSON Schema object"),
        ({"type": "objekt"}, "not a valid JSON Schema"),
        ({"properties": {"a": {"type": 3}}}, "not a valid JSON Schema"),
    ],
)
def test_an_unusable_schema_is_a_422_with_the_reason(schema: object, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as caught:
        validate_schema(schema)
    assert caught.value.status == 422


def test_the_request_format_and_the_runs_schema() -> None:
    assert validate_schema(SCHEMA) == SCHEMA
    fmt = response_format(SCHEMA, "answer")
    assert fmt == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True},
    }
    assert response_schema({"configurable": {"response_schema": SCHEMA}}) == SCHEMA
    assert response_schema({"configurable": {}}) is None and response_schema(None) is None


def test_schema_errors_say_where() -> None:
    assert schema_errors('{"port": 8000, "source": "a.md"}', SCHEMA) == []
    assert schema_errors('{"port": "8000", "source": "a.md"}', SCHEMA) == [
        "port: '8000' is not of type 'integer'"
    ]
    assert schema_errors('{"port": 80', SCHEMA)[0].startswith("not JSON")


def test_claims_are_the_string_values() -> None:
    answer = json.dumps({"port": 8000, "why": "The default port is 8000", "notes": ["Set it."]})
    assert claims(answer) == "The default port is 8000. Set it."
    assert claims("plain prose.") == "plain prose."


async def test_the_output_guard_refuses_an_answer_that_misses_the_schema() -> None:
    policy = OutputPolicy()
    good = await policy.acheck('{"port": 8000, "source": "a.md"}', {"json_schema": SCHEMA})
    assert good.allowed
    cut = await policy.acheck('{"port": 8000, "sou', {"json_schema": SCHEMA})
    assert not cut.allowed and "does not match the requested schema: not JSON" in cut.reasons[0]
    # PII inside a JSON answer is redacted and the answer stays valid JSON.
    leaky = await policy.acheck(
        '{"port": 8000, "source": "mail admin@example.com"}', {"json_schema": SCHEMA}
    )
    assert leaky.allowed and json.loads(leaky.text)["source"] == "mail [EMAIL]"
    # Without a requested schema, prose passes.
    assert (await policy.acheck("The port is 8000.")).allowed
