"""Agent: a compiled graph together with the connections it runs on.

The CLI, the HTTP server and Python users all go through this class, so
input validation, thread handling and the mapping of infrastructure
failures to typed errors happen once. It keeps no conversation state of its
own: everything lives in Redis and LanceDB, so any number of processes can
serve the same threads.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import anyio
import redis.asyncio as aioredis
from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StreamMode

from interlock.config import Settings
from interlock.errors import (
    BudgetExceeded,
    InputTooLarge,
    InterlockError,
    InvalidInput,
    ModelUnavailable,
    ServiceUnavailable,
    ThreadNotFound,
)
from interlock.graphs.agent import GRAPH_NAME, AgentComponents, build_agent_graph
from interlock.graphs.spec import AGENT_GRAPH_ID
from interlock.guardrails.groundedness import GroundednessChecker
from interlock.guardrails.injection_classifier import InjectionClassifier, InjectionModel
from interlock.guardrails.llm_judge import LLMJudge
from interlock.guardrails.policy import InputPolicy, OutputPolicy
from interlock.guardrails.streaming import GuardedStream
from interlock.memory import redis_pool
from interlock.memory.checkpointer import RedisCheckpointSaver
from interlock.memory.embeddings import MiniLMEmbeddings
from interlock.memory.knowledge import IngestReport, KnowledgeBase, OnProgress, SourceDocument
from interlock.memory.longterm import LanceDBStore
from interlock.memory.redis_pool import REDIS_ERRORS
from interlock.memory.response_cache import CacheControl, ResponseCache
from interlock.memory.semantic_cache import SemanticCache
from interlock.memory.threads import RunOutcome, ThreadRegistry
from interlock.metrics import Metrics, RunTracker
from interlock.models.breaker import BreakerPolicy
from interlock.models.router import HeuristicClassifier
from interlock.models.structured import validate_schema
from interlock.models.tier import ModelRejected, ModelTier, RetryPolicy
from interlock.models.trained_router import RouterModel, TrainedRouter
from interlock.nodes.route import RouteLimits
from interlock.nodes.run_cap import RunCap
from interlock.state import Tier, run_input
from interlock.tracing import NodeTimer, RunTrace, TraceLog, Tracer
from interlock.tracing.langfuse_export import LangfuseExport

THREAD_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
SAMPLE_KB = Path(__file__).parent / "data" / "sample_kb"
# LangGraph stream modes ``Agent.stream_graph`` serves.
GRAPH_MODES = frozenset({"values", "updates", "messages"})
# Metadata key of a streamed answer chunk: the draft (attempt) it belongs to.
ATTEMPT = "interlock_attempt"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentEvent:
    """One event of a streamed run (see ``Agent.stream``)."""

    kind: Literal["run", "node", "token", "result", "error"]
    data: dict[str, Any]


@dataclass
class _Run:
    thread_id: str
    input: dict[str, Any]
    config: RunnableConfig
    trace: RunTrace

    @property
    def run_id(self) -> str:
        return self.trace.run_id

    @property
    def timer(self) -> NodeTimer:
        return self.trace.timer


@dataclass(frozen=True)
class GraphRun:
    """A started run of the agent graph, streamed in LangGraph's own modes.

    ``chunks`` yields ``(mode, payload)``: ``("values", state)``,
    ``("updates", {node: update})``, ``("messages", (message, metadata))``,
    and last ``("final", state)``. Iterate it to the end (or ``aclose`` it):
    the thread stays busy until then, or until the run's time limit.
    """

    thread_id: str
    run_id: str
    chunks: AsyncIterator[tuple[str, Any]]


@contextmanager
def redis_unavailable() -> Iterator[None]:
    """Redis failures as the typed error the API answers 503 with."""
    try:
        yield
    except REDIS_ERRORS as exc:
        raise ServiceUnavailable("redis", f"{type(exc).__name__}: {exc}") from exc


def run_error(state: Mapping[str, Any]) -> InterlockError | None:
    """The typed error a finished run's state records, if it ended in one."""
    error = state.get("error")
    if error and error["kind"] == "model_unavailable":
        return ModelUnavailable(error["detail"])
    if error and error["kind"] == "model_rejected":
        return ModelRejected(error["detail"])
    if error and error["kind"] == "over_budget":
        return BudgetExceeded(error["detail"])
    return None


