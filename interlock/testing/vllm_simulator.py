"""A vLLM protocol simulator: ``vllm serve``'s HTTP behaviour, no GPU, injectable faults.

Why: interlock's model pool (routing, breakers, retries, streaming failover) must be
tested against servers that can be made slow, broken, hung or killed on demand, and its
load benchmarks need many cheap replicas. A real vLLM needs a GPU and cannot be told to
fail; a mock inside the test process cannot die like a process does. This module is a
small ASGI app that answers like ``vllm serve MODEL`` (OpenAI-compatible routes,
vLLM's response and error shapes, ``/health``, ``/metrics``), run as a real process.

What it serves (matched to vLLM's ``vllm/entrypoints/openai`` sources):

* ``POST /v1/chat/completions``: non-streaming and SSE streaming, ``max_tokens`` /
  ``max_completion_tokens``, ``stream_options`` (``include_usage``,
  ``continuous_usage_stats``), ``response_format`` json_schema / json_object (the
  content is the minimal JSON document valid against the schema),
  ``continue_final_message`` (with ``add_generation_prompt: false``: the answer goes on
  after the final assistant message's text), vLLM's context-length and validation
  errors (``{"error": {"message", "type", "param", "code"}}``).
* ``GET /v1/models``, ``GET /health`` (200, empty body), ``GET /metrics`` (Prometheus
  text with vLLM's metric names, labels ``model_name`` and ``engine``).
* Not part of vLLM, under ``/_simulator/``: ``POST config`` (patch any
  :class:`SimulatorConfig` field at run time), ``POST die`` (``os._exit(1)``: a crash,
  not a shutdown), ``GET stats``.

The generated text is deterministic filler, ``"token0 token1 …"``: one word per
completion token, so a test can count tokens with ``len(text.split())``. Prompt tokens
are counted as whitespace-separated words × 1.3, rounded (no tokenizer is loaded).
Every response carries ``x-simulator-replica`` so a test can tell which replica answered.

Faults: ``mode="hang"`` accepts requests (and ``/health`` probes) and never answers;
``mode="error"`` answers every chat request 500 and ``/health`` 503 (what vLLM's
``/health`` answers when its engine is dead); ``error_rate`` answers that share of chat
requests 500; ``slowdown`` multiplies every delay (there is no ``"slow"`` mode: a
multiplier says how slow). ``max_num_seqs`` bounds concurrently generating requests
like vLLM's scheduler; the rest wait (``vllm:num_requests_waiting``) and their TTFT grows.

Run one: ``python -m interlock.testing.vllm_simulator --port 8001 --ttft-s 0.05``, or from
a test, :class:`SimulatorProcess` (a subprocess on a free loopback port, with ``kill()``
for a real SIGKILL death and ``restart()`` on the same port).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import socket
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, get_args

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlock.embedded.process import ChildProcess
from interlock.errors import ServiceUnavailable

__all__ = [
    "REPLICA_HEADER",
    "SimulatorConfig",
    "SimulatorProcess",
    "create_app",
    "free_loopback_port",
    "main",
    "minimal_json",
]

Mode = Literal["ok", "hang", "error"]
MODES: tuple[str, ...] = get_args(Mode)
REPLICA_HEADER = "x-simulator-replica"
# The Prometheus text exposition format prometheus_client (which vLLM uses) answers with.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# -- configuration -----------------------------------------------------------------------
@dataclass
class SimulatorConfig:
    """How one simulated replica behaves; every field can be patched at run time.

    ``output_tokens`` is the answer's natural length (finish_reason ``"stop"``); a smaller
    ``max_tokens`` cuts it (finish_reason ``"length"``). Delays are multiplied by
    ``slowdown``, so a test makes a replica 5× slower with ``slowdown=5`` without knowing
    its base latencies. ``seed`` seeds the draw behind ``error_rate`` (None: random).
    """

    model: str = "sim-model"
    ttft_s: float = 0.02
    inter_token_s: float = 0.005
    output_tokens: int = 16
    error_rate: float = 0.0
    mode: Mode = "ok"
    slowdown: float = 1.0
    max_model_len: int = 4096
    max_num_seqs: int = 256
    seed: int | None = None
    replica_id: str = ""
    # False mimics an OpenAI-compatible server that sends no ``usage`` at all (not
    # vLLM, which does): the pool must then count tokens itself.
    report_usage: bool = True

    def validate(self) -> None:
        """Raise ValueError on a value the simulator cannot honour."""
        if not self.model:
            raise ValueError("model must not be empty")
        for name in ("ttft_s", "inter_token_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.slowdown <= 0:
            raise ValueError("slowdown must be > 0")
        if self.output_tokens < 0:
            raise ValueError("output_tokens must be >= 0")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if self.max_model_len < 1:
            raise ValueError("max_model_len must be >= 1")
        if self.max_num_seqs < 1:
            raise ValueError("max_num_seqs must be >= 1")

    def patched(self, patch: dict[str, Any]) -> SimulatorConfig:
        """A validated copy with ``patch`` applied; ValueError names a bad key or value."""
        types = {f.name: f.type for f in fields(self)}
        values = asdict(self)
        for key, value in patch.items():
            if key not in types:
                raise ValueError(f"unknown config field {key!r}; known: {', '.join(types)}")
            values[key] = _coerce(key, str(types[key]), value)
        config = SimulatorConfig(**values)
        config.validate()
        return config


def _coerce(key: str, annotation: str, value: Any) -> Any:
    """Check one patched value against its field's annotation (JSON has no int/float split)."""
    if "None" in annotation and value is None:
        return None
    if isinstance(value, bool) and "bool" not in annotation:
        raise ValueError(f"{key} must not be a boolean")
    if annotation.startswith("float") and isinstance(value, int | float):
        return float(value)
    if annotation.startswith("int") and isinstance(value, int):
        return value
    if annotation.startswith("int") and isinstance(value, float) and value.is_integer():
        return int(value)
    if (annotation == "str" or annotation == "Mode") and isinstance(value, str):
        return value
    if annotation == "bool" and isinstance(value, bool):
        return value
    raise ValueError(f"{key} has the wrong type: {value!r} for {annotation}")


