"""Agent: a compiled graph together with the connections it runs on.

The CLI, the HTTP server and Python users all go through this class, so
input validation, thread handling and the mapping of infrastructure
failures to typed errors happen once. It keeps no conversation state of its
own: everything lives in Redis and LanceDB, so any number of processes can
serve the same threads.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import redis
import redis.asyncio as aioredis
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

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
from interlock.guardrails.groundedness import GroundednessChecker
from interlock.guardrails.injection_classifier import InjectionClassifier, InjectionModel
from interlock.guardrails.llm_judge import LLMJudge
from interlock.guardrails.policy import InputPolicy, OutputPolicy
from interlock.guardrails.streaming import GuardedStream
from interlock.memory.checkpointer import RedisCheckpointSaver
from interlock.memory.embeddings import MiniLMEmbeddings
from interlock.memory.knowledge import IngestReport, KnowledgeBase, OnProgress, SourceDocument
from interlock.memory.longterm import LanceDBStore
from interlock.memory.response_cache import CacheControl, ResponseCache
from interlock.memory.semantic_cache import SemanticCache
from interlock.metrics import Metrics, RunTracker
from interlock.models.breaker import BreakerPolicy
from interlock.models.router import HeuristicClassifier
from interlock.models.structured import validate_schema
from interlock.models.tier import ModelRejected, ModelTier, RetryPolicy
from interlock.models.trained_router import RouterModel, TrainedRouter
from interlock.nodes.route import RouteLimits
from interlock.nodes.run_cap import RunCap
from interlock.state import Tier, run_input
from interlock.tracing import NodeTimer, run_config

THREAD_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
SAMPLE_KB = Path(__file__).parent / "data" / "sample_kb"
REDIS_ERRORS = (redis.RedisError, ConnectionError, OSError)


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
    timer: NodeTimer


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
            cost_per_1k_input=setting("cost_per_1k_input"),
            cost_per_1k_output=setting("cost_per_1k_output"),
        )

    return {"small": tier("small"), "large": tier("large")}


class Agent:
    def __init__(
        self,
        *,
        settings: Settings,
        graph: CompiledStateGraph,
        components: AgentComponents,
        checkpointer: RedisCheckpointSaver,
        redis_client: aioredis.Redis,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.graph = graph
        self.components = components
        self.checkpointer = checkpointer
        self.redis = redis_client
        self.metrics = metrics  # every run is recorded here when set (the server sets it)

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
        client = aioredis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=2.0, socket_timeout=5.0
        )
        checkpointer = RedisCheckpointSaver.from_url(
            settings.redis_url, prefix=settings.redis_prefix, ttl_seconds=settings.thread_ttl_s
        )
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
                classifier=(
                    InjectionClassifier(
                        embeddings,
                        InjectionModel.load(settings.injection_model),
                        threshold=settings.injection_threshold,
                    )
                    if settings.injection_classifier
                    else None
                ),
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
    ) -> _Run:
        """Validate and set up one run; every typed input error is raised here, up front."""
        text = validate_question(question, self.settings.max_question_chars)
        if thread_id is None:
            thread_id = str(uuid.uuid4())
        else:
            validate_thread_id(thread_id)
            if not await self.thread_exists(thread_id):
                raise ThreadNotFound(
                    f"thread {thread_id!r} does not exist; omit thread_id to start a new one"
                )
        timer = NodeTimer()
        config = run_config(
            thread_id=thread_id, user_id=user_id, tenant=tenant, graph_name=GRAPH_NAME, timer=timer
        )
        if cache:
            config["configurable"]["cache"] = dict(cache)
        if limits:
            config["configurable"]["route"] = dict(limits)
        if cap:
            config["configurable"]["cap"] = dict(cap)
        if response_schema is not None:
            config["configurable"]["response_schema"] = validate_schema(response_schema)
            # Cached answers are prose for the question alone, not this schema's JSON.
            config["configurable"]["cache"] = {**(cache or {}), "no_cache": True}
        # LangGraph checkpoints the run's input before any node runs, so secrets
        # and PII are redacted here, or the raw text would sit in Redis (in the
        # thread's history) until the thread expires.
        policy = self.components.input_policy
        text, redactions = policy.redact(text) if isinstance(policy, InputPolicy) else (text, [])
        run = run_input(text, user_id=user_id, tenant=tenant, redactions=redactions)
        return _Run(thread_id, run, config, timer)

    def _result(self, run: _Run, state: dict[str, Any]) -> AgentResult:
        """The run's final state as a result, or the typed error it ended with."""
        error = state.get("error")
        if error and error["kind"] == "model_unavailable":
            raise ModelUnavailable(error["detail"])
        if error and error["kind"] == "model_rejected":
            raise ModelRejected(error["detail"])
        if error and error["kind"] == "over_budget":
            raise BudgetExceeded(error["detail"])
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

        ``cache`` controls the response caches for this request only
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
        tracker = RunTracker(self.metrics, run.config.get("run_name"), run.timer)
        try:
            state = await self.graph.ainvoke(run.input, config=run.config)
            return tracker.finish(self._result(run, state))
        except REDIS_ERRORS as exc:
            raise ServiceUnavailable("redis", f"{type(exc).__name__}: {exc}") from exc
        finally:
            tracker.close()

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

    async def _events(self, run: _Run) -> AsyncIterator[AgentEvent]:
        yield AgentEvent("run", {"thread_id": run.thread_id, "run_id": run.input["run_id"]})
        attempt = 1
        draft = GuardedStream(self.components.output_policy)
        tracker = RunTracker(self.metrics, run.config.get("run_name"), run.timer)
        try:
            async for item in self.graph.astream(
                run.input, config=run.config, stream_mode=["updates", "messages"]
            ):
                mode, payload = cast(tuple[str, Any], item)
                if mode == "messages":
                    chunk, meta = payload
                    if meta.get("langgraph_node") == "generate" and chunk.content:
                        released = await draft.feed(str(chunk.content))
                        if released:
                            yield AgentEvent("token", {"text": released, "attempt": attempt})
                elif isinstance(payload, dict):
                    for node, update in payload.items():
                        if node == "generate":
                            rest = await draft.flush()
                            if rest:
                                yield AgentEvent("token", {"text": rest, "attempt": attempt})
                        yield AgentEvent("node", node_summary(node, update))
                        if node == "fallback" and isinstance(update, dict) and update.get("route"):
                            # Generation runs again: a new draft follows.
                            attempt += 1
                            draft = GuardedStream(self.components.output_policy)
            snapshot = await self.graph.aget_state(run.config)
            result = tracker.finish(self._result(run, dict(snapshot.values)))
        except REDIS_ERRORS as exc:
            error: InterlockError = ServiceUnavailable("redis", f"{type(exc).__name__}: {exc}")
            yield AgentEvent("error", {"status": error.status, "error": error.reason})
            return
        except InterlockError as exc:
            yield AgentEvent("error", {"status": exc.status, "error": exc.reason})
            return
        finally:
            tracker.close()
        yield AgentEvent("result", result.to_dict())

    async def thread_exists(self, thread_id: str) -> bool:
        try:
            return await self.checkpointer.athread_exists(thread_id)
        except REDIS_ERRORS as exc:
            raise ServiceUnavailable("redis", f"{type(exc).__name__}: {exc}") from exc

    async def messages(self, thread_id: str) -> list[dict[str, str]]:
        """The conversation of a thread, oldest first."""
        validate_thread_id(thread_id)
        if not await self.thread_exists(thread_id):
            raise ThreadNotFound(f"thread {thread_id!r} does not exist")
        try:
            snapshot = await self.graph.aget_state({"configurable": {"thread_id": thread_id}})
        except REDIS_ERRORS as exc:
            raise ServiceUnavailable("redis", f"{type(exc).__name__}: {exc}") from exc
        return [
            {"role": m.type, "content": str(m.content)} for m in snapshot.values.get("messages", [])
        ]

    async def delete_thread(self, thread_id: str) -> None:
        validate_thread_id(thread_id)
        if not await self.thread_exists(thread_id):
            raise ThreadNotFound(f"thread {thread_id!r} does not exist")
        try:
            await self.checkpointer.adelete_thread(thread_id)
        except REDIS_ERRORS as exc:
            raise ServiceUnavailable("redis", f"{type(exc).__name__}: {exc}") from exc

    async def forget_user(self, user_id: str) -> dict[str, int]:
        """A data-removal request: every thread of the user and their long-term memories."""
        if not user_id or len(user_id) > 128:
            raise InvalidInput("user_id must be 1-128 characters")
        try:
            threads = await self.checkpointer.adelete_user_threads(user_id)
        except REDIS_ERRORS as exc:
            raise ServiceUnavailable("redis", f"{type(exc).__name__}: {exc}") from exc
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
        await self.redis.aclose()
        await self.checkpointer.aclose()
        for tier in self.components.tiers.values():
            await tier.aclose()
