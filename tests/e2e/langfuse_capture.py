"""A stand-in for the Langfuse server: records what the real Langfuse SDK sends.

The SDK posts spans as OTLP protobuf to ``/api/public/otel/v1/traces`` and
scores as JSON batches to ``/api/public/scores``; this decodes both, so
tests assert on the exact attributes Langfuse would ingest. ``mode`` makes it
misbehave: ``"hang"`` holds every request without answering, ``"error"``
answers 500.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

Mode = Literal["ok", "hang", "error"]
PROJECT_ID = "proj-capture"


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


@dataclass
class CapturedSpan:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.attributes.get("langfuse.observation.type", "span"))

    def json_attr(self, key: str) -> Any:
        raw = self.attributes.get(key)
        return json.loads(raw) if isinstance(raw, str) else raw


@dataclass
class Capture:
    mode: Mode = "ok"
    spans: list[CapturedSpan] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # paths, including the hung and failed
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)

    def record_spans(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.lock:
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    for s in scope.spans:
                        self.spans.append(
                            CapturedSpan(
                                trace_id=s.trace_id.hex(),
                                span_id=s.span_id.hex(),
                                parent_id=s.parent_span_id.hex(),
                                name=s.name,
                                start_ns=s.start_time_unix_nano,
                                end_ns=s.end_time_unix_nano,
                                attributes={a.key: _value(a.value) for a in s.attributes},
                            )
                        )

    def trace(self, trace_id: str) -> list[CapturedSpan]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def scores_of(self, trace_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [s for s in self.scores if s.get("traceId") == trace_id]

    def wait_for(self, check: Any, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.1)
        raise AssertionError(f"not captured within {timeout_s}s; requests: {self.requests}")


def serve(capture: Capture) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _body(self) -> bytes:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.headers.get("content-encoding") == "gzip":
                raw = gzip.decompress(raw)
            return raw

        def _answer(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _misbehave(self) -> bool:
            with capture.lock:
                capture.requests.append(self.path)
            if capture.mode == "hang":
                capture.release.wait(120)
                return True
            if capture.mode == "error":
                self._answer(500, {"message": "capture told to fail"})
                return True
            return False

        def do_POST(self) -> None:
            body = self._body()
            if self._misbehave():
                return
            if self.path.startswith("/api/public/otel/v1/traces"):
                capture.record_spans(body)
                self._answer(200, {})
            elif self.path.startswith("/api/public/scores"):
                scores = json.loads(body)
                with capture.lock:
                    capture.scores.extend(scores if isinstance(scores, list) else [scores])
                self._answer(200, {"message": "Accepted"})
            else:
                self._answer(404, {"message": self.path})

        def do_GET(self) -> None:
            if self._misbehave():
                return
            if self.path.startswith("/api/public/projects"):
                self._answer(
                    200,
                    {
                        "data": [
                            {
                                "id": PROJECT_ID,
                                "name": "capture",
                                "organization": {"id": "org-capture", "name": "capture"},
                                "metadata": {},
                            }
                        ]
                    },
                )
            else:
                self._answer(404, {"message": self.path})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
