"""Shared fixtures: the real services every integration and e2e test talks to.

One llama-server (the embedded model) and one MiniLM model are started per
test session; every test gets its own Redis key prefix and LanceDB folder so
tests never see each other's data, and its Redis keys are deleted after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from interlock.config import Settings
from interlock.embedded.model_server import LlamaServer
from interlock.memory.embeddings import MiniLMEmbeddings
from tests.e2e.servers import TEST_ANSWER_TOKENS, drop_prefix

REDIS_URL = os.environ.get("INTERLOCK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:  # pragma: no cover - the machine always has Redis
        pytest.fail(f"the tests need a real Redis at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    server = LlamaServer(log_dir=tmp_path_factory.mktemp("llama"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def embeddings() -> MiniLMEmbeddings:
    model = MiniLMEmbeddings()
    model.encode(["warm up"])
    return model


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    drop_prefix(redis_url, name)


@pytest.fixture
def settings(redis_url: str, prefix: str, llama: LlamaServer, tmp_path: Path) -> Settings:
    return Settings.load(
        redis_url=redis_url,
        redis_prefix=prefix,
        lancedb_uri=str(tmp_path / "lancedb"),
        data_dir=tmp_path / "data",
        small_model_urls=[llama.openai_url],
        large_model_urls=[llama.openai_url],
        max_answer_tokens=TEST_ANSWER_TOKENS,
    )


@pytest.fixture
async def agent(settings: Settings, embeddings: MiniLMEmbeddings) -> AsyncIterator[object]:
    from interlock.agent import Agent

    instance = await Agent.from_settings(settings, embeddings=embeddings)
    await instance.ensure_sample_knowledge()
    yield instance
    await instance.aclose()