def _outcome(state: Mapping[str, Any]) -> RunOutcome:
    return "error" if run_error(state) else "idle"


def node_summary(node: str, update: object) -> dict[str, Any]:
    """What a node decided, small enough to stream (no documents, no message bodies)."""
    summary: dict[str, Any] = {"node": node}
    if not isinstance(update, dict):
        return summary
    summary["updated"] = sorted(update)
    if update.get("route"):
        summary["route"] = update["route"]
    if update.get("check"):
        summary["check"] = {k: update["check"].get(k) for k in ("verdict", "score")}
    if update.get("documents"):
        summary["documents"] = [d["id"] for d in update["documents"]]
    if update.get("plan"):
        summary["plan"] = update["plan"]
    if update.get("guards"):
        summary["guards"] = update["guards"]
    if update.get("error"):
        summary["error"] = update["error"]
    return summary


@dataclass
class AgentResult:
    """What one run produced, in the shape the API and CLI return."""

    thread_id: str
    run_id: str
    answer: str
    citations: list[dict[str, Any]]
    route: dict[str, Any] | None
    check: dict[str, Any] | None
    guards: list[dict[str, Any]]
    usage: dict[str, Any]
    timings_ms: dict[str, float]
    trace_id: str = ""  # the run's trace in Langfuse and in `interlock traces`
    refused: bool = False
    from_cache: bool = False
    model: str | None = None
    plan: dict[str, Any] | None = field(default=None)
    fallbacks: list[str] = field(default_factory=list)  # fallback paths taken, in order

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_question(question: object, max_chars: int) -> str:
    if not isinstance(question, str):
        raise InvalidInput("question must be a string")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("question is not valid UTF-8") from None
    if "\x00" in question:
        raise InvalidInput("question contains a NUL character")
    if not question.strip():
        raise InvalidInput("question is empty")
    if len(question) > max_chars:
        raise InputTooLarge(
            f"question is {len(question)} characters; the limit is {max_chars} "
            "(INTERLOCK_MAX_QUESTION_CHARS)"
        )
    return question.strip()


def validate_thread_id(thread_id: str) -> str:
    if not THREAD_ID.match(thread_id):
        raise InvalidInput(
            "thread_id must be 1-128 characters of letters, digits, '_', '-', '.', ':'"
        )
    return thread_id


def build_tiers(settings: Settings) -> dict[Tier, ModelTier]:
    """The two tiers as the settings describe them (replicas, weights, strategy, limits)."""
    breaker = BreakerPolicy(
        failure_threshold=settings.breaker_failures,
        error_rate_threshold=settings.breaker_error_rate,
        window_s=settings.breaker_window_s,
        min_calls_in_window=settings.breaker_min_calls,
        cooldown_s=settings.breaker_cooldown_s,
        half_open_probes=settings.breaker_half_open_probes,
    )

    def tier(name: Tier) -> ModelTier:
        def setting(key: str) -> Any:
            return getattr(settings, f"{name}_{key}")

        return ModelTier(
            name,
            setting("model_urls"),
            model=setting("model_name"),
            context_window=setting("context_window"),
            weights=setting("model_weights") or None,
            strategy=setting("strategy"),
            breaker=breaker,
            retry=RetryPolicy(
                attempt_timeout_s=settings.model_timeout_s,
                deadline_s=settings.model_deadline_s,
                max_attempts=settings.model_attempts,
                backoff_s=settings.retry_backoff_s,
            ),
            max_tokens=settings.max_answer_tokens,
            temperature=settings.temperature,
            frequency_penalty=settings.frequency_penalty,
            resume_streams=settings.resume_streams,
            cost_per_1k_input=setting("cost_per_1k_input"),
            cost_per_1k_output=setting("cost_per_1k_output"),
        )

    return {"small": tier("small"), "large": tier("large")}


def _redacted(policy: InputPolicy, text: str) -> str:
    return policy.redact(text)[0]


def build_tracer(settings: Settings, client: aioredis.Redis, policy: object) -> Tracer:
    """Langfuse when its keys are set (inputs and outputs redacted by ``policy``, the
    input guard), and the local trace log unless ``trace_log_ttl_s`` is 0."""
    langfuse = None
    if settings.langfuse_enabled:
        redact: Callable[[str], str] | None = None
        if isinstance(policy, InputPolicy):
            redact = functools.partial(_redacted, policy)
        langfuse = LangfuseExport.from_settings(settings, redact)
    log_ = None
    if settings.trace_log_ttl_s > 0:
        log_ = TraceLog(client, prefix=settings.redis_prefix, ttl_s=settings.trace_log_ttl_s)
    return Tracer(langfuse=langfuse, log=log_)


