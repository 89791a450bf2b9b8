"""Prometheus metrics: what the service is doing, for dashboards, alerts and the autoscaler.

Three sources feed one :class:`Metrics`:

* HTTP requests, counted by an ASGI middleware (``server/http_metrics.py``) under the
  matched route's path template, never the raw path (a thread id in a label would
  create a series per conversation);
* graph runs: the Agent opens a :class:`RunTracker` per run; at the end the tracker
  records the outcome from the ``AgentResult`` (route, guards, check, fallbacks) and
  from the run's ``NodeTimer`` (time per node, each model call's tokens, cost and time
  to first token, each cache lookup) — so every API that runs through the Agent counts;
* the model pool (breaker state, in-flight calls, errors per replica), read from the
  tiers at scrape time by a custom collector: nothing on the request path pushes it,
  and a scrape never shows a state older than the scrape.

Why a class that owns its registry instead of prometheus_client's module-level
instruments: the app creates a ``Metrics`` and hands it to the Agent, so two apps in
one process (tests, an embedder serving two agents) count separately, and nothing
needs resetting between them.

Observation must never fail or slow a request: every recording method catches its own
exceptions, logs the first of a kind (then every 1000th) and counts them in
``interlock_metrics_errors_total``; ``benchmarks/metrics_overhead.py`` measures the cost.

Several worker processes (``uvicorn --workers N``, gunicorn): a scrape reaches one
worker, so per-process counters would show whichever worker answered, and a
``rate()`` over counters that jump between workers is meaningless. With
``PROMETHEUS_MULTIPROC_DIR`` set in the environment *before the process starts*
(prometheus_client picks its value storage when it is imported), every instrument
writes to memory-mapped files in that directory and ``/metrics`` merges the files of
all workers (``MultiProcessCollector``, prometheus_client's documented multiprocess
mode). What that mode changes here:

* gauges need a ``multiprocess_mode``: in-flight counts are summed over live workers
  (``livesum``, which is what the autoscaler must see), a replica's breaker state is
  the worst any worker sees (``livemax``) and it is up only if every worker can use
  it (``livemin``);
* a custom collector would report only the worker that answers the scrape, so in this
  mode the pool's state is instead copied into ordinary instruments: by the answering
  worker at each scrape and by every worker at the end of each run (an idle worker's
  copy is as old as its last run);
* the live gauges of a worker that died (a crash, an OOM kill) would be summed forever;
  each scrape removes the files of process ids that are no longer alive (the workers
  share one PID namespace: one container or pod);
* the directory must be empty when the server starts (an ``emptyDir`` volume in
  Kubernetes), and ``process_*`` metrics, which are per process, are left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    multiprocess,
    values,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from interlock.models.breaker import BreakerState
from interlock.models.tier import ModelTier
from interlock.tracing import NodeTimer

if TYPE_CHECKING:
    from interlock.agent import AgentResult

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. LLM requests run from milliseconds (a cache hit) to the request timeout.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
NODE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

BREAKER_VALUE = {BreakerState.CLOSED: 0.0, BreakerState.HALF_OPEN: 1.0, BreakerState.OPEN: 2.0}
CHECK_VERDICT = {"supported": "pass", "unsupported": "fail", "not_applicable": "skipped"}
# The paths nodes/fallback.py records, by the word each note starts with.
FALLBACK_PATHS = frozenset({"trim", "escalate", "regenerate", "cached", "honest", "give_up"})
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_FALLBACK_WORD = re.compile(r"^\s*([a-z ]+?)\s*:")


def _bool(value: object) -> str:
    return "true" if value else "false"


@dataclass(frozen=True)
class ReplicaReading:
    """One replica's state as a scrape sees it."""

    tier: str
    replica: str
    breaker: float  # 0 closed, 1 half-open, 2 open
    up: bool  # usable now: breaker allows, probe passing, not resting after a 429
    in_flight: int
    errors: int


