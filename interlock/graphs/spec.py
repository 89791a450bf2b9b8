"""Where a served graph comes from: ``"path/to/file.py:attr"`` or ``"package.module:attr"``.

The syntax is langgraph.json's ``graphs`` entries, so a project written for
the LangGraph server declares its graphs here unchanged. Parsing is kept
apart from loading (``interlock.graphs.registry``) so settings can reject a
malformed entry at start without importing anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# The id the default agent graph is served under (assistant "agent").
AGENT_GRAPH_ID = "agent"
GRAPH_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_ATTR = re.compile(r"^[A-Za-z_]\w*$")


@dataclass(frozen=True)
class GraphSpec:
    """A parsed entry: a Python file or an importable module, and the attribute in it."""

    kind: Literal["file", "module"]
    target: str
    attr: str

    def __str__(self) -> str:
        return f"{self.target}:{self.attr}"


def parse_graph_spec(text: str) -> GraphSpec:
    """Parse one entry; ValueError says what is wrong with it."""
    target, sep, attr = text.strip().rpartition(":")
    if not sep or not target or not _ATTR.match(attr):
        raise ValueError(
            f"{text!r} is not 'path/to/file.py:attr' or 'package.module:attr' "
            "(the attribute after the last ':' must be a Python name)"
        )
    if target.endswith(".py") or "/" in target or "\\" in target:
        return GraphSpec("file", target, attr)
    if not _MODULE.match(target):
        raise ValueError(f"{text!r}: {target!r} is neither a .py file nor a dotted module name")
    return GraphSpec("module", target, attr)