def _written_messages(update: object) -> list[Any]:
    """The messages a node wrote to the state (the reducer has not run yet)."""
    written = update.get("messages") if isinstance(update, dict) else None
    return list(written) if isinstance(written, list) else []


class _AnswerTokens:
    """The answer's tokens of one run, through the output guard, one draft per attempt.

    Only the generate node's model output is the answer; a fallback that
    routes again starts a new draft (``ATTEMPT`` in each token's metadata).
    """

    def __init__(self, policy: OutputPolicy) -> None:
        self.policy = policy
        self.attempt = 1
        self.draft = GuardedStream(policy)
        self.meta: dict[str, Any] = {"langgraph_node": "generate", ATTEMPT: 1}
        self.message_id: str | None = None

    def _token(self, text: str) -> tuple[AIMessageChunk, dict[str, Any]]:
        return AIMessageChunk(content=text, id=self.message_id), self.meta

    async def feed(self, chunk: Any, meta: dict[str, Any]) -> tuple[Any, dict[str, Any]] | None:
        """A streamed model chunk: the text the guard releases now, if any."""
        if meta.get("langgraph_node") != "generate" or not chunk.content:
            return None
        self.meta, self.message_id = {**meta, ATTEMPT: self.attempt}, chunk.id
        released = await self.draft.feed(str(chunk.content))
        return self._token(released) if released else None

    async def node_done(self, node: str, update: object) -> tuple[Any, dict[str, Any]] | None:
        """A node finished: the rest of the draft after generate; a new draft after a re-route."""
        if node == "fallback" and isinstance(update, dict) and update.get("route"):
            self.attempt += 1
            self.draft = GuardedStream(self.policy)
        if node != "generate":
            return None
        rest = await self.draft.flush()
        return self._token(rest) if rest else None


