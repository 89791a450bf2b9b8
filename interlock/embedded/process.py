"""A child service process that cannot outlive interlock.

The embedded stack starts real servers (llama-server, redis-server). Ctrl-C,
a crash or a ``kill -9`` of interlock must not leave them running: each child
gets its own process group (so a terminal's Ctrl-C reaches interlock first and
interlock stops the child in order) and, on Linux, ``PR_SET_PDEATHSIG`` so the
kernel kills it if interlock dies without cleaning up.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from interlock.errors import ServiceUnavailable


def free_port() -> int:
    """A free loopback TCP port (the OS picks it, so two stacks never collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    os.setsid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


class ChildProcess:
    """One started service: its command, its log file and a readiness check."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, ready: Callable[[], bool], timeout_s: float = 60.0) -> None:
        """Start and block until ``ready()`` is true, the process dies, or time runs out."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(  # noqa: S603 - argv built by interlock
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads have started yet
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
        raise ServiceUnavailable(self.name, f"not ready after {timeout_s:.0f}s; see {self.log_path}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL if it does not exit in time."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None
