"""Every knob of interlock, in one place.

Settings are read from ``INTERLOCK_*`` environment variables (or a ``.env``
file) and validated when the process starts, so a typo in a URL or a negative
timeout stops the service with the variable's name in the message instead of
failing on the first request an hour later.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from interlock.graphs.spec import AGENT_GRAPH_ID, GRAPH_ID, parse_graph_spec
from interlock.guardrails.actions import resolve_actions
from interlock.models.balancer import StrategyName

ENV_PREFIX = "INTERLOCK_"


class ConfigError(ValueError):
    """Raised when settings are invalid; the message names each bad variable."""


def _split_urls(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _check_http_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"{url!r} is not an http(s) URL")
    return url.rstrip("/")


class Settings(BaseSettings):
    """interlock's configuration; see README for the variables and their defaults."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        validate_default=True,
        populate_by_name=True,
    )

    # --- services -------------------------------------------------------------
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis for threads, caches and limits."
    )
    redis_prefix: str = Field("interlock", min_length=1, description="Key prefix in Redis.")
    lancedb_uri: str = Field(
        "./data/lancedb", description="LanceDB folder or URI (s3://... in production)."
    )
    knowledge_table: str = Field("knowledge", min_length=1)
    memory_table: str = Field("memories", min_length=1)

    # --- models ---------------------------------------------------------------
    small_model_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="OpenAI-compatible base URLs (…/v1) of the small tier; empty = embedded.",
    )
    large_model_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="vLLM OpenAI-compatible base URLs (…/v1) of the large tier; empty = embedded.",
    )
    small_model_weights: Annotated[list[float], NoDecode] = Field(
        default_factory=list, description="One weight per small-tier URL (default: all 1)."
    )
    large_model_weights: Annotated[list[float], NoDecode] = Field(
        default_factory=list, description="One weight per large-tier URL (default: all 1)."
    )
    small_strategy: StrategyName = "least_connections"
    large_strategy: StrategyName = Field(
        "affinity", description="Conversation affinity keeps a thread on one vLLM prefix cache."
    )
    small_cost_per_1k_input: float = Field(0.0, ge=0)
    small_cost_per_1k_output: float = Field(0.0, ge=0)
    large_cost_per_1k_input: float = Field(0.0, ge=0)
    large_cost_per_1k_output: float = Field(0.0, ge=0)
    small_model_name: str = Field("smollm2-135m-instruct", min_length=1)
    large_model_name: str = Field("smollm2-135m-instruct", min_length=1)
    small_context_window: int = Field(8192, gt=0)
    large_context_window: int = Field(8192, gt=0)
    model_timeout_s: float = Field(60.0, gt=0, description="One attempt on one replica.")
    model_deadline_s: float = Field(120.0, gt=0, description="All attempts of one call.")
    model_attempts: int = Field(4, ge=1, le=20)
    retry_backoff_s: float = Field(0.02, ge=0)
    resume_streams: bool = Field(
        True,
        description="A stream cut mid-answer continues on another replica from the text "
        "already sent (vLLM's continue_final_message); off: it fails with StreamInterrupted.",
    )
    breaker_failures: int = Field(3, ge=1, description="Consecutive failures that open it.")
    breaker_error_rate: float = Field(0.5, gt=0, le=1)
    breaker_window_s: float = Field(30.0, gt=0)
    breaker_min_calls: int = Field(10, ge=1)
    breaker_cooldown_s: float = Field(5.0, ge=0)
    breaker_half_open_probes: int = Field(1, ge=1)
    health_interval_s: float = Field(5.0, ge=0, description="Active probe period; 0 = off.")
    max_answer_tokens: int = Field(160, gt=0)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    frequency_penalty: float = Field(
        0.0,
        ge=-2.0,
        le=2.0,
        description="Curbs the loops small models fall into; off by default because "
        "llama-server's penalty sampler cut SmolLM2's speed from ~100 to ~20 tokens/s here.",
    )
    embedded_model_threads: int = Field(2, gt=0)
    embedded_model_slots: int = Field(4, gt=0)
    embedded_model_ctx: int = Field(8192, gt=0)

    # --- request path -----------------------------------------------------------
    max_question_chars: int = Field(8000, gt=0)
    max_body_bytes: int = Field(256_000, gt=0)
    # Documents posted to /v1/knowledge/documents (PDFs, base64) need more room.
    max_ingest_body_bytes: int = Field(20_000_000, gt=0)
    # What each guard does when it fires (guardrails/actions.py), e.g.
    # INTERLOCK_GUARD_ACTIONS='{"pii": "warn", "toxicity": "off"}'.
    guard_actions: dict[str, str] = Field(default_factory=dict)
    # Topics refused on input, each with the words that mark it, e.g.
    # INTERLOCK_BANNED_TOPICS='{"medical advice": ["diagnose", "dosage"]}'.
    banned_topics: dict[str, list[str]] = Field(default_factory=dict)
    # Prompt-injection classifier next to the patterns (guardrails/injection_classifier.py).
    injection_classifier: bool = True
    injection_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Score at which a message is refused; default: the trained model's own "
        "(set at training for at most 2% false positives).",
    )
    injection_model: Path | None = Field(
        None, description="A model from `interlock guard train`; default: the shipped one."
    )
    retrieval_top_k: int = Field(5, gt=0, le=100)
    memory_top_k: int = Field(3, ge=0, le=50)
    # The request classifier behind the planner and the route node.
    router: Literal["trained", "heuristic"] = "trained"
    router_model: Path | None = Field(
        None, description="A model from `interlock router train`; default: the shipped one."
    )
    route_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Difficulty at or above which a request goes large; default: the "
        "classifier's own (0.5 trained, 0.6 heuristic); `interlock router calibrate` sets it "
        "from a target share of large-tier traffic.",
    )
    # Ask the large tier to judge each answer sentence (guardrails/llm_judge.py):
    # one more model call per answer; worth it when the large model is stronger.
    check_judge: bool = False
    check_threshold: float = Field(0.75, ge=0.0, le=1.0)
    max_attempts: int = Field(2, ge=1, le=5)
    history_messages: int = Field(6, ge=0)
    # Token budget of earlier turns in the prompt; older turns are summarised
    # (interlock.memory.window states the rule).
    history_tokens: int = Field(600, ge=0)
    cache_ttl_s: int = Field(3600, ge=0)
    # Semantic cache: cosine similarity a paraphrase needs (0 = off); see
    # benchmarks/results/semantic_cache.json for how the default was chosen.
    semantic_cache_threshold: float = Field(0.85, ge=0.0, le=1.0)
    thread_ttl_s: int | None = Field(None, gt=0)

    # --- server -----------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    request_timeout_s: float = Field(120.0, gt=0)
    auth: Literal["api_keys", "off"] = Field(
        "api_keys",
        description="`api_keys`: every API call needs a key from `interlock keys create`; "
        "`off`: no keys, the caller names its tenant (local development only).",
    )
    max_inflight_runs: int = Field(
        256,
        gt=0,
        description="Runs one process holds at once; beyond it, 503 with Retry-After "
        "instead of an unbounded queue.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed by CORS (comma-separated; * = any)."
    )
    # Defaults for keys created without their own limits (0 = no limit).
    rate_limit_rpm: int = Field(600, ge=0, description="Requests per minute per key.")
    rate_limit_tpm: int = Field(0, ge=0, description="Model tokens per minute per key.")
    # Graphs served next to the default agent by the LangGraph-compatible API,
    # as in langgraph.json: graph id -> "path/to/file.py:attr" or "package.module:attr"
    # (a compiled graph, a StateGraph, or a zero-argument factory), e.g.
    # INTERLOCK_GRAPHS='{"echo": "./graphs/echo.py:graph"}'.
    graphs: dict[str, str] = Field(default_factory=dict)

    # --- tracing ----------------------------------------------------------------
    # Langfuse's own variable names work too (LANGFUSE_PUBLIC_KEY, ...), so a
    # deployment already set up for Langfuse needs nothing new. Both keys set = on.
    langfuse_public_key: str | None = Field(
        None,
        validation_alias=AliasChoices("INTERLOCK_LANGFUSE_PUBLIC_KEY", "LANGFUSE_PUBLIC_KEY"),
    )
    langfuse_secret_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("INTERLOCK_LANGFUSE_SECRET_KEY", "LANGFUSE_SECRET_KEY"),
    )
    langfuse_host: str = Field(
        "https://cloud.langfuse.com",
        validation_alias=AliasChoices(
            "INTERLOCK_LANGFUSE_HOST", "LANGFUSE_BASE_URL", "LANGFUSE_HOST"
        ),
        description="Langfuse's URL; spans go to <host>/api/public/otel/v1/traces.",
    )
    langfuse_environment: str | None = Field(
        None,
        validation_alias=AliasChoices(
            "INTERLOCK_LANGFUSE_ENVIRONMENT", "LANGFUSE_TRACING_ENVIRONMENT"
        ),
    )
    trace_log_ttl_s: int = Field(
        7 * 86400,
        ge=0,
        description="How long each run's local trace record (`interlock traces`) stays in "
        "Redis; 0 = no records.",
    )

    # --- data -------------------------------------------------------------------
    data_dir: Path = Field(
        Path("./data"), description="Logs of embedded services and the embedded Redis's data."
    )
    sample_kb_path: Path | None = Field(
        None, description="Folder ingested on first run; default: the bundled sample docs."
    )

    @property
    def langfuse_enabled(self) -> bool:
        return bool(self.langfuse_public_key and self.langfuse_secret_key)

    @field_validator("langfuse_host")
    @classmethod
    def _validate_langfuse_host(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator(
        "small_model_urls",
        "large_model_urls",
        "small_model_weights",
        "large_model_weights",
        "cors_origins",
        mode="before",
    )
    @classmethod
    def _parse_list(cls, value: object) -> object:
        return _split_urls(value)

    @field_validator("small_model_weights", "large_model_weights")
    @classmethod
    def _validate_weights(cls, value: list[float]) -> list[float]:
        if any(w <= 0 for w in value):
            raise ValueError("weights must be positive")
        return value

    @model_validator(mode="after")
    def _weights_match_urls(self) -> Settings:
        for tier in ("small", "large"):
            urls, weights = (
                getattr(self, f"{tier}_model_urls"),
                getattr(self, f"{tier}_model_weights"),
            )
            if weights and len(weights) != len(urls):
                raise ValueError(
                    f"{ENV_PREFIX}{tier.upper()}_MODEL_WEIGHTS has {len(weights)} values for "
                    f"{len(urls)} URLs in {ENV_PREFIX}{tier.upper()}_MODEL_URLS"
                )
        return self

    @field_validator("small_model_urls", "large_model_urls")
    @classmethod
    def _validate_urls(cls, value: list[str]) -> list[str]:
        return [_check_http_url(url) for url in value]

    @field_validator("guard_actions")
    @classmethod
    def _validate_guard_actions(cls, value: dict[str, str]) -> dict[str, str]:
        resolve_actions(value)  # raises ValueError naming the bad guard or action
        return value

    @field_validator("graphs")
    @classmethod
    def _validate_graphs(cls, value: dict[str, str]) -> dict[str, str]:
        for graph_id, spec in value.items():
            if not GRAPH_ID.match(graph_id):
                raise ValueError(f"graph id {graph_id!r}: use 1-64 letters, digits, '_', '-', '.'")
            if graph_id == AGENT_GRAPH_ID:
                raise ValueError(
                    f"graph id {graph_id!r} is the default agent graph's; pick another"
                )
            parse_graph_spec(spec)  # ValueError naming the bad entry
        return value

    @field_validator("injection_model", "router_model")
    @classmethod
    def _validate_model_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _validate_redis_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("redis", "rediss", "unix") or not (parsed.netloc or parsed.path):
            raise ValueError(f"{value!r} is not a redis:// URL")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Precedence: arguments, environment, .env, then the TOML file.

        The file (``INTERLOCK_CONFIG_FILE``, default ``./interlock.toml`` when it
        exists) uses the same names without the prefix, e.g.
        ``large_model_urls = ["http://vllm-1:8000/v1", "http://vllm-2:8000/v1"]``.
        """
        path = Path(os.environ.get(f"{ENV_PREFIX}CONFIG_FILE", "interlock.toml"))
        toml = TomlConfigSettingsSource(settings_cls, toml_file=path)
        return init_settings, env_settings, dotenv_settings, toml

    @property
    def embedded_models(self) -> bool:
        """True when no endpoint is configured for either tier: start llama-server."""
        return not self.small_model_urls or not self.large_model_urls

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """Build settings, turning pydantic's errors into one readable ConfigError."""
        try:
            return cls(**overrides)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise ConfigError(describe_errors(exc)) from None


def describe_errors(exc: ValidationError) -> str:
    """Name the environment variable behind each invalid field."""
    lines = ["invalid interlock settings:"]
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        name = f"{ENV_PREFIX}{field.upper()}: " if field else ""
        lines.append(f"  {name}{error['msg']}")
    return "\n".join(lines)
