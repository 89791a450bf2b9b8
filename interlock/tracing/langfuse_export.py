"""Langfuse: one trace per run, sent by the Langfuse SDK over OTLP, off the request path.

The SDK's LangChain callback handler turns the graph's callbacks into the
trace: the graph is the root span, each node a span, each model call a
generation (model, parameters, usage, time to first token), each retrieval a
retriever observation. interlock adds what the SDK cannot know (``_Handler``):
the cost its pool computed, the replica and tier, and the route as a trace tag
once the router has decided. Scores (``scores.py``) follow when the run ends.

Nothing here may slow or fail a request: spans and scores go to queues the
SDK's own threads drain (a hanging or failing Langfuse costs the request
nothing; the test proves it with a capture endpoint that hangs and one that
answers 500), and every call into the SDK is guarded.

Masking: inputs and outputs pass through the guard policy's redactors before
the SDK serialises them (``Langfuse(mask=...)``), so a trace never holds PII or
a secret the policy would have removed.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult
from pydantic import BaseModel

from interlock.config import Settings
from interlock.tracing.scores import Score

log = logging.getLogger(__name__)

Redactor = Callable[[str], str]
TRACE_TAGS = "langfuse.trace.tags"  # LangfuseOtelSpanAttributes.TRACE_TAGS


def masked(data: Any, redact: Redactor) -> Any:
    """``data`` as JSON-ready values with every string redacted.

    LangChain messages and documents become plain dicts here (the SDK would
    serialise them anyway), so their text is redacted like any other string.
    """
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, Mapping):
        return {str(key): masked(value, redact) for key, value in data.items()}
    if isinstance(data, (list, tuple, set, frozenset)):
        return [masked(item, redact) for item in data]
    if isinstance(data, BaseMessage):
        message: dict[str, Any] = {"role": data.type, "content": masked(data.content, redact)}
        if tool_calls := getattr(data, "tool_calls", None):
            message["tool_calls"] = masked(tool_calls, redact)
        return message
    if isinstance(data, Document):
        return {
            "id": data.id,
            "page_content": redact(data.page_content),
            "metadata": masked(data.metadata, redact),
        }
    if isinstance(data, BaseModel):
        return masked(data.model_dump(mode="json"), redact)
    if data is None or isinstance(data, (bool, int, float)):
        return data
    return redact(str(data))


class LangfuseExport:
    """The Langfuse client of a process, and a callback handler per run.

    ``redact`` is the guard policy's redaction (``InputPolicy.redact``'s text);
    ``None`` sends inputs and outputs as they are (a deployment that turned the
    PII guard off keeps PII everywhere, traces included).
    """

    def __init__(
        self,
        *,
        public_key: str,
        secret_key: str,
        host: str,
        redact: Redactor | None = None,
        environment: str | None = None,
        release: str | None = None,
        timeout_s: int = 5,
    ) -> None:
        # Imported here: the SDK pulls in OpenTelemetry, which a process without
        # Langfuse configured never needs.
        from langfuse import Langfuse

        self.public_key = public_key
        self.host = host.rstrip("/")
        # Every node's span carries the state it read and wrote, so the same texts (the
        # question, each retrieved chunk) are masked again at every step: remembering the
        # last few thousand cut what Langfuse adds per run from 29 to 14 ms of CPU.
        self._redact = functools.lru_cache(maxsize=4096)(redact) if redact else None
        self.client = Langfuse(
            public_key=public_key,
            secret_key=secret_key,
            base_url=self.host,
            environment=environment,
            release=release,
            timeout=timeout_s,
            mask=self._mask if redact is not None else None,
        )

    @classmethod
    def from_settings(cls, settings: Settings, redact: Redactor | None = None) -> LangfuseExport:
        """The export the settings describe (``settings.langfuse_enabled`` must be true)."""
        if not (settings.langfuse_public_key and settings.langfuse_secret_key):
            raise ValueError("Langfuse is not configured: set LANGFUSE_PUBLIC_KEY and _SECRET_KEY")
        return cls(
            public_key=settings.langfuse_public_key,
            secret_key=settings.langfuse_secret_key.get_secret_value(),
            host=settings.langfuse_host,
            redact=redact,
            environment=settings.langfuse_environment,
        )

    def _mask(self, *, data: Any, **_: Any) -> Any:
        assert self._redact is not None
        try:
            return masked(data, self._redact)
        except Exception:
            log.warning("could not mask a trace attribute; dropped it", exc_info=True)
            return "<not recorded: masking failed>"

    def handler(self, trace_id: str, tags: Sequence[str]) -> BaseCallbackHandler:
        """A callback handler writing one run into trace ``trace_id``."""
        return _handler_class()(public_key=self.public_key, trace_id=trace_id, tags=tags)

    def score(self, trace_id: str, scores: Sequence[Score]) -> None:
        """Queue the run's scores (the SDK's ingestion thread sends them)."""
        for score in scores:
            try:
                value = score["value"]
                if isinstance(value, str):
                    self.client.create_score(
                        trace_id=trace_id,
                        name=score["name"],
                        value=value,
                        data_type="CATEGORICAL",
                        comment=score["comment"],
                    )
                else:
                    self.client.create_score(
                        trace_id=trace_id,
                        name=score["name"],
                        value=value,
                        data_type="BOOLEAN" if score["data_type"] == "BOOLEAN" else "NUMERIC",
                        comment=score["comment"],
                    )
            except Exception:
                log.warning("Langfuse score %s not recorded", score["name"], exc_info=True)

    def trace_url(self, trace_id: str) -> str:
        """The trace's page in Langfuse (asks Langfuse for the project: blocking, CLI only)."""
        url = self.client.get_trace_url(trace_id=trace_id)
        if not url:
            raise LookupError(f"Langfuse at {self.host} did not name a project for this key")
        return url

    def flush(self, timeout_s: float = 5.0) -> None:
        """Send what is queued, for at most ``timeout_s``: a process stopping must not wait
        on a Langfuse that does not answer (the SDK's own flush has no time limit). The
        client stays usable; the SDK shuts it down at exit."""
        worker = threading.Thread(target=self.client.flush, daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            log.warning("Langfuse did not take the last spans within %.0fs; dropped", timeout_s)


_HANDLER: Callable[..., BaseCallbackHandler] | None = None


def _handler_class() -> Callable[..., BaseCallbackHandler]:
    """Langfuse's handler with interlock's additions (defined on first use: see the import)."""
    global _HANDLER
    if _HANDLER is not None:
        return _HANDLER
    from langfuse.langchain import CallbackHandler

    class _Handler(CallbackHandler):
        """Adds cost, tier and replica to each generation, and the route to the trace's tags.

        Both reach into the handler's map of open observations (``_runs``): the
        SDK has no hook for either, and the OTLP test fails if the map changes.
        """

        def __init__(self, *, public_key: str, trace_id: str, tags: Sequence[str]) -> None:
            super().__init__(public_key=public_key, trace_context={"trace_id": trace_id})
            # Called in the node's own task, not on the thread pool LangChain uses for
            # sync handlers: measured 29 instead of 39 ms CPU and 24 instead of 33 ms of
            # latency added per run (benchmarks/tracing_overhead.py). The SDK's work here
            # is in memory; its exporter threads do the I/O.
            self.run_inline = True
            self._tags = list(tags)
            self._root: UUID | None = None
            self._routed = False

        def on_chain_start(
            self,
            serialized: dict[str, Any] | None,
            inputs: Any,
            *,
            run_id: UUID,
            parent_run_id: UUID | None = None,
            **kwargs: Any,
        ) -> Any:
            if parent_run_id is None:
                self._root = run_id
            return super().on_chain_start(
                serialized, inputs, run_id=run_id, parent_run_id=parent_run_id, **kwargs
            )

        def on_chain_end(
            self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
        ) -> Any:
            if not self._routed and parent_run_id is not None and isinstance(outputs, dict):
                route = outputs.get("route")
                if isinstance(route, dict) and route.get("tier"):
                    self._routed = True
                    root = self._runs.get(self._root) if self._root else None
                    if root is not None:
                        tags = [*self._tags, f"route:{route['tier']}"]
                        root._otel_span.set_attribute(TRACE_TAGS, tags)
            return super().on_chain_end(
                outputs, run_id=run_id, parent_run_id=parent_run_id, **kwargs
            )

        def on_llm_end(
            self,
            response: LLMResult,
            *,
            run_id: UUID,
            parent_run_id: UUID | None = None,
            **kwargs: Any,
        ) -> Any:
            generation = self._runs.get(run_id)
            try:
                message = getattr(response.generations[-1][-1], "message", None)
                meta = getattr(message, "response_metadata", None) or {}
                if generation is not None and meta.get("tier"):
                    generation.update(
                        cost_details={"total": float(meta.get("cost") or 0.0)},
                        metadata={
                            key: meta[key]
                            for key in ("tier", "replica", "attempts", "ttft_s", "latency_s")
                            if key in meta
                        },
                    )
            except Exception:
                log.debug("generation details not recorded", exc_info=True)
            return super().on_llm_end(
                response, run_id=run_id, parent_run_id=parent_run_id, **kwargs
            )

    _HANDLER = _Handler
    return _HANDLER
