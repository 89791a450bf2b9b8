"""How every LanceDB connection of interlock is opened.

API replicas share one LanceDB folder (or bucket). LanceDB's default is to
never look for versions written by another process after a table is opened,
so a document ingested through one replica stayed invisible to the others
until they restarted. A zero interval checks for a newer version on every
read: a cheap metadata read on a local or network disk; on an object store
it is one LIST per query, the price of every replica answering from the
same knowledge and memories.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import lancedb

READ_CONSISTENCY = timedelta(0)


def connect(uri: str | Path) -> lancedb.DBConnection:
    return lancedb.connect(uri, read_consistency_interval=READ_CONSISTENCY)


async def connect_async(uri: str | Path) -> lancedb.AsyncConnection:
    return await lancedb.connect_async(uri, read_consistency_interval=READ_CONSISTENCY)