def replica_label(url: str) -> str:
    """A replica's URL without credentials: labels are read by whoever reads dashboards."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


def read_pool(tiers: Mapping[str, ModelTier]) -> list[ReplicaReading]:
    """Every replica of every tier, read in place (no I/O: the tiers keep these numbers)."""
    now = time.monotonic()
    return [
        ReplicaReading(
            tier=name,
            replica=replica_label(replica.url),
            breaker=BREAKER_VALUE[replica.state],
            up=replica.usable(now),
            in_flight=replica.in_flight,
            errors=replica.failed,
        )
        for name, tier in tiers.items()
        for replica in tier.replicas
    ]


POOL_DOCS = {
    "interlock_replica_breaker_state": "Breaker per replica: 0 closed, 1 half-open, 2 open.",
    "interlock_replica_up": "1 if the replica can take a call now (breaker, probe, 429 rest).",
    "interlock_replica_in_flight": "Model calls in flight on the replica.",
    "interlock_replica_errors": "Failed calls to the replica (timeouts, 5xx, broken streams).",
}


class PoolCollector(Collector):
    """The pool's per-replica state, read when Prometheus scrapes (one process)."""

    def __init__(self, tiers: Mapping[str, ModelTier]) -> None:
        self.tiers = tiers

    def collect(self) -> Iterator[Metric]:
        labels = ["tier", "replica"]
        breaker = GaugeMetricFamily(
            "interlock_replica_breaker_state",
            POOL_DOCS["interlock_replica_breaker_state"],
            labels=labels,
        )
        up = GaugeMetricFamily(
            "interlock_replica_up", POOL_DOCS["interlock_replica_up"], labels=labels
        )
        in_flight = GaugeMetricFamily(
            "interlock_replica_in_flight", POOL_DOCS["interlock_replica_in_flight"], labels=labels
        )
        errors = CounterMetricFamily(
            "interlock_replica_errors", POOL_DOCS["interlock_replica_errors"], labels=labels
        )
        for r in read_pool(self.tiers):
            key = [r.tier, r.replica]
            breaker.add_metric(key, r.breaker)
            up.add_metric(key, 1.0 if r.up else 0.0)
            in_flight.add_metric(key, float(r.in_flight))
            errors.add_metric(key, float(r.errors))
        yield from (breaker, up, in_flight, errors)


