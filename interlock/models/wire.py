"""The OpenAI chat-completions protocol as vLLM and llama-server speak it, over httpx.

Why not the ``openai`` SDK or ``ChatOpenAI`` on this path: every streamed
chunk becomes a pydantic model there (and a LangChain message chunk plus
callback dispatch in ``ChatOpenAI``). Under 1,000 concurrent streams on two
cores that per-chunk work was most of the pool's cost — twice the CPU of the
same load sent straight to the servers (benchmarks/results/model_pool.json).
Here a chunk is one ``json.loads`` and two dict lookups. LangChain's
interface sits on top, once per call, in ``chat_model.py``.

Failures come back typed, so the pool can tell "try another replica"
(:class:`ReplicaFailure`, :class:`RateLimited`) from "this request is wrong
everywhere" (:class:`RequestRejected`).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from langchain_core.messages import BaseMessage

ChatMessage = Mapping[str, Any]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


class ReplicaFailure(Exception):
    """This replica, now: unreachable, too slow, 5xx, or a broken stream."""


class RateLimited(ReplicaFailure):
    """429: the replica asks to be left alone for ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RequestRejected(Exception):
    """A 4xx other than 429: the request itself is wrong, no replica will take it."""


@dataclass(frozen=True)
class Delta:
    """One streamed event: a piece of text and/or the usage the server reports."""

    text: str = ""
    usage: Mapping[str, Any] | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Mapping[str, Any] | None
    finish_reason: str | None


def openai_messages(messages: Sequence[BaseMessage | ChatMessage]) -> list[dict[str, Any]]:
    """LangChain messages (or already-OpenAI dicts) in the wire format."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, BaseMessage):
            item: dict[str, Any] = {
                "role": _ROLES.get(message.type, message.type),
                "content": message.content,
            }
            tool_call_id = getattr(message, "tool_call_id", None)
            if tool_call_id:
                item["tool_call_id"] = tool_call_id
            out.append(item)
        else:
            out.append(dict(message))
    return out


def request_body(
    messages: Sequence[BaseMessage | ChatMessage],
    *,
    model: str,
    stream: bool,
    max_tokens: int | None = None,
    temperature: float | None = None,
    frequency_penalty: float | None = None,
    stop: Sequence[str] | None = None,
    response_format: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": openai_messages(messages)}
    if stream:
        body["stream"] = True
        # Usage in the last chunk: vLLM and llama-server both honour it.
        body["stream_options"] = {"include_usage": True}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    if frequency_penalty:
        body["frequency_penalty"] = frequency_penalty
    if stop:
        body["stop"] = list(stop)
    if response_format:
        body["response_format"] = dict(response_format)
    return body


def continuation_body(body: Mapping[str, Any], prefix: str, tokens_sent: int) -> dict[str, Any]:
    """``body`` asking a server to go on with an answer that already begins with ``prefix``.

    The prefix becomes a final assistant message that the chat template leaves
    open (vLLM's ``continue_final_message`` with ``add_generation_prompt``
    off; llama-server treats a final assistant message as a prefill), so the
    model writes the rest of the same answer rather than a new one.
    ``max_tokens`` shrinks by the tokens already sent (one per streamed delta,
    as vLLM and llama-server stream them).
    """
    resumed = dict(body)
    resumed["messages"] = [*body["messages"], {"role": "assistant", "content": prefix}]
    resumed["continue_final_message"] = True
    resumed["add_generation_prompt"] = False
    if isinstance(body.get("max_tokens"), int):
        resumed["max_tokens"] = max(1, body["max_tokens"] - tokens_sent)
    return resumed


def retry_after_s(headers: httpx.Headers, default: float = 1.0) -> float:
    """Retry-After as seconds (RFC 9110 allows seconds or an HTTP date)."""
    value = headers.get("retry-after")
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        with contextlib.suppress(TypeError, ValueError):
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    return default


def _error_message(payload: bytes) -> str:
    """vLLM's ``{"error": {"message": …}}`` or its older ``{"message": …}`` shape."""
    try:
        data = json.loads(payload)
    except ValueError:
        return payload[:200].decode("utf-8", "replace")
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
        if isinstance(error, str):
            return error
    return str(data)[:200]


def _raise_for_status(response: httpx.Response, payload: bytes) -> None:
    status = response.status_code
    if status < 400:
        return
    message = f"HTTP {status}: {_error_message(payload)}"
    if status == 429:
        raise RateLimited(message, retry_after_s(response.headers))
    if status >= 500 or status in (408, 409):
        raise ReplicaFailure(message)
    raise RequestRejected(message)


