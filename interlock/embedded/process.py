"""A child service process that cannot outlive interlock.

The embedded stack starts real servers (llama-server, redis-server). Ctrl-C,
a crash or a ``kill -9`` of interlock must not leave them running: each child
gets its own session (so a terminal's Ctrl-C reaches interlock first and
interlock stops the child in order) and, on Linux, a parent-death signal so
the kernel kills it if interlock dies without cleaning up.

The parent-death signal is set by util-linux's ``setpriv --pdeathsig``
rather than a Python ``preexec_fn``: a ``preexec_fn`` forces a full Python
fork, which is unsafe once LanceDB's and torch's threads exist (LanceDB warns
of deadlocks), while ``setpriv`` lets subprocess use its plain fork-exec.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from interlock.errors import ServiceUnavailable


def free_port() -> int:
    """A free loopback TCP port (the OS picks it, so two stacks never collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_parent_death_signal(argv: Sequence[str]) -> list[str]:
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else list(argv)


class ChildProcess:
    """One started service: its command, its log file and a readiness check."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, ready: Callable[[], bool], timeout_s: float = 60.0) -> None:
        """Start and block until ``ready()`` is true, the process dies, or time runs out."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            _with_parent_death_signal(self.argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServiceUnavailable(
                    self.name,
                    f"exited with code {self._proc.returncode} at start; see {self.log_path}",
                )
            if ready():
                return
            time.sleep(0.1)
        self.stop()
        raise ServiceUnavailable(
            self.name, f"not ready after {timeout_s:.0f}s; see {self.log_path}"
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL if it does not exit in time."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the process group now: a crash, as a test or benchmark needs one."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