# -- small helpers -------------------------------------------------------------------------
def _error(
    message: str, *, err_type: str = "BadRequestError", status: int = 400, param: str | None = None
) -> JSONResponse:
    """vLLM's ``ErrorResponse``: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {"error": {"message": message, "type": err_type, "param": param, "code": status}}
    return JSONResponse(body, status_code=status)


def _dumps(obj: Any) -> str:
    """JSON as pydantic's ``model_dump_json`` writes it (compact, UTF-8 not escaped)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _count_prompt_tokens(messages: list[Any]) -> int:
    """Words × 1.3, rounded: a stand-in for a tokenizer, stable enough for tests."""
    words = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            words += len(content.split())
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    words += len(part["text"].split())
    return round(words * 1.3)


def minimal_json(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """The smallest JSON value valid against ``schema``: what a guided decoder could emit.

    Strings are ``"sim"`` (padded or cut to minLength/maxLength, a sample for common
    formats), numbers 0 (moved into minimum/maximum), booleans false, arrays [] (or
    minItems items), objects only their required properties. ``$ref`` into the same
    document, ``enum``, ``const``, ``anyOf``/``oneOf`` (first non-null branch) and
    ``allOf`` are followed. ``pattern`` is not honoured.
    """
    root = schema if root is None else root
    if depth > 32 or not isinstance(schema, dict):
        return {}
    if isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#"):
        target: Any = root
        for part in schema["$ref"].lstrip("#").strip("/").split("/"):
            if part:
                target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
        return minimal_json(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            chosen = next((o for o in options if _schema_type(o) != "null"), options[0])
            return minimal_json(chosen, root, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged.setdefault("properties", {}).update(part.get("properties", {}))
                merged["required"] = [*merged.get("required", []), *part.get("required", [])]
                for k, v in part.items():
                    merged.setdefault(k, v)
        return minimal_json(merged, root, depth + 1)
    kind = _schema_type(schema)
    if kind == "object":
        properties = schema.get("properties") or {}
        return {
            name: minimal_json(properties.get(name, {"type": "string"}), root, depth + 1)
            for name in schema.get("required") or []
        }
    if kind == "array":
        count = int(schema.get("minItems", 0))
        prefix = schema.get("prefixItems") or []
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [
            minimal_json(prefix[i] if i < len(prefix) else items, root, depth + 1)
            for i in range(count)
        ]
    if kind == "string":
        return _minimal_string(schema)
    if kind in ("integer", "number"):
        return _minimal_number(schema, integer=kind == "integer")
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return {}


def _schema_type(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "object"
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "object"


_STRING_FORMATS = {
    "date-time": "1970-01-01T00:00:00Z",
    "date": "1970-01-01",
    "time": "00:00:00Z",
    "email": "sim@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def _minimal_string(schema: dict[str, Any]) -> str:
    if schema.get("format") in _STRING_FORMATS:
        return _STRING_FORMATS[schema["format"]]
    value = "sim"
    low = int(schema.get("minLength", 0))
    if len(value) < low:
        value += "m" * (low - len(value))
    if "maxLength" in schema:
        value = value[: int(schema["maxLength"])]
    return value


def _minimal_number(schema: dict[str, Any], *, integer: bool) -> int | float:
    def bound(key: str) -> float | None:
        value = schema.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return None

    value = 0.0
    low, high = bound("minimum"), bound("maximum")
    low_x, high_x = bound("exclusiveMinimum"), bound("exclusiveMaximum")
    if low is not None and value < low:
        value = low
    if low_x is not None and value <= low_x:
        value = math.floor(low_x) + 1.0 if integer else low_x + 1.0
    if high is not None and value > high:
        value = high
    if high_x is not None and value >= high_x:
        value = math.ceil(high_x) - 1.0 if integer else high_x - 1.0
    step = bound("multipleOf")
    if step and value % step:
        value = math.ceil(value / step) * step
    if integer or value.is_integer():
        return math.ceil(value)
    return value


# -- metrics ------------------------------------------------------------------------------
class _Histogram:
    """One Prometheus histogram, written in prometheus_client's text format."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.buckets = list(buckets)
        self.counts = [0] * len(self.buckets)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1

    def render(self, labels: str) -> list[str]:
        lines = [f"# HELP {self.name} {self.documentation}", f"# TYPE {self.name} histogram"]
        for bound, count in zip(self.buckets, self.counts, strict=True):
            lines.append(f'{self.name}_bucket{{{labels},le="{_num(bound)}"}} {_num(count)}')
        lines.append(f'{self.name}_bucket{{{labels},le="+Inf"}} {_num(self.count)}')
        lines.append(f"{self.name}_count{{{labels}}} {_num(self.count)}")
        lines.append(f"{self.name}_sum{{{labels}}} {_num(self.sum)}")
        return lines


def _num(value: float) -> str:
    """A sample value as prometheus_client writes it (always a float: ``3.0``)."""
    return repr(float(value))


def _buckets_1_2_5(max_value: int) -> list[float]:
    """vLLM's ``build_1_2_5_buckets``: 1, 2, 5, 10, 20, 50, … up to ``max_value``."""
    out: list[float] = []
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > max_value:
                return out
            out.append(value)
        exponent += 1


_TTFT_BUCKETS = [
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    640.0,
    2560.0,
]
_TPOT_BUCKETS = [
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
]
_LATENCY_BUCKETS = [
    0.3,
    0.5,
    0.8,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
    15.0,
    20.0,
    30.0,
    40.0,
    50.0,
    60.0,
    120.0,
    240.0,
    480.0,
    960.0,
    1920.0,
    7680.0,
]
_FINISH_REASONS = ("stop", "length", "abort")


class _Metrics:
    """The vLLM v1 metrics a router or dashboard reads (``vllm/v1/metrics/loggers.py``)."""

    def __init__(self, max_model_len: int) -> None:
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.success = dict.fromkeys(_FINISH_REASONS, 0)
        self.ttft = _Histogram(
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            _TTFT_BUCKETS,
        )
        self.tpot = _Histogram(
            "vllm:time_per_output_token_seconds",
            "Histogram of time per output token in seconds.",
            _TPOT_BUCKETS,
        )
        self.e2e = _Histogram(
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            _LATENCY_BUCKETS,
        )
        self.request_prompt = _Histogram(
            "vllm:request_prompt_tokens",
            "Number of prefill tokens processed.",
            _buckets_1_2_5(max_model_len),
        )
        self.request_generation = _Histogram(
            "vllm:request_generation_tokens",
            "Number of generation tokens processed.",
            _buckets_1_2_5(max_model_len),
        )

    def render(self, model: str, running: int, waiting: int) -> str:
        labels = f'model_name="{_label(model)}",engine="0"'
        lines: list[str] = []

        def scalar(name: str, kind: str, doc: str, value: float) -> None:
            lines.extend([f"# HELP {name} {doc}", f"# TYPE {name} {kind}"])
            lines.append(f"{name}{{{labels}}} {_num(value)}")

        scalar(
            "vllm:num_requests_running",
            "gauge",
            "Number of requests in model execution batches.",
            running,
        )
        scalar(
            "vllm:num_requests_waiting",
            "gauge",
            "Number of requests waiting to be processed.",
            waiting,
        )
        scalar(
            "vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", 0.0
        )
        scalar(
            "vllm:num_preemptions_total",
            "counter",
            "Cumulative number of preemption from the engine.",
            0,
        )
        scalar(
            "vllm:prompt_tokens_total",
            "counter",
            "Number of prefill tokens processed.",
            self.prompt_tokens,
        )
        scalar(
            "vllm:generation_tokens_total",
            "counter",
            "Number of generation tokens processed.",
            self.generation_tokens,
        )
        name = "vllm:request_success_total"
        lines.extend(
            [f"# HELP {name} Count of successfully processed requests.", f"# TYPE {name} counter"]
        )
        for reason, count in self.success.items():
            lines.append(f'{name}{{{labels},finished_reason="{reason}"}} {_num(count)}')
        for histogram in (
            self.request_prompt,
            self.request_generation,
            self.ttft,
            self.tpot,
            self.e2e,
        ):
            lines.extend(histogram.render(labels))
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# -- the simulated engine ---------------------------------------------------------------------
@dataclass
class _Plan:
    """One validated chat request: what to send back and how."""

    request_id: str
    model: str
    stream: bool
    include_usage: bool
    continuous_usage: bool
    prompt_tokens: int
    pieces: list[str]
    finish_reason: str


class _Simulator:
    """State shared by the routes: config, counters, metrics and the admission queue."""

    def __init__(self, config: SimulatorConfig) -> None:
        config.validate()
        self.config = config
        self.rng = random.Random(config.seed)
        self.metrics = _Metrics(config.max_model_len)
        self.stats = {
            "requests": 0,  # chat requests received
            "served": 0,  # answered in full
            "in_flight": 0,  # accepted, not yet finished (hung ones included)
            "errors": 0,  # injected 500s
            "rejected": 0,  # 4xx: invalid requests
            "aborted": 0,  # the client went away before the end
        }
        self.running = 0
        self._queue: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._queue if not f.done())

    def apply(self, patch: dict[str, Any]) -> None:
        new = self.config.patched(patch)
        if "seed" in patch:
            self.rng = random.Random(new.seed)
        self.config = new
        self._grant()

    def delay(self, seconds: float) -> float:
        return seconds * self.config.slowdown

    async def acquire(self) -> None:
        """Wait for a generation slot: at most ``max_num_seqs`` requests run at once."""
        if self.running < self.config.max_num_seqs and not self._queue:
            self.running += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted in the same instant it was cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._queue.remove(future)
            raise

    def release(self) -> None:
        self.running -= 1
        self._grant()

    def _grant(self) -> None:
        while self._queue and self.running < self.config.max_num_seqs:
            future = self._queue.popleft()
            if not future.done():
                self.running += 1
                future.set_result(None)

    def plan(self, body: Any, request_id: str) -> _Plan | JSONResponse:
        """Validate a chat request as vLLM's API layer does; an error response if it fails."""
        config = self.config
        if not isinstance(body, dict):
            return _error("The request body must be a JSON object.")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error("messages: Field required (a non-empty list of messages).")
        model = body.get("model")
        if model is not None and model != config.model:
            return _error(
                f"The model `{model}` does not exist.",
                err_type="NotFoundError",
                status=404,
                param="model",
            )
        n = body.get("n")
        if n is not None and n != 1:
            return _error(f"The simulator supports n=1 only, got n={n}.", param="n")
        stream = bool(body.get("stream"))
        stream_options = body.get("stream_options")
        if stream_options is not None and not stream:
            return _error("Stream options can only be defined when `stream=True`.")
        options = stream_options if isinstance(stream_options, dict) else {}
        # vLLM's StreamOptions.include_usage defaults to True once stream_options is given.
        include_usage = (
            config.report_usage
            and stream_options is not None
            and options.get("include_usage", True) is True
        )
        continuous = include_usage and options.get("continuous_usage_stats") is True

        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            return _error("max_tokens must be an integer.", param="max_tokens")
        if limit is not None and limit < 1:
            return _error(f"max_tokens must be at least 1, got {limit}.", param="max_tokens")
        prompt_tokens = _count_prompt_tokens(messages)
        max_len = config.max_model_len
        if prompt_tokens >= max_len:
            return _error(
                f"This model's maximum context length is {max_len} tokens. However, your "
                f"request has {prompt_tokens} input tokens. Please reduce the length of the "
                "input messages.",
                param="input_tokens",
            )
        if limit is not None and prompt_tokens + limit > max_len:
            return _error(
                f"'max_tokens' or 'max_completion_tokens' is too large: {limit}. This model's "
                f"maximum context length is {max_len} tokens and your request has "
                f"{prompt_tokens} input tokens ({limit} > {max_len} - {prompt_tokens}).",
                param="max_tokens",
            )
        natural = self._answer(body)
        if isinstance(natural, JSONResponse):
            return natural
        if body.get("continue_final_message") is True:
            if body.get("add_generation_prompt", True) is True:  # vLLM's own check
                return _error(
                    "Cannot set both `continue_final_message` and `add_generation_prompt` to True."
                )
            last = messages[-1]
            if not isinstance(last, dict) or last.get("role") != "assistant":
                return _error("continue_final_message needs a final assistant message.")
            natural = _after(natural, str(last.get("content") or ""))
        cap = max_len - prompt_tokens if limit is None else limit
        return _Plan(
            request_id=request_id,
            model=config.model,
            stream=stream,
            include_usage=include_usage,
            continuous_usage=continuous,
            prompt_tokens=prompt_tokens,
            pieces=natural[:cap],
            finish_reason="length" if len(natural) > cap else "stop",
        )

    def _answer(self, body: dict[str, Any]) -> list[str] | JSONResponse:
        """The full answer, one string per token: filler words or a schema-valid document."""
        schema: Any = None
        response_format = body.get("response_format")
        if isinstance(response_format, dict):
            kind = response_format.get("type")
            if kind == "json_object":
                schema = {"type": "object"}
            elif kind == "json_schema":
                spec = response_format.get("json_schema")
                if not isinstance(spec, dict):
                    return _error("json_schema must be provided when type is json_schema.")
                schema = spec.get("schema", {})
            elif kind not in (None, "text"):
                return _error(f"Unsupported response_format type: {kind!r}.")
        structured = body.get("structured_outputs")
        if isinstance(structured, dict) and structured.get("json") is not None:
            schema = structured["json"]
        if body.get("guided_json") is not None:
            schema = body["guided_json"]
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except ValueError:
                return _error("The JSON schema is not valid JSON.")
        if schema is not None:
            text = _dumps(minimal_json(schema))
            return [text[i : i + 4] for i in range(0, len(text), 4)]  # ~4 chars a token
        count = self.config.output_tokens
        return [f"token{i}" if i == 0 else f" token{i}" for i in range(count)]


def _after(pieces: list[str], prefix: str) -> list[str]:
    """The pieces of an answer that come after ``prefix`` (a continued answer's rest)."""
    written = ""
    for i, piece in enumerate(pieces):
        if not prefix.startswith(written + piece):
            return pieces[i:]
        written += piece
    return []


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
    }


class _ReplicaHeader:
    """Pure ASGI middleware adding ``x-simulator-replica`` (BaseHTTPMiddleware would get
    between a streaming response and the client's disconnect)."""

    def __init__(self, app: ASGIApp, sim: _Simulator) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REPLICA_HEADER.encode(), self.sim.config.replica_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)


async def _sleep_until(deadline: float) -> None:
    """Sleep to an absolute loop time, so per-token delays do not accumulate drift."""
    delay = deadline - asyncio.get_running_loop().time()
    await asyncio.sleep(max(0.0, delay))


async def _hang(request: Request) -> None:
    """Never answer; return only once the client has gone (so hung tasks do not pile up)."""
    while not await request.is_disconnected():
        await asyncio.sleep(0.05)


def create_app(config: SimulatorConfig | None = None) -> FastAPI:
    """The simulator as an ASGI app (serve it with uvicorn, or use :class:`SimulatorProcess`)."""
    sim = _Simulator(config or SimulatorConfig())
    app = FastAPI(title="vLLM protocol simulator", docs_url=None, redoc_url=None)
    app.state.simulator = sim
    app.add_middleware(_ReplicaHeader, sim=sim)

    @app.get("/health")
    async def health(request: Request) -> Response:
        if sim.config.mode == "hang":
            await _hang(request)
        if sim.config.mode == "error":
            return Response(status_code=503)  # vLLM: EngineDeadError -> 503, empty body
        return Response(status_code=200)

    @app.get("/v1/models")
    async def models() -> JSONResponse:
        config = sim.config
        now = int(time.time())
        permission = {
            "id": f"modelperm-{uuid.uuid4().hex}",
            "object": "model_permission",
            "created": now,
            "allow_create_engine": False,
            "allow_sampling": True,
            "allow_logprobs": True,
            "allow_search_indices": False,
            "allow_view": True,
            "allow_fine_tuning": False,
            "organization": "*",
            "group": None,
            "is_blocking": False,
        }
        card = {
            "id": config.model,
            "object": "model",
            "created": now,
            "owned_by": "vllm",
            "root": config.model,
            "parent": None,
            "max_model_len": config.max_model_len,
            "permission": [permission],
            "simulator_replica": config.replica_id,  # not vLLM's: which replica answered
        }
        return JSONResponse({"object": "list", "data": [card]})

    @app.post("/tokenize")
    async def tokenize(request: Request) -> JSONResponse:
        """vLLM's tokenizer endpoint: ``{"prompt"}`` or ``{"messages"}`` → ``{"count"}``.

        A completion's filler text is one token per word; a chat prompt is counted
        as the chat route counts it, so the two agree as they do in vLLM.
        """
        try:
            body = await request.json()
        except ValueError:
            return _error("The request body is not valid JSON.")
        if not isinstance(body, dict):
            return _error("The request body must be a JSON object.")
        if isinstance(body.get("messages"), list):
            count = _count_prompt_tokens(body["messages"])
        elif isinstance(body.get("prompt"), str):
            count = len(body["prompt"].split())
        else:
            return _error("prompt or messages: Field required.")
        return JSONResponse(
            {
                "count": count,
                "max_model_len": sim.config.max_model_len,
                "tokens": list(range(count)),
                "token_strs": None,
            }
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        text = sim.metrics.render(sim.config.model, sim.running, sim.waiting)
        return Response(text, media_type=METRICS_CONTENT_TYPE)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        sim.stats["requests"] += 1
        arrived = asyncio.get_running_loop().time()
        try:
            body = await request.json()
        except ValueError:
            sim.stats["rejected"] += 1
            return _error("The request body is not valid JSON.")
        base_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        plan = sim.plan(body, f"chatcmpl-{base_id}")
        if isinstance(plan, JSONResponse):
            sim.stats["rejected"] += 1
            return plan
        if sim.config.mode == "hang":
            sim.stats["in_flight"] += 1
            try:
                await _hang(request)
            finally:
                sim.stats["in_flight"] -= 1
                sim.stats["aborted"] += 1
            return Response(status_code=499)  # nobody is listening any more
        if sim.config.mode == "error" or sim.rng.random() < sim.config.error_rate:
            sim.stats["errors"] += 1
            return _error("Internal server error", err_type="InternalServerError", status=500)
        if plan.stream:
            return StreamingResponse(_stream(plan, arrived), media_type="text/event-stream")
        return await _full(plan, arrived, request)

    async def _generate(plan: _Plan, arrived: float) -> AsyncGenerator[tuple[int, str]]:
        """Yield (index, text) per token at the configured pace, keeping the books.

        Cancellation (the client went away) stops it between tokens: the slot is
        released and the request counted as aborted, as vLLM aborts it in the engine.
        """
        sim.stats["in_flight"] += 1
        finished = False
        acquired = False
        try:
            await sim.acquire()
            acquired = True
            loop = asyncio.get_running_loop()
            sim.metrics.prompt_tokens += plan.prompt_tokens
            deadline = loop.time() + sim.delay(sim.config.ttft_s)
            first_at = last_at = 0.0
            for index, piece in enumerate(plan.pieces):
                if index:
                    deadline += sim.delay(sim.config.inter_token_s)
                await _sleep_until(deadline)
                last_at = loop.time()
                if index == 0:
                    first_at = last_at
                    sim.metrics.ttft.observe(first_at - arrived)
                sim.metrics.generation_tokens += 1
                yield index, piece
            if not plan.pieces:  # nothing to say: the engine still takes its TTFT
                await _sleep_until(deadline)
                first_at = last_at = loop.time()
            finished = True
            done = loop.time()
            metrics = sim.metrics
            metrics.success[plan.finish_reason] += 1
            metrics.e2e.observe(done - arrived)
            metrics.request_prompt.observe(plan.prompt_tokens)
            metrics.request_generation.observe(len(plan.pieces))
            if len(plan.pieces) > 1:
                metrics.tpot.observe((last_at - first_at) / (len(plan.pieces) - 1))
            sim.stats["served"] += 1
        finally:
            if acquired:
                sim.release()
            sim.stats["in_flight"] -= 1
            if not finished:
                sim.stats["aborted"] += 1
                sim.metrics.success["abort"] += 1

    async def _full(plan: _Plan, arrived: float, request: Request) -> Response:
        created = int(time.time())
        pieces: list[str] = []
        tokens = _generate(plan, arrived)
        try:
            async for _, piece in tokens:
                pieces.append(piece)
                if len(pieces) < len(plan.pieces) and await request.is_disconnected():
                    break
        finally:
            await tokens.aclose()
        if len(pieces) < len(plan.pieces):
            return _error("Client disconnected")  # what vLLM returns; nobody reads it
        message = {
            "role": "assistant",
            "content": "".join(pieces),
            "refusal": None,
            "annotations": None,
            "audio": None,
            "function_call": None,
            "reasoning": None,
        }
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": plan.finish_reason,
            "stop_reason": None,
            "token_ids": None,
        }
        usage = _usage(plan.prompt_tokens, len(pieces))
        usage["prompt_tokens_details"] = None
        return JSONResponse(
            {
                "id": plan.request_id,
                "object": "chat.completion",
                "created": created,
                "model": plan.model,
                "choices": [choice],
                "service_tier": None,
                "system_fingerprint": None,
                **({"usage": usage} if sim.config.report_usage else {}),
                "prompt_logprobs": None,
                "prompt_token_ids": None,
                "kv_transfer_params": None,
            }
        )

    async def _stream(plan: _Plan, arrived: float) -> AsyncIterator[str]:
        """SSE exactly as vLLM's ``chat_completion_stream_generator`` writes it.

        The role chunk goes out with the first token; the last token's chunk carries
        finish_reason (vLLM sends the final delta and the reason together); the usage
        chunk (empty choices) follows if asked for; then ``data: [DONE]``.
        """
        created = int(time.time())
        head = {
            "id": plan.request_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": plan.model,
        }
        last = len(plan.pieces) - 1

        def chunk(choice: dict[str, Any], completion: int, **extra: Any) -> str:
            data = {**head, "choices": [choice], **extra}
            if plan.continuous_usage:
                data["usage"] = _usage(plan.prompt_tokens, completion)
            return f"data: {_dumps(data)}\n\n"

        def role_chunk() -> str:
            choice = {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            }
            return chunk(choice, 0, prompt_token_ids=None)

        def final_choice(content: str) -> dict[str, Any]:
            return {
                "index": 0,
                "delta": {"content": content},
                "logprobs": None,
                "finish_reason": plan.finish_reason,
                "stop_reason": None,
                "token_ids": None,
            }

        tokens = _generate(plan, arrived)
        try:
            async for index, piece in tokens:
                if index == 0:
                    yield role_chunk()
                if index == last:
                    yield chunk(final_choice(piece), index + 1)
                else:
                    choice = {
                        "index": 0,
                        "delta": {"content": piece},
                        "logprobs": None,
                        "finish_reason": None,
                        "token_ids": None,
                    }
                    yield chunk(choice, index + 1)
        finally:
            await tokens.aclose()
        if not plan.pieces:
            yield role_chunk()
            yield chunk(final_choice(""), 0)
        if plan.include_usage:
            usage_chunk = {
                **head,
                "choices": [],
                "usage": _usage(plan.prompt_tokens, len(plan.pieces)),
            }
            yield f"data: {_dumps(usage_chunk)}\n\n"
        yield "data: [DONE]\n\n"

    # -- not vLLM: the simulator's own controls --------------------------------------------
    @app.post("/_simulator/config")
    async def patch_config(request: Request) -> JSONResponse:
        try:
            patch = await request.json()
        except ValueError:
            return _error("The request body is not valid JSON.")
        if not isinstance(patch, dict):
            return _error("Send a JSON object of SimulatorConfig fields.")
        try:
            sim.apply(patch)
        except (TypeError, ValueError) as exc:
            return _error(str(exc))
        return JSONResponse(asdict(sim.config))

    @app.get("/_simulator/config")
    async def get_config() -> JSONResponse:
        return JSONResponse(asdict(sim.config))

    @app.post("/_simulator/die")
    async def die() -> JSONResponse:
        # The answer is sent first so the caller knows it was heard; then the process
        # ends without cleanup, as a segfault or an OOM kill would end it.
        return JSONResponse({"dying": True, "pid": os.getpid()}, background=BackgroundTask(_crash))

    @app.get("/_simulator/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(
            {
                **sim.stats,
                "running": sim.running,
                "waiting": sim.waiting,
                "replica_id": sim.config.replica_id,
                "pid": os.getpid(),
            }
        )

    return app


def _crash() -> None:
    os._exit(1)


# -- command line ---------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    defaults = SimulatorConfig()
    parser = argparse.ArgumentParser(
        prog="python -m interlock.testing.vllm_simulator",
        description="Serve vLLM's OpenAI-compatible protocol with set latencies and faults.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", default=defaults.model)
    parser.add_argument("--ttft-s", type=float, default=defaults.ttft_s)
    parser.add_argument("--inter-token-s", type=float, default=defaults.inter_token_s)
    parser.add_argument("--output-tokens", type=int, default=defaults.output_tokens)
    parser.add_argument("--error-rate", type=float, default=defaults.error_rate)
    parser.add_argument("--mode", choices=MODES, default=defaults.mode)
    parser.add_argument("--slowdown", type=float, default=defaults.slowdown)
    parser.add_argument("--max-model-len", type=int, default=defaults.max_model_len)
    parser.add_argument("--max-num-seqs", type=int, default=defaults.max_num_seqs)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--replica-id", default=defaults.replica_id)
    parser.add_argument("--log-level", default="warning")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the flags and serve until SIGTERM/SIGINT (or ``/_simulator/die``)."""
    parser = _parser()
    args = parser.parse_args(argv)
    config = SimulatorConfig(
        model=args.model,
        ttft_s=args.ttft_s,
        inter_token_s=args.inter_token_s,
        output_tokens=args.output_tokens,
        error_rate=args.error_rate,
        mode=args.mode,
        slowdown=args.slowdown,
        max_model_len=args.max_model_len,
        max_num_seqs=args.max_num_seqs,
        seed=args.seed,
        replica_id=args.replica_id,
    )
    try:
        config.validate()
    except ValueError as exc:
        parser.error(str(exc))
    # A short graceful-shutdown window: hung requests would otherwise hold SIGTERM forever.
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=1,
    )


# -- a subprocess for tests -------------------------------------------------------------------
def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 the OS says is free (it picks, so parallel tests never clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SimulatorProcess:
    """One simulator replica in a child process: it can be killed for real.

    ``start()`` returns self once ``/health`` answers 200 (``/v1/models`` when started in a
    fault mode), so ``SimulatorProcess(replica_id="r0").start()`` is ready to use.
    ``kill()`` sends SIGKILL (connections reset, the port refuses); ``restart()`` starts
    it again on the same port with its start-up config (run-time patches are lost, as on a
    real restart). The child gets a parent-death signal on Linux, so a test run that is
    itself killed leaves no simulators behind; start it from a long-lived thread (the
    signal fires when the starting thread ends).
    """

    def __init__(
        self,
        *,
        model: str = "sim-model",
        ttft_s: float = 0.02,
        inter_token_s: float = 0.005,
        output_tokens: int = 16,
        error_rate: float = 0.0,
        mode: Mode = "ok",
        slowdown: float = 1.0,
        max_model_len: int = 4096,
        max_num_seqs: int = 256,
        seed: int | None = None,
        replica_id: str = "",
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout_s: float = 20.0,
        log_dir: str | Path | None = None,
    ) -> None:
        self.config = SimulatorConfig(
            model=model,
            ttft_s=ttft_s,
            inter_token_s=inter_token_s,
            output_tokens=output_tokens,
            error_rate=error_rate,
            mode=mode,
            slowdown=slowdown,
            max_model_len=max_model_len,
            max_num_seqs=max_num_seqs,
            seed=seed,
            replica_id=replica_id,
        )
        self.config.validate()
        self.host = host
        self.port = port or free_loopback_port()
        self.startup_timeout_s = startup_timeout_s
        folder = Path(log_dir) if log_dir else Path(tempfile.gettempdir()) / "interlock-vllm-sim"
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / f"sim-{self.port}-{replica_id or 'x'}.log"
        self._proc: ChildProcess | None = None

    @property
    def url(self) -> str:
        """The server root: ``/health``, ``/metrics``, ``/_simulator/…``."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_url(self) -> str:
        """The OpenAI-compatible base URL (``…/v1``), for ``openai.OpenAI(base_url=…)``."""
        return f"{self.url}/v1"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.alive()

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    def argv(self) -> list[str]:
        c = self.config
        args = [
            sys.executable,
            "-m",
            "interlock.testing.vllm_simulator",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--model",
            c.model,
            "--ttft-s",
            repr(c.ttft_s),
            "--inter-token-s",
            repr(c.inter_token_s),
            "--output-tokens",
            str(c.output_tokens),
            "--error-rate",
            repr(c.error_rate),
            "--mode",
            c.mode,
            "--slowdown",
            repr(c.slowdown),
            "--max-model-len",
            str(c.max_model_len),
            "--max-num-seqs",
            str(c.max_num_seqs),
            "--replica-id",
            c.replica_id,
        ]
        if c.seed is not None:
            args += ["--seed", str(c.seed)]
        return args

    def start(self) -> Self:
        """Start the child and block until it answers; RuntimeError (with its log) if not."""
        if self.alive():
            return self
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # so the child imports this interlock
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self._proc = ChildProcess(
            f"simulator {self.config.replica_id or self.port}",
            self.argv(),
            self.log_path,
            env=env,
        )
        path = "/health" if self.config.mode == "ok" else "/v1/models"
        with httpx.Client(timeout=0.5) as client:

            def ready() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    return client.get(self.url + path).status_code == 200
                return False

            try:
                self._proc.start(ready, timeout_s=self.startup_timeout_s)
            except ServiceUnavailable as exc:
                raise RuntimeError(f"{exc.reason}:\n{self._proc.log_tail()}") from None
        return self

    def kill(self) -> None:
        """SIGKILL: a real death; open connections reset, new ones are refused."""
        if self._proc is not None:
            self._proc.kill()

    def stop(self, timeout_s: float = 3.0) -> None:
        """SIGTERM, then SIGKILL if it is not gone in ``timeout_s``. Safe to call twice."""
        if self._proc is not None:
            self._proc.stop(timeout_s)

    def restart(self) -> Self:
        """Start again on the same port (stopping it first if it still runs)."""
        if self.alive():
            self.stop()
        return self.start()

    def configure(self, **patch: Any) -> dict[str, Any]:
        """Patch the running replica's config (``ttft_s=1.0``, ``mode="hang"``, …)."""
        response = httpx.post(f"{self.url}/_simulator/config", json=patch, timeout=5)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/_simulator/stats", timeout=5)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "alive" if self.alive() else "stopped"
        return f"SimulatorProcess({self.config.replica_id or '-'} at {self.url}, {state})"


if __name__ == "__main__":
    main()
