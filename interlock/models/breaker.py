"""A circuit breaker per replica: stop sending traffic to a replica that is failing.

closed ─(N consecutive failures, or error rate over the window)─▶ open
open ─(cool-down elapsed)─▶ half-open: a few probe calls go through
half-open ─(probe succeeds)─▶ closed;  half-open ─(probe fails)─▶ open again

Written here rather than taken from a library (pybreaker, aiobreaker):
those wrap a function call and count exceptions, while the pool needs to
ask "may I use this replica?" *before* choosing it, to hold probe slots in
half-open, and to feed in outcomes that are not exceptions (a 429, a
timeout recorded by the health probe).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 3
    error_rate_threshold: float = 0.5
    window_s: float = 30.0
    min_calls_in_window: int = 10
    cooldown_s: float = 5.0
    half_open_probes: int = 1

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.half_open_probes < 1:
            raise ValueError("breaker thresholds must be at least 1")
        if not 0 < self.error_rate_threshold <= 1:
            raise ValueError("breaker error rate threshold must be in (0, 1]")
        if self.window_s <= 0 or self.cooldown_s < 0:
            raise ValueError("breaker window must be positive and cool-down not negative")


class CircuitBreaker:
    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._consecutive = 0
        self._calls: deque[tuple[float, bool]] = deque()  # (time, failed)
        self._probes = 0
        self.transitions: list[tuple[BreakerState, BreakerState]] = []

    @property
    def state(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.policy.cooldown_s
        ):
            self._move(BreakerState.HALF_OPEN)
            self._probes = 0
        return self._state

    def available(self) -> bool:
        """Could a call go through now (without reserving it)?"""
        state = self.state
        return state is BreakerState.CLOSED or (
            state is BreakerState.HALF_OPEN and self._probes < self.policy.half_open_probes
        )

    def acquire(self) -> bool:
        """Reserve a call; in half-open this takes one of the few probe slots."""
        if not self.available():
            return False
        if self._state is BreakerState.HALF_OPEN:
            self._probes += 1
        return True

    def success(self) -> None:
        self._record(failed=False)
        self._consecutive = 0
        if self._state is BreakerState.HALF_OPEN:
            self._move(BreakerState.CLOSED)
            self._calls.clear()

    def failure(self) -> None:
        self._record(failed=True)
        self._consecutive += 1
        if self._state is BreakerState.HALF_OPEN:
            self._open()
            return
        if self._state is BreakerState.CLOSED and self._tripped():
            self._open()

    def _tripped(self) -> bool:
        if self._consecutive >= self.policy.failure_threshold:
            return True
        if len(self._calls) < self.policy.min_calls_in_window:
            return False
        failed = sum(1 for _, f in self._calls if f)
        return failed / len(self._calls) >= self.policy.error_rate_threshold

    def _record(self, failed: bool) -> None:
        now = self._clock()
        self._calls.append((now, failed))
        while self._calls and now - self._calls[0][0] > self.policy.window_s:
            self._calls.popleft()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._probes = 0
        self._move(BreakerState.OPEN)

    def _move(self, state: BreakerState) -> None:
        if state is not self._state:
            self.transitions.append((self._state, state))
            self._state = state