class Agent:
    def __init__(
        self,
        *,
        settings: Settings,
        graph: CompiledStateGraph,
        components: AgentComponents,
        checkpointer: RedisCheckpointSaver,
        redis_client: aioredis.Redis,
        threads: ThreadRegistry | None = None,
        metrics: Metrics | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.settings = settings
        self.graph = graph
        self.components = components
        self.checkpointer = checkpointer
        self.redis = redis_client
        self.metrics = metrics  # every run is recorded here when set (the server sets it)
        self.tracer = tracer or Tracer()  # timings only: no Langfuse, no local trace log
        # Who owns each thread: every method taking a thread id checks it here.
        self.threads = threads or ThreadRegistry(
            redis_client, prefix=settings.redis_prefix, ttl_s=settings.thread_ttl_s
        )

    @classmethod
    async def from_settings(
        cls, settings: Settings | None = None, *, embeddings: MiniLMEmbeddings | None = None
    ) -> Agent:
        """Connect to Redis, LanceDB and the model tiers named by the settings."""
        settings = settings or Settings.load()
        if not settings.small_model_urls or not settings.large_model_urls:
            raise ServiceUnavailable(
                "model",
                "no model endpoint configured: set INTERLOCK_SMALL_MODEL_URLS and "
                "INTERLOCK_LARGE_MODEL_URLS, or start through `interlock serve`/`ask`, "
                "which start the embedded model server",
            )
        embeddings = embeddings or MiniLMEmbeddings()
        # Load the embedding model now (seconds), not inside the first request.
        await embeddings.aencode(["warm up"])
        client = redis_pool.async_client(
            settings.redis_url, socket_connect_timeout=2.0, socket_timeout=5.0
        )
        checkpointer = RedisCheckpointSaver.from_url(
            settings.redis_url, prefix=settings.redis_prefix, ttl_seconds=settings.thread_ttl_s
        )
        injection_classifier = None
        if settings.injection_classifier:
            injection_classifier = InjectionClassifier(
                embeddings,
                InjectionModel.load(settings.injection_model),
                threshold=settings.injection_threshold,
            )
            # Loads the multilingual encoder too, when the model uses one.
            await injection_classifier.ascore("warm up")
        tiers = build_tiers(settings)
        if settings.health_interval_s > 0:
            for tier in tiers.values():
                tier.start_probing(settings.health_interval_s)
        components = AgentComponents(
            tiers=tiers,
            knowledge=KnowledgeBase(settings.lancedb_uri, embeddings, settings.knowledge_table),
            cache=ResponseCache(client, prefix=settings.redis_prefix, ttl_s=settings.cache_ttl_s),
            checker=GroundednessChecker(
                embeddings, judge=LLMJudge(tiers["large"]) if settings.check_judge else None
            ),
            output_policy=OutputPolicy(actions=settings.guard_actions),
            input_policy=InputPolicy(
                max_chars=settings.max_question_chars,
                actions=settings.guard_actions,
                banned_topics=settings.banned_topics,
                classifier=injection_classifier,
            ),
            classifier=(
                TrainedRouter(embeddings, RouterModel.load(settings.router_model))
                if settings.router == "trained"
                else HeuristicClassifier()
            ),
            store=LanceDBStore(settings.lancedb_uri, embeddings, settings.memory_table),
            semantic_cache=(
                SemanticCache(
                    settings.lancedb_uri,
                    embeddings,
                    threshold=settings.semantic_cache_threshold,
                    ttl_s=settings.cache_ttl_s,
                )
                if settings.semantic_cache_threshold > 0
                else None
            ),
            settings=settings,
        )
        graph = build_agent_graph(components, checkpointer=checkpointer)
        return cls(
            settings=settings,
            graph=graph,
            components=components,
            checkpointer=checkpointer,
            redis_client=client,
            tracer=build_tracer(settings, client, components.input_policy),
        )

    # -- conversations ------------------------------------------------------------
    async def _prepare(
        self,
        question: object,
        thread_id: str | None,
        user_id: str,
        tenant: str,
        cache: CacheControl | None = None,
        limits: RouteLimits | None = None,
        response_schema: object = None,
        cap: RunCap | None = None,
        *,
        reject_if_busy: bool = False,
    ) -> _Run:
        """Validate and set up one run; every typed input error is raised here, up front.

        The thread must be ``tenant``'s (another tenant's reads as missing); a
        new one is recorded as the tenant's. The run then holds the thread
        (busy) until it ends; ``reject_if_busy`` refuses a thread another run holds.
        """
        text = validate_question(question, self.settings.max_question_chars)
        if thread_id is not None:
            validate_thread_id(thread_id)
        schema = validate_schema(response_schema) if response_schema is not None else None
        with redis_unavailable():
            if thread_id is None:
                thread_id = str(uuid.uuid4())
                await self.threads.create(thread_id, tenant, graph_id=AGENT_GRAPH_ID)
            elif await self.threads.get(thread_id, tenant) is None:
                raise ThreadNotFound(
                    f"thread {thread_id!r} does not exist; omit thread_id to start a new one"
                )
        run_id = str(uuid.uuid4())
        trace = self.tracer.start(
            run_id=run_id, thread_id=thread_id, user_id=user_id, tenant=tenant, graph=GRAPH_NAME
        )
        config = trace.config()
        if cache:
            config["configurable"]["cache"] = dict(cache)
        if limits:
            config["configurable"]["route"] = dict(limits)
        if cap:
            config["configurable"]["cap"] = dict(cap)
        if schema is not None:
            config["configurable"]["response_schema"] = schema
            # Cached answers are prose for the question alone, not this schema's JSON.
            config["configurable"]["cache"] = {**(cache or {}), "no_cache": True}
        # LangGraph checkpoints the run's input before any node runs, so secrets
        # and PII are redacted here, or the raw text would sit in Redis (in the
        # thread's history) until the thread expires.
        policy = self.components.input_policy
        text, redactions = policy.redact(text) if isinstance(policy, InputPolicy) else (text, [])
        run = _Run(
            thread_id,
            run_input(text, user_id=user_id, tenant=tenant, redactions=redactions, run_id=run_id),
            config,
            trace,
        )
        with redis_unavailable():
            await self.threads.claim(
                thread_id,
                run.run_id,
                graph_id=AGENT_GRAPH_ID,
                lease_s=self.settings.request_timeout_s + 5,
                reject_if_busy=reject_if_busy,
            )
        return run

    async def _finish(
        self,
        run: _Run,
        outcome: RunOutcome,
        state: Mapping[str, Any] | None,
        failure: BaseException | None,
    ) -> None:
        """Release the thread and record the trace. Shielded: a run cancelled because
        its client left still gets here; if Redis does not answer, the lease runs out
        by itself."""
        with anyio.CancelScope(shield=True):
            try:
                await self.threads.finish(run.thread_id, run.run_id, outcome)
            except REDIS_ERRORS as exc:
                log.warning("thread %s stays busy until its lease ends: %s", run.thread_id, exc)
            cancelled = isinstance(failure, (asyncio.CancelledError, GeneratorExit))
            error = None if failure is None or cancelled else f"{type(failure).__name__}: {failure}"
            if error is None and state is not None and (info := state.get("error")):
                error = f"{info['kind']}: {info['detail']}"
            await self.tracer.finish(
                run.trace,
                state,
                "cancelled" if cancelled else "error" if error else "ok",
                error,
            )

    def _result(self, run: _Run, state: dict[str, Any]) -> AgentResult:
        """The run's final state as a result, or the typed error it ended with."""
        error = state.get("error")
        if failure := run_error(state):
            raise failure
        answer = state.get("answer") or {"text": "", "citations": [], "from_cache": False}
        return AgentResult(
            thread_id=run.thread_id,
            run_id=state.get("run_id", ""),
            answer=answer["text"],
            citations=list(answer["citations"]),
            route=state.get("route"),
            check=state.get("check"),
            guards=list(state.get("guards") or []),
            usage=dict(state.get("usage") or {}),
            timings_ms=run.timer.report(),
            trace_id=run.trace.trace_id,
            refused=bool(error and error["kind"] == "refused"),
            from_cache=answer["from_cache"],
            model=answer.get("model"),
            plan=state.get("plan"),
            fallbacks=list(state.get("fallbacks") or []),
        )

    async def ask(
        self,
        question: object,
        *,
        thread_id: str | None = None,
        user_id: str = "anonymous",
        tenant: str = "default",
        cache: CacheControl | None = None,
        limits: RouteLimits | None = None,
        response_schema: dict[str, Any] | None = None,
        cap: RunCap | None = None,
    ) -> AgentResult:
        """Answer one question; continue ``thread_id`` if given, else start a thread.

        ``tenant`` owns the thread (a thread of another tenant does not exist
        for this call) and names the knowledge base searched. ``cache``
        controls the response caches for this request only
        (``{"no_cache": True}``, ``{"ttl_s": 60}``); ``limits`` bound the
        route's choice (``{"max_cost": 0.002, "max_latency_ms": 3000}``);
        ``response_schema`` (a JSON Schema) asks for a structured answer: the
        model's decoding is constrained to it and the output guard checks it;
        ``cap`` (``{"max_tokens": 2000, "max_cost": 0.01}``) is a hard limit on
        the whole run, checked before each model call (``BudgetExceeded``).
        """
        run = await self._prepare(
            question, thread_id, user_id, tenant, cache, limits, response_schema, cap
        )
        outcome: RunOutcome = "error"
        state: dict[str, Any] | None = None
        failure: BaseException | None = None
        tracker = RunTracker(self.metrics, run.config.get("run_name"), run.timer)
        try:
            with redis_unavailable():
                state = await self.graph.ainvoke(run.input, config=run.config)
            outcome = _outcome(state)
            return tracker.finish(self._result(run, state))
        except asyncio.CancelledError as exc:
            outcome = "idle"  # stopped (the request timed out), not failed
            failure = exc
            raise
        except BaseException as exc:
            failure = exc
            raise
        finally:
            tracker.close()
            await self._finish(run, outcome, state, failure)

    async def stream(
        self,
        question: object,
        *,
        thread_id: str | None = None,
        user_id: str = "anonymous",
        tenant: str = "default",
        cache: CacheControl | None = None,
        limits: RouteLimits | None = None,
        response_schema: dict[str, Any] | None = None,
        cap: RunCap | None = None,
    ) -> AsyncIterator[AgentEvent]:
        """Validate now (typed errors raise here), then stream the run as events.

        Events, in order: ``run`` (thread and run ids), ``node`` as each node
        finishes (a summary of what it decided), ``token`` for each piece of a
        generated answer, and last ``result`` (the same body ``ask`` returns)
        or ``error`` (status and reason). Tokens are released a sentence at a
        time, after the output guard passed them, but they are the model's
        draft: the check or the fallback may still replace it (``attempt``
        counts drafts), so the ``result`` event's answer is the one to keep.
        """
        run = await self._prepare(
            question, thread_id, user_id, tenant, cache, limits, response_schema, cap
        )
        return self._events(run)

    async def stream_graph(
        self,
        question: object,
        *,
        thread_id: str | None = None,
        user_id: str = "anonymous",
        tenant: str = "default",
        stream_mode: Collection[str] = (),
        reject_if_busy: bool = False,
        cache: CacheControl | None = None,
        limits: RouteLimits | None = None,
        response_schema: dict[str, Any] | None = None,
        cap: RunCap | None = None,
    ) -> GraphRun:
        """Validate now (typed errors raise here), then stream the run in LangGraph's modes.

        For the LangGraph-compatible API: the same run as ``ask``, guards and
        caches included. ``stream_mode`` picks among ``values``, ``updates``
        and ``messages``; in ``messages`` the answer's tokens come a sentence
        at a time after the output guard saw them (the model's draft, as in
        ``stream``), and other messages come whole, as the nodes wrote them.
        """
        unknown = set(stream_mode) - GRAPH_MODES
        if unknown:
            raise InvalidInput(
                f"stream mode(s) {sorted(unknown)} not served for the agent graph; "
                f"use {sorted(GRAPH_MODES)}"
            )
        run = await self._prepare(
            question,
            thread_id,
            user_id,
            tenant,
            cache,
            limits,
            response_schema,
            cap,
            reject_if_busy=reject_if_busy,
        )
        return GraphRun(run.thread_id, run.run_id, self._drive(run, frozenset(stream_mode)))

    async def _drive(self, run: _Run, modes: frozenset[str]) -> AsyncIterator[tuple[str, Any]]:
        """Run the graph once; the one loop behind ``stream`` and ``stream_graph``.

        Yields what ``GraphRun.chunks`` describes. Answer tokens come only from
        the generate node and only through the output guard; other model calls
        (the LLM judge's, say) are not the answer and are never shown. Redis
        failures raise ServiceUnavailable; the thread is released in any case.
        """
        graph_modes = cast(list[StreamMode], ["updates", *sorted(modes & {"messages", "values"})])
        answer = _AnswerTokens(self.components.output_policy)
        state: dict[str, Any] | None = None
        outcome: RunOutcome = "error"
        failure: BaseException | None = None
        tracker = RunTracker(self.metrics, run.config.get("run_name"), run.timer)
        try:
            with redis_unavailable():
                async for item in self.graph.astream(
                    run.input, config=run.config, stream_mode=graph_modes
                ):
                    mode, payload = cast(tuple[str, Any], item)
                    if mode == "values":
                        yield "values", payload
                    elif mode == "messages":
                        if token := await answer.feed(*payload):
                            yield "messages", token
                    elif isinstance(payload, dict):
                        for node, update in payload.items():
                            if rest := await answer.node_done(node, update):
                                yield "messages", rest
                            if "updates" in modes:
                                yield "updates", {node: update}
                            if "messages" in modes and node != "generate":
                                for message in _written_messages(update):
                                    yield "messages", (message, {"langgraph_node": node})
                snapshot = await self.graph.aget_state(run.config)
            state = dict(snapshot.values)
            outcome = _outcome(state)
            if outcome != "error":
                tracker.finish(self._result(run, state))
        except (asyncio.CancelledError, GeneratorExit) as exc:
            outcome = "idle"  # stopped (the client left, the time ran out), not failed
            failure = exc
            raise
        except BaseException as exc:
            failure = exc
            raise
        finally:
            tracker.close()
            await self._finish(run, outcome, state, failure)
        yield "final", state

    async def _events(self, run: _Run) -> AsyncIterator[AgentEvent]:
        yield AgentEvent(
            "run",
            {"thread_id": run.thread_id, "run_id": run.run_id, "trace_id": run.trace.trace_id},
        )
        try:
            async for mode, payload in self._drive(run, frozenset({"updates", "messages"})):
                if mode == "messages":
                    chunk, meta = payload
                    if ATTEMPT in meta:
                        yield AgentEvent("token", {"text": chunk.content, "attempt": meta[ATTEMPT]})
                elif mode == "updates":
                    for node, update in payload.items():
                        yield AgentEvent("node", node_summary(node, update))
                elif mode == "final":
                    result = self._result(run, payload)
        except InterlockError as exc:
            yield AgentEvent("error", {"status": exc.status, "error": exc.reason})
            return
        yield AgentEvent("result", result.to_dict())

    async def thread_exists(self, thread_id: str, tenant: str = "default") -> bool:
        """Whether ``tenant`` has this thread (another tenant's thread does not count)."""
        with redis_unavailable():
            return await self.threads.get(thread_id, tenant) is not None

    async def messages(self, thread_id: str, tenant: str = "default") -> list[dict[str, str]]:
        """The conversation of a thread, oldest first (ThreadNotFound if not ``tenant``'s)."""
        validate_thread_id(thread_id)
        with redis_unavailable():
            await self.threads.require(thread_id, tenant)
            snapshot = await self.graph.aget_state({"configurable": {"thread_id": thread_id}})
        return [
            {"role": m.type, "content": str(m.content)} for m in snapshot.values.get("messages", [])
        ]

    async def delete_thread(self, thread_id: str, tenant: str = "default") -> None:
        """Delete a thread of ``tenant``: its record first, so it is gone for every API at once."""
        validate_thread_id(thread_id)
        with redis_unavailable():
            await self.threads.delete(thread_id, tenant)
            await self.checkpointer.adelete_thread(thread_id)

    async def forget_user(self, user_id: str) -> dict[str, int]:
        """A data-removal request: every thread of the user and their long-term memories."""
        if not user_id or len(user_id) > 128:
            raise InvalidInput("user_id must be 1-128 characters")
        with redis_unavailable():
            listed = await self.checkpointer.alist_user_threads(user_id)
            threads = await self.checkpointer.adelete_user_threads(user_id)
            await self.threads.forget(listed)
        memories = 0
        store = self.components.store
        if store is not None:
            namespace = ("memories", user_id)
            while items := await store.asearch(namespace, limit=100):
                for item in items:
                    await store.adelete(item.namespace, item.key)
                memories += len(items)
        return {"threads": threads, "memories": memories}

    # -- knowledge -----------------------------------------------------------------
    async def ingest(
        self,
        paths: list[Path],
        *,
        tenant: str = "default",
        tags: Sequence[str] = (),
        on_progress: OnProgress | None = None,
    ) -> IngestReport:
        """Add files and folders to the tenant's knowledge base (see KnowledgeBase.ingest)."""
        report = await self.components.knowledge.ingest(
            paths, tenant=tenant, tags=tags, on_progress=on_progress
        )
        await self._knowledge_changed(report)
        return report

    async def ingest_documents(
        self,
        documents: Sequence[SourceDocument],
        *,
        tenant: str = "default",
        remove: Sequence[str] = (),
    ) -> IngestReport:
        """Add or replace documents given as bytes, remove others by source name."""
        report = await self.components.knowledge.ingest_documents(
            documents, tenant=tenant, remove=remove
        )
        await self._knowledge_changed(report)
        return report

    async def _knowledge_changed(self, report: IngestReport) -> None:
        """Cached answers citing a changed or removed chunk are no longer true."""
        if report.removed_chunk_ids:
            await self.components.cache.invalidate_chunks(report.removed_chunk_ids)
            if self.components.semantic_cache is not None:
                await self.components.semantic_cache.invalidate_chunks(report.removed_chunk_ids)

    async def ensure_sample_knowledge(self) -> IngestReport | None:
        """Ingest the bundled (or configured) sample docs if the knowledge base is empty."""
        if await self.components.knowledge.count() > 0:
            return None
        return await self.ingest([self.settings.sample_kb_path or SAMPLE_KB])

    # -- operations ----------------------------------------------------------------
    async def readiness(self) -> dict[str, str]:
        """'ok' or the reason, per component."""
        status: dict[str, str] = {}
        try:
            await self.redis.ping()
            status["redis"] = "ok"
        except REDIS_ERRORS as exc:
            status["redis"] = f"unreachable: {type(exc).__name__}"
        try:
            await self.components.knowledge.count()
            status["lancedb"] = "ok"
        except Exception as exc:  # any storage failure means "not ready"
            status["lancedb"] = f"unavailable: {type(exc).__name__}: {exc}"
        for name, tier in self.components.tiers.items():
            status[f"model:{name}"] = "ok" if await tier.ahealthy() else "no replica reachable"
        return status

    async def aclose(self) -> None:
        await self.tracer.flush()
        await self.redis.aclose()
        await self.checkpointer.aclose()
        for tier in self.components.tiers.values():
            await tier.aclose()
