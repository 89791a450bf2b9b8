"""An embedded Redis for machines where none answers at the configured URL.

It is a real ``redis-server`` child process, never an in-memory stand-in:
conversation state must behave exactly as it will in production. Data is
kept in an append-only file under the data folder so a restart of ``make
run`` keeps conversations.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from interlock.embedded.process import ChildProcess, free_port
from interlock.errors import ServiceUnavailable


def redis_answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


class RedisServer:
    def __init__(self, *, data_dir: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable(
                "redis",
                "no Redis answers and redis-server is not installed "
                "(apt-get install redis-server, or set INTERLOCK_REDIS_URL)",
            )
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(data_dir.resolve()),
            "--appendonly", "yes",
            "--save", "",
        ]  # fmt: skip
        self.process = ChildProcess("redis", argv, data_dir / "redis-server.log")

    def start(self, timeout_s: float = 30.0) -> None:
        self.process.start(lambda: redis_answers(self.url), timeout_s)

    def stop(self) -> None:
        self.process.stop()
