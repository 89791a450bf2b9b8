"""One model server behind a tier: its client, its load and its health.

The numbers kept here are what the balancing strategies read: calls in
flight (least connections), an exponentially weighted moving average of
latency and time to first token (weighted response time), and the
breaker's verdict plus the active probe's (is it usable at all).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from interlock.models.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from interlock.state import Usage

EWMA_ALPHA = 0.3  # weight of the newest sample: reacts within a handful of calls


@dataclass
class Replica:
    url: str
    weight: float = 1.0
    breaker: CircuitBreaker = field(default_factory=lambda: CircuitBreaker(BreakerPolicy()))
    in_flight: int = 0
    ewma_latency_s: float | None = None
    ewma_ttft_s: float | None = None
    probe_ok: bool = True
    cooling_until: float = 0.0  # set from a 429's Retry-After
    probe_note: str = ""  # why the last probe failed, or what it noticed
    served: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0

    @property
    def base_url(self) -> str:
        """The server root (``/health``, ``/metrics``), without the ``/v1`` API prefix."""
        return self.url.removesuffix("/v1")

    def usable(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return self.probe_ok and now >= self.cooling_until and self.breaker.available()

    def record_success(self, latency_s: float, ttft_s: float | None = None) -> None:
        self.served += 1
        self.breaker.success()
        self.ewma_latency_s = _ewma(self.ewma_latency_s, latency_s)
        if ttft_s is not None:
            self.ewma_ttft_s = _ewma(self.ewma_ttft_s, ttft_s)

    def record_usage(self, usage: Usage) -> None:
        self.input_tokens += usage["input_tokens"]
        self.output_tokens += usage["output_tokens"]
        self.cost += usage["cost"]

    def record_failure(self, latency_s: float | None = None) -> None:
        self.failed += 1
        self.breaker.failure()
        if latency_s is not None:  # a timeout is evidence of slowness too
            self.ewma_latency_s = _ewma(self.ewma_latency_s, latency_s)

    @property
    def state(self) -> BreakerState:
        return self.breaker.state


def _ewma(current: float | None, sample: float) -> float:
    return sample if current is None else EWMA_ALPHA * sample + (1 - EWMA_ALPHA) * current
