"""Trace ids: one per run, derived from the run id, and told to whoever serves the request.

The id is what Langfuse's ``create_trace_id(seed=run_id)`` returns (the first
16 bytes of the SHA-256 of the run id, in hex), computed here so that every
response can carry it whether or not Langfuse is configured, and so that a run
id alone finds its trace in Langfuse and in the local trace log.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

TRACE_HEADER = "x-interlock-trace-id"
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")

# A request's list of the trace ids its runs opened. A list, not a value: the run
# is prepared in a context copied from the request's, and a copy sees the same list.
_announced: ContextVar[list[str] | None] = ContextVar("interlock_trace_ids", default=None)


def trace_id_for(run_id: str) -> str:
    """The 32-hex-digit trace id of a run (W3C and Langfuse format)."""
    return hashlib.sha256(run_id.encode("utf-8")).digest()[:16].hex()


def as_trace_id(id_: str) -> str:
    """A trace id as given, or the trace id of a run id (what a user may paste in)."""
    return id_ if TRACE_ID.match(id_) else trace_id_for(id_)


@contextmanager
def collect_trace_ids() -> Iterator[list[str]]:
    """Collect the trace ids of the runs started inside (the server's middleware uses it to
    set ``x-interlock-trace-id`` on every response that ran a graph)."""
    ids: list[str] = []
    token = _announced.set(ids)
    try:
        yield ids
    finally:
        _announced.reset(token)


def announce(trace_id: str) -> None:
    ids = _announced.get()
    if ids is not None:
        ids.append(trace_id)
