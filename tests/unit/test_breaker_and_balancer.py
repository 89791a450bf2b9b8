"""Circuit breaker transitions and balancing strategies, on a fake clock (pure logic)."""

from __future__ import annotations

from collections import Counter

import pytest

from interlock.models.balancer import (
    LeastConnections,
    PrefixAffinity,
    RoundRobin,
    WeightedResponseTime,
)
from interlock.models.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from interlock.models.replica import Replica


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_on_consecutive_failures_then_half_opens_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=3, cooldown_s=5), clock)
    for _ in range(2):
        breaker.failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.failure()
    assert breaker.state is BreakerState.OPEN and not breaker.acquire()
    clock.now = 5.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.acquire()  # the one probe slot
    assert not breaker.acquire()  # no second probe while the first is out
    breaker.success()
    assert breaker.state is BreakerState.CLOSED and breaker.acquire()
    assert [t[1] for t in breaker.transitions] == ["open", "half_open", "closed"]


def test_a_failed_probe_reopens_for_another_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=1, cooldown_s=5), clock)
    breaker.failure()
    clock.now = 5.0
    assert breaker.acquire()
    breaker.failure()
    assert breaker.state is BreakerState.OPEN
    clock.now = 9.0
    assert breaker.state is BreakerState.OPEN
    clock.now = 10.0
    assert breaker.state is BreakerState.HALF_OPEN


def test_error_rate_over_the_window_opens_without_consecutive_failures() -> None:
    clock = Clock()
    policy = BreakerPolicy(failure_threshold=100, error_rate_threshold=0.5, min_calls_in_window=10)
    breaker = CircuitBreaker(policy, clock)
    for i in range(10):
        clock.now = i
        breaker.failure() if i % 2 else breaker.success()
    assert breaker.state is BreakerState.OPEN


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        BreakerPolicy(failure_threshold=0)
    with pytest.raises(ValueError):
        BreakerPolicy(error_rate_threshold=1.5)


def replicas(n: int) -> list[Replica]:
    return [Replica(url=f"http://r{i}/v1") for i in range(n)]


def test_round_robin_is_even() -> None:
    pool, rr = replicas(3), RoundRobin()
    firsts = Counter(rr.order(pool)[0].url for _ in range(300))
    assert set(firsts.values()) == {100}


def test_least_connections_favours_the_idle_replica() -> None:
    pool = replicas(3)
    pool[0].in_flight, pool[1].in_flight, pool[2].in_flight = 5, 0, 3
    assert LeastConnections().order(pool)[0].url == "http://r1/v1"
    pool[1].weight = 0.1  # a small replica: 0 in flight is still the least
    pool[1].in_flight = 1  # now 1/0.1 = 10 per unit of weight
    assert LeastConnections().order(pool)[0].url == "http://r2/v1"


def test_weighted_response_time_moves_away_from_a_slow_replica() -> None:
    pool, wrt = replicas(3), WeightedResponseTime()
    for r in pool:
        r.record_success(0.1)
    for _ in range(5):
        pool[0].record_success(0.5)  # 5x slower
    firsts = Counter(wrt.order(pool)[0].url for _ in range(30))
    assert firsts["http://r0/v1"] == 0
    fresh = Replica(url="http://new/v1")  # unmeasured replicas get tried first
    assert wrt.order([*pool, fresh])[0] is fresh


def test_affinity_is_sticky_spreads_keys_and_falls_back_when_overloaded() -> None:
    pool, affinity = replicas(3), PrefixAffinity()
    assert len({affinity.order(pool, "thread-42")[0].url for _ in range(20)}) == 1
    spread = Counter(affinity.order(pool, f"thread-{i}")[0].url for i in range(600))
    assert len(spread) == 3 and min(spread.values()) > 100
    home = affinity.order(pool, "thread-42")[0]
    survivors = [r for r in pool if r is not home]  # its replica is gone (breaker open)
    moved = affinity.order(survivors, "thread-42")[0]
    assert moved in survivors
    other_keys = [f"thread-{i}" for i in range(200)]
    before = {k: affinity.order(pool, k)[0].url for k in other_keys}
    after = {k: affinity.order(survivors, k)[0].url for k in other_keys}
    moved_keys = [k for k in other_keys if before[k] != after[k]]
    assert all(before[k] == home.url for k in moved_keys)  # only the lost replica's keys move
    home.in_flight = 50  # overloaded: least loaded first instead
    assert affinity.order(pool, "thread-42")[0] is not home