def _socket_gone(exc: AttributeError) -> bool:
    """A connection reset as it opened, as anyio reports it under uvloop.

    anyio reads a new connection's addresses from its transport's socket;
    uvloop's transport has no socket any more once the peer has reset it, and
    the read fails with ``'NoneType' object has no attribute 'getpeername'``
    instead of an OSError (uvloop issue #560 is the same race on the server
    side). Seen once in 2,838 runs when a replica was SIGKILLed under load
    (benchmarks/http_load.py): it is the replica's failure, not a bug here.
    """
    return "'NoneType' object has no attribute 'getpeername'" in str(exc) or (
        "'NoneType' object has no attribute 'getsockname'" in str(exc)
    )


async def _send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Send, retrying once on a stale keep-alive connection.

    A server may close an idle keep-alive connection just as we reuse it
    (llama-server does so after every streamed response): the request then
    fails with no response at all, before the server read it. Retrying that
    once on a fresh connection is what HTTP clients do for this race; any
    other failure is the replica's and goes back to the pool.
    """
    for attempt in (1, 2):
        try:
            return await client.send(request, stream=True)
        except httpx.RemoteProtocolError as exc:
            if attempt == 2 or "without sending a response" not in str(exc):
                raise ReplicaFailure(f"{type(exc).__name__}: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise ReplicaFailure(f"timeout: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise ReplicaFailure(f"{type(exc).__name__}: {exc}") from exc
        except AttributeError as exc:
            if not _socket_gone(exc):
                raise
            raise ReplicaFailure(f"connection reset as it opened: {exc}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


async def complete(
    client: httpx.AsyncClient, url: str, body: Mapping[str, Any], *, timeout_s: float
) -> Completion:
    """One non-streaming completion from one replica."""
    request = client.build_request("POST", f"{url}/chat/completions", json=body, timeout=timeout_s)
    response = await _send(client, request)
    try:
        payload = await response.aread()
    except httpx.HTTPError as exc:
        raise ReplicaFailure(f"{type(exc).__name__} reading the answer") from exc
    finally:
        await response.aclose()
    _raise_for_status(response, payload)
    try:
        data = json.loads(payload)
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ReplicaFailure(f"malformed completion: {payload[:120]!r}") from exc
    return Completion(text=text, usage=data.get("usage"), finish_reason=choice.get("finish_reason"))


async def stream(
    client: httpx.AsyncClient, url: str, body: Mapping[str, Any], *, timeout_s: float
) -> AsyncGenerator[Delta, None]:
    """Server-sent events of one streaming completion, as :class:`Delta` values.

    ``timeout_s`` bounds connecting and each wait for the next bytes (httpx's
    read timeout), never the time the consumer spends between tokens.
    """
    request = client.build_request("POST", f"{url}/chat/completions", json=body, timeout=timeout_s)
    response = await _send(client, request)
    try:
        if response.status_code >= 400:
            _raise_for_status(response, await response.aread())
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue  # blank separators, ": keep-alive" comments
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
            except ValueError as exc:
                raise ReplicaFailure(f"malformed stream event: {data[:120]!r}") from exc
            if "error" in event:  # vLLM reports a failure mid-stream as an event
                raise ReplicaFailure(f"stream error: {_error_message(data.encode())}")
            choices = event.get("choices") or ()
            choice = choices[0] if choices else {}
            text = (choice.get("delta") or {}).get("content") or ""
            usage = event.get("usage")
            finish = choice.get("finish_reason")
            if text or usage or finish:
                yield Delta(text=text, usage=usage, finish_reason=finish)
    except httpx.TimeoutException as exc:
        raise ReplicaFailure(f"timeout waiting for the stream: {type(exc).__name__}") from exc
    except httpx.HTTPError as exc:
        raise ReplicaFailure(f"stream broke: {type(exc).__name__}: {exc}") from exc
    except AttributeError as exc:
        if not _socket_gone(exc):
            raise
        raise ReplicaFailure(f"stream broke: {exc}") from exc
    finally:
        await response.aclose()


async def count_tokens(
    client: httpx.AsyncClient, base_url: str, model: str, text: str, *, timeout_s: float = 2.0
) -> int | None:
    """The served model's own token count of ``text``, or None if the server can't say.

    vLLM serves ``POST /tokenize`` (``{"model", "prompt"}`` → ``{"count"}``);
    llama-server serves it too (``{"content"}`` → ``{"tokens": [...]}``). The
    server's tokenizer is the only exact one: a local tokenizer would be a
    different model's.
    """
    try:
        response = await client.post(
            f"{base_url}/tokenize",
            json={"model": model, "prompt": text, "content": text},
            timeout=timeout_s,
        )
        if response.status_code != 200:
            return None
        data = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    if isinstance(data.get("count"), int):
        return int(data["count"])
    tokens = data.get("tokens")
    return len(tokens) if isinstance(tokens, list) else None
