"""Start interlock itself as a real process, the way a user does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import redis

from interlock.embedded.process import free_port

# Answers capped shorter than the default 160 tokens: on two cores the small model's
# long answers were most of the suite's time (one ask fell from ~8 s to ~3 s). The tests
# of the shipped defaults (tests/e2e/test_cli.py's embedded stack) leave it alone.
TEST_ANSWER_TOKENS = 64


def interlock_env(
    redis_url: str, prefix: str, folder: Path, model_url: str, large_url: str | None = None
) -> dict[str, str]:
    """The INTERLOCK_* variables of a server on its own Redis prefix and LanceDB folder;
    both tiers on ``model_url`` unless ``large_url`` names the large one."""
    return {
        "INTERLOCK_REDIS_URL": redis_url,
        "INTERLOCK_REDIS_PREFIX": prefix,
        "INTERLOCK_LANCEDB_URI": str(folder / "lancedb"),
        "INTERLOCK_DATA_DIR": str(folder / "data"),
        "INTERLOCK_SMALL_MODEL_URLS": model_url,
        "INTERLOCK_LARGE_MODEL_URLS": large_url or model_url,
        "INTERLOCK_MAX_ANSWER_TOKENS": str(TEST_ANSWER_TOKENS),
    }


def drop_prefix(redis_url: str, prefix: str) -> None:
    """Delete every Redis key a test's servers wrote under ``prefix``."""
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


class ServerProcess:
    """``interlock serve`` in a subprocess with the given INTERLOCK_* environment."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        command: Sequence[str] = ("-m", "interlock.cli", "serve"),
    ) -> None:
        self.command = list(command)  # python's arguments; another module may serve the app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Auth off unless a test asks for keys (tests/e2e/test_auth.py does).
        self.env = {
            **os.environ,
            "INTERLOCK_AUTH": "off",
            **env,
            "INTERLOCK_PORT": str(self.port),
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120.0) -> ServerProcess:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, *self.command],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not up after {timeout_s}s:\n{self.log.read_text()}")

    def interrupt(self, timeout_s: float = 30.0) -> int:
        """Ctrl-C, as a user would press it; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=timeout_s)
        self.proc = None
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def children_of(pid: int) -> list[int]:
    """Direct child pids, read from /proc (no psutil needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
