"""The wire module's reading of failures that reach it from below httpx."""

from __future__ import annotations

import httpx
import pytest

from interlock.models import wire

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def client_raising(exc: Exception) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_a_connection_reset_as_it_opens_under_uvloop_is_the_replicas_failure() -> None:
    # What anyio raises under uvloop when the replica resets a connection it just accepted.
    reset = AttributeError("'NoneType' object has no attribute 'getpeername'")
    async with client_raising(reset) as client:
        with pytest.raises(wire.ReplicaFailure, match="reset as it opened"):
            async for _ in wire.stream(client, "http://r1/v1", BODY, timeout_s=1):
                pass


async def test_other_attribute_errors_are_bugs_and_propagate() -> None:
    async with client_raising(AttributeError("'Foo' object has no attribute 'bar'")) as client:
        with pytest.raises(AttributeError, match="bar"):
            async for _ in wire.stream(client, "http://r1/v1", BODY, timeout_s=1):
                pass


def test_a_continuation_leaves_the_answer_open_and_shrinks_max_tokens() -> None:
    resumed = wire.continuation_body({**BODY, "max_tokens": 20}, "token0 token1", 2)
    assert resumed["messages"][-1] == {"role": "assistant", "content": "token0 token1"}
    assert resumed["continue_final_message"] is True
    assert resumed["add_generation_prompt"] is False
    assert resumed["max_tokens"] == 18
    assert BODY["messages"] == [{"role": "user", "content": "hi"}]  # the original is untouched
