"""The embedded stack starts real services only when needed, and stops them."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from interlock.config import Settings
from interlock.embedded import stack as stack_module
from interlock.embedded.redis_server import RedisServer, redis_answers
from interlock.embedded.stack import EmbeddedStack
from tests.e2e.servers import alive


def test_embedded_redis_is_a_real_server_that_keeps_data_across_restarts(tmp_path: Path) -> None:
    server = RedisServer(data_dir=tmp_path)
    server.start()
    pid = server.process.pid
    assert pid is not None
    client = redis.Redis.from_url(server.url)
    client.set("k", "v")
    client.close()
    server.stop()
    assert not alive(pid) and not redis_answers(server.url)
    again = RedisServer(data_dir=tmp_path, port=server.port)
    again.start()
    client = redis.Redis.from_url(again.url)
    assert client.get("k") == b"v"  # append-only file: a restart keeps conversations
    client.close()
    again.stop()


def test_stack_starts_redis_only_when_none_answers_and_none_was_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = {
        "small_model_urls": ["http://127.0.0.1:1/v1"],
        "large_model_urls": ["http://127.0.0.1:1/v1"],
    }
    with EmbeddedStack(Settings.load(data_dir=tmp_path, **urls)) as live:
        assert live.redis_url == "redis://127.0.0.1:6379/0"  # the machine's Redis answers
    monkeypatch.setattr(stack_module, "redis_answers", lambda url: False)
    stack = EmbeddedStack(Settings.load(data_dir=tmp_path, **urls))
    with stack as live:
        assert live.redis_url != "redis://127.0.0.1:6379/0"
        assert redis_answers(live.redis_url)
        assert stack.model_server is None  # model URLs were configured
        pid = stack.redis_server.process.pid if stack.redis_server else None
    assert pid is not None and not alive(pid)
    configured = Settings.load(data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0", **urls)
    with EmbeddedStack(configured) as live:
        assert live.redis_url == "redis://127.0.0.1:1/0"  # a configured URL is never replaced