class _PoolMirror:
    """Multiprocess mode: the pool's state copied into instruments (see the module doc)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("tier", "replica")
        docs = POOL_DOCS
        self.breaker = Gauge(
            "interlock_replica_breaker_state",
            docs["interlock_replica_breaker_state"],
            labels,
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.up = Gauge(
            "interlock_replica_up",
            docs["interlock_replica_up"],
            labels,
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.in_flight = Gauge(
            "interlock_replica_in_flight",
            docs["interlock_replica_in_flight"],
            labels,
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.errors = Counter(
            "interlock_replica_errors", docs["interlock_replica_errors"], labels, registry=registry
        )
        self.tiers: Mapping[str, ModelTier] = {}
        self._counted: dict[tuple[str, str], int] = {}

    def sync(self) -> None:
        for r in read_pool(self.tiers):
            key = (r.tier, r.replica)
            self.breaker.labels(*key).set(r.breaker)
            self.up.labels(*key).set(1.0 if r.up else 0.0)
            self.in_flight.labels(*key).set(r.in_flight)
            new = r.errors - self._counted.get(key, 0)
            self.errors.labels(*key).inc(max(new, 0))
            self._counted[key] = r.errors


class Metrics:
    """The service's instruments and their registry; one per app, handed to the Agent."""

    def __init__(self, *, multiprocess_dir: str | Path | None = None) -> None:
        if multiprocess_dir is not None and not getattr(values.ValueClass, "_multiprocess", False):
            log.warning(
                "%s was set after prometheus_client was imported: metrics stay per process",
                MULTIPROC_ENV,
            )
            multiprocess_dir = None
        self.multiprocess_dir = str(multiprocess_dir) if multiprocess_dir is not None else None
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._failures: dict[str, int] = {}
        self._http_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

        # -- HTTP --
        self.http_requests = Counter(
            "interlock_http_requests",
            "HTTP requests by method, route template and status.",
            ("method", "route", "status"),
            registry=r,
        )
        self.http_duration = Histogram(
            "interlock_http_request_duration_seconds",
            "HTTP request latency by method and route template (to the last byte of a stream).",
            ("method", "route"),
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.http_in_flight = Gauge(
            "interlock_http_requests_in_flight",
            "HTTP requests being served.",
            registry=r,
            multiprocess_mode="livesum",
        )
        # -- runs --
        self.inflight_runs = Gauge(
            "interlock_inflight_runs",
            "Graph runs in progress in this process (summed over workers); the HPA scales on it.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.runs = Counter(
            "interlock_runs",
            "Finished graph runs by graph and outcome (ok, refused, error).",
            ("graph", "outcome"),
            registry=r,
        )
        self.run_duration = Histogram(
            "interlock_run_duration_seconds",
            "Graph run latency by graph, from start to the final answer.",
            ("graph",),
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.node_duration = Histogram(
            "interlock_node_duration_seconds",
            "Time a run spent in each graph node (fan-out branches and retries summed).",
            ("graph", "node"),
            buckets=NODE_BUCKETS,
            registry=r,
        )
        # -- models --
        self.ttft = Histogram(
            "interlock_model_ttft_seconds",
            "Time to first token of streamed model calls, by tier.",
            ("tier",),
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.model_duration = Histogram(
            "interlock_model_call_duration_seconds",
            "Whole model call latency (the answering attempt), by tier.",
            ("tier",),
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "interlock_model_tokens",
            "Model tokens by tier and direction (in: prompt, out: completion).",
            ("tier", "direction"),
            registry=r,
        )
        self.cost = Counter(
            "interlock_model_cost",
            "Model cost by tier, in the unit of the tiers' configured prices.",
            ("tier",),
            registry=r,
        )
        # -- decisions --
        self.cache_lookups = Counter(
            "interlock_cache_lookups",
            "Response cache lookups by cache (exact, semantic) and result (hit, miss).",
            ("cache", "result"),
            registry=r,
        )
        self.route_decisions = Counter(
            "interlock_route_decisions",
            "Router decisions by tier, request kind and whether the route was degraded "
            "(a fallback's escalation is in interlock_fallbacks_total).",
            ("tier", "kind", "degraded"),
            registry=r,
        )
        self.guard_verdicts = Counter(
            "interlock_guard_verdicts",
            "Guard verdicts by guard (input, output) and action (pass, warn, redact, refuse).",
            ("guard", "action"),
            registry=r,
        )
        self.guard_triggers = Counter(
            "interlock_guard_triggers",
            "Validators that fired, by guard and validator.",
            ("guard", "validator"),
            registry=r,
        )
        self.check_verdicts = Counter(
            "interlock_check_verdicts",
            "Hallucination-check verdicts on the answer served (pass, fail, skipped).",
            ("verdict",),
            registry=r,
        )
        self.fallbacks = Counter(
            "interlock_fallbacks",
            "Fallback paths taken, by path.",
            ("path",),
            registry=r,
        )
        self.observation_errors = Counter(
            "interlock_metrics_errors",
            "Observations that failed (logged; the request went on).",
            ("where",),
            registry=r,
        )
        # -- the pool --
        self._pool_collector: PoolCollector | None = None
        self._mirror = _PoolMirror(r) if self.multiprocess_dir else None
        if not self.multiprocess_dir:
            # Per-process facts are only meaningful without several workers.
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)

    @classmethod
    def from_environment(cls) -> Metrics:
        """Multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` names a directory."""
        return cls(multiprocess_dir=os.environ.get(MULTIPROC_ENV) or None)

    def _at(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered: prometheus_client validates and locks on
        every ``labels`` call, and a run records some thirty series."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # -- failures --------------------------------------------------------------------
    def _failed(self, where: str) -> None:
        """Called from an ``except`` block: log (first, then every 1000th) and count."""
        count = self._failures.get(where, 0) + 1
        self._failures[where] = count
        if count == 1 or count % 1000 == 0:
            log.exception(
                "metrics: observing %s failed (%d times); the request went on", where, count
            )
        with contextlib.suppress(Exception):  # nothing is left to report it with
            self.observation_errors.labels(where).inc()

    # -- HTTP ------------------------------------------------------------------------
    def http_started(self) -> None:
        try:
            self.http_in_flight.inc()
        except Exception:
            self._failed("http")

    def http_finished(self, method: str, route: str, status: int, seconds: float) -> None:
        """One request done; ``route`` is the path template (bounded label values)."""
        try:
            self.http_in_flight.dec()
            method = method if method in HTTP_METHODS else "other"
            key = (method, route, str(status))
            children = self._http_children.get(key)
            if children is None:
                children = (
                    self.http_requests.labels(*key),
                    self.http_duration.labels(method, route),
                )
                self._http_children[key] = children
            children[0].inc()
            children[1].observe(seconds)
        except Exception:
            self._failed("http")

    # -- runs ------------------------------------------------------------------------
    def track_run(self, graph: str | None, timer: NodeTimer | None = None) -> RunTracker:
        return RunTracker(self, graph, timer)

    def _run_started(self) -> None:
        try:
            self.inflight_runs.inc()
        except Exception:
            self._failed("run")

    def _run_ended(
        self, graph: str, seconds: float, result: AgentResult | None, timer: NodeTimer | None
    ) -> None:
        try:
            self.inflight_runs.dec()
            self._at(self.run_duration, graph).observe(seconds)
            if result is None:
                self._at(self.runs, graph, "error").inc()
        except Exception:
            self._failed("run")
        if result is not None:
            routed = timer.first_route if timer is not None else None
            self.observe_result(result, graph=graph, route=routed)
        if timer is not None:
            self.observe_timer(timer, graph=graph)
        if self._mirror is not None:
            self.sync_pool()

    def observe_result(
        self,
        result: AgentResult,
        *,
        graph: str = "interlock-agent",
        route: Mapping[str, Any] | None = None,
    ) -> None:
        """Count a finished run and what it decided: outcome, route, guards, check, fallbacks.

        ``route`` is the router's own decision when known (``NodeTimer.first_route``);
        ``result.route`` is the last one, which an escalation may have changed.
        """
        try:
            self._at(self.runs, graph, "refused" if result.refused else "ok").inc()
            route = route or result.route
            if route:
                kind = str((result.plan or {}).get("kind") or "none")
                self._at(
                    self.route_decisions, str(route["tier"]), kind, _bool(route.get("degraded"))
                ).inc()
            for report in result.guards:
                guard = str(report["stage"])
                if not report["allowed"]:
                    action = "refuse"
                elif report["redacted"]:
                    action = "redact"
                elif any(str(r).startswith("warning:") for r in report["reasons"]):
                    action = "warn"
                else:
                    action = "pass"
                self._at(self.guard_verdicts, guard, action).inc()
                for validator in report["triggered"]:
                    self._at(self.guard_triggers, guard, str(validator)).inc()
            if not result.refused:
                verdict = (result.check or {}).get("verdict")
                self._at(self.check_verdicts, CHECK_VERDICT.get(str(verdict), "skipped")).inc()
            for note in result.fallbacks:
                match = _FALLBACK_WORD.match(note)
                path = match.group(1).replace(" ", "_") if match else ""
                self._at(self.fallbacks, path if path in FALLBACK_PATHS else "other").inc()
        except Exception:
            self._failed("result")

    def observe_timer(self, timer: NodeTimer, *, graph: str = "interlock-agent") -> None:
        """What the run's timer saw: time per node, model calls, cache lookups."""
        try:
            for node, ms in list(timer.timings_ms.items()):
                self._at(self.node_duration, graph, node).observe(ms / 1000)
            for call in timer.model_calls:
                tier = call["tier"]
                self._at(self.tokens, tier, "in").inc(call["input_tokens"])
                self._at(self.tokens, tier, "out").inc(call["output_tokens"])
                self._at(self.cost, tier).inc(max(call["cost"], 0.0))
                if call["latency_s"] is not None:
                    self._at(self.model_duration, tier).observe(call["latency_s"])
                if call["ttft_s"] is not None:
                    self._at(self.ttft, tier).observe(call["ttft_s"])
            for cache, outcome in timer.cache_lookups:
                self._at(self.cache_lookups, cache, outcome).inc()
        except Exception:
            self._failed("timer")

    # -- the pool --------------------------------------------------------------------
    def watch_pool(self, tiers: Mapping[str, ModelTier]) -> None:
        """Report these tiers' replicas (replacing any tiers watched before)."""
        if self._mirror is not None:
            self._mirror.tiers = tiers
            self.sync_pool()
            return
        if self._pool_collector is not None:
            self.registry.unregister(self._pool_collector)
        self._pool_collector = PoolCollector(tiers)
        self.registry.register(self._pool_collector)

    def sync_pool(self) -> None:
        """Multiprocess mode: copy this worker's view of the pool into the shared files."""
        if self._mirror is None:
            return
        try:
            self._mirror.sync()
        except Exception:
            self._failed("pool")

    # -- exposition ------------------------------------------------------------------
    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition (Prometheus text, or OpenMetrics if ``accept`` asks) and its type."""
        encoder, content_type = choose_encoder(accept or "")
        if self.multiprocess_dir is None:
            return encoder(self.registry), content_type
        reap_dead_workers(self.multiprocess_dir)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=self.multiprocess_dir)
        return encoder(merged), content_type

    async def arender(self, accept: str | None = None) -> tuple[bytes, str]:
        """``render`` for the event loop.

        One process: in the loop, as prometheus_client's own ASGI app does, because the
        pool collector reads breakers that the loop mutates; it is CPU only, a few
        milliseconds (benchmarks/results/metrics_overhead.json). Multiprocess: the pool
        is copied in the loop, then the files are read and merged in a thread.
        """
        if self.multiprocess_dir is None:
            return self.render(accept)
        self.sync_pool()
        return await asyncio.to_thread(self.render, accept)


_LIVE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def reap_dead_workers(directory: str) -> list[int]:
    """Drop the live gauges of worker processes that no longer exist; returns their pids."""
    pids = set()
    for entry in os.scandir(directory):
        found = _LIVE_FILE.match(entry.name)
        if found:
            pids.add(int(found.group(1)))
    dead = [pid for pid in sorted(pids) if not _alive(pid)]
    for pid in dead:
        multiprocess.mark_process_dead(pid, directory)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunTracker:
    """One graph run, start to end: in flight while open; outcome, latency and the rest
    recorded once at ``close``.

    The Agent calls ``finish(result)`` when the run produced a result and ``close()``
    in a ``finally``: a run closed without a result (an exception, a timeout, a client
    that went away) counts as an error. With ``metrics=None`` it does nothing, so the
    Agent needs no branch for "metrics off".
    """

    __slots__ = ("_began", "_closed", "_graph", "_metrics", "_result", "_timer")

    def __init__(
        self, metrics: Metrics | None, graph: str | None, timer: NodeTimer | None = None
    ) -> None:
        self._metrics = metrics
        self._graph = graph or "unknown"
        self._timer = timer
        self._result: AgentResult | None = None
        self._closed = False
        self._began = time.perf_counter()
        if metrics is not None:
            metrics._run_started()

    def finish(self, result: AgentResult) -> AgentResult:
        self._result = result
        return result

    def close(self) -> None:
        if self._closed or self._metrics is None:
            return
        self._closed = True
        self._metrics._run_ended(
            self._graph, time.perf_counter() - self._began, self._result, self._timer
        )
