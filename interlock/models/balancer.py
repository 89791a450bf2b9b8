"""Load-balancing strategies: in what order to try a tier's usable replicas.

Each strategy returns a preference order rather than one replica, so the
pool's failover simply walks the list. Unusable replicas (breaker open,
probe failing, cooling after a 429) are filtered out before a strategy
sees the list.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections.abc import Sequence
from typing import Literal, Protocol

from interlock.models.replica import Replica

StrategyName = Literal["round_robin", "least_connections", "weighted_response_time", "affinity"]


class Strategy(Protocol):
    def order(self, replicas: Sequence[Replica], key: str | None = None) -> list[Replica]: ...


class RoundRobin:
    def __init__(self) -> None:
        self._counter = itertools.count()

    def order(self, replicas: Sequence[Replica], key: str | None = None) -> list[Replica]:
        if not replicas:
            return []
        start = next(self._counter) % len(replicas)
        return [*replicas[start:], *replicas[:start]]


class LeastConnections:
    """Fewest calls in flight per unit of weight; ties broken round-robin."""

    def __init__(self) -> None:
        self._rr = RoundRobin()

    def order(self, replicas: Sequence[Replica], key: str | None = None) -> list[Replica]:
        rotated = self._rr.order(replicas)
        return sorted(rotated, key=lambda r: r.in_flight / r.weight)


class WeightedResponseTime:
    """Expected wait: EWMA latency scaled by the queue ahead, per unit of weight.

    A replica without a sample yet sorts first, so a new or recovered
    replica gets traffic and a measurement.
    """

    def __init__(self) -> None:
        self._rr = RoundRobin()

    def order(self, replicas: Sequence[Replica], key: str | None = None) -> list[Replica]:
        rotated = self._rr.order(replicas)

        def cost(r: Replica) -> float:
            latency = r.ewma_ttft_s if r.ewma_ttft_s is not None else r.ewma_latency_s
            if latency is None:
                return -1.0
            return latency * (1 + r.in_flight) / r.weight

        return sorted(rotated, key=cost)


class PrefixAffinity:
    """Consistent hashing on a conversation (or prompt prefix) key.

    The same thread keeps landing on the same replica, so vLLM's prefix cache
    holds its earlier turns; adding or losing a replica moves only that
    replica's share of keys. When the chosen replica is overloaded (more than
    ``overload_factor`` × the mean in-flight calls, plus slack) the least
    loaded replica goes first instead. Unusable replicas are already gone
    from the list, so their keys fall through to the next on the ring.
    """

    def __init__(self, virtual_nodes: int = 64, overload_factor: float = 2.0) -> None:
        self.virtual_nodes = virtual_nodes
        self.overload_factor = overload_factor
        self._least = LeastConnections()

    @staticmethod
    def _hash(value: str) -> int:
        return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")

    def order(self, replicas: Sequence[Replica], key: str | None = None) -> list[Replica]:
        if key is None or len(replicas) <= 1:
            return self._least.order(replicas)
        ring = sorted(
            (self._hash(f"{r.url}#{i}"), r)
            for r in replicas
            for i in range(max(1, round(self.virtual_nodes * r.weight)))
        )
        points = [p for p, _ in ring]
        start = bisect.bisect(points, self._hash(key)) % len(ring)
        ordered: list[Replica] = []
        for _, replica in itertools.chain(ring[start:], ring[:start]):
            if replica not in ordered:
                ordered.append(replica)
        mean = sum(r.in_flight for r in replicas) / len(replicas)
        if ordered[0].in_flight > self.overload_factor * mean + 2:
            return self._least.order(replicas)
        return ordered


def make_strategy(name: StrategyName) -> Strategy:
    strategies: dict[str, type[Strategy]] = {
        "round_robin": RoundRobin,
        "least_connections": LeastConnections,
        "weighted_response_time": WeightedResponseTime,
        "affinity": PrefixAffinity,
    }
    return strategies[name]()
