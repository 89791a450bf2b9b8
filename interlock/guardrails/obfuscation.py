"""Undo the cheap disguises attacks wear, so the patterns and the classifier see plain words.

Leetspeak ("1gn0re"), letters split by separators ("I-g-n-o-r-e",
"i g n o r e") and instructions packed in base64 or hex read as noise to a
regular expression and to an embedding model alike. :func:`reveal` returns
the message with a plain-text reading appended when it found one; the
original stays first, so a benign message is scored as itself.

Deliberately conservative: leetspeak is undone only in tokens that mix
letters and digits ("v2", "3rd" stay), decoded base64/hex is kept only when
it is mostly printable words, so version numbers, ports, hashes and ids pass
through untouched.
"""

from __future__ import annotations

import base64
import binascii
import re

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_MIXED = re.compile(r"\b(?=[\w@$]*[A-Za-z])(?=[\w@$]*[013457@$])[\w@$]{4,15}\b")
# Single letters joined by one repeated separator: "I-g-n-o-r-e", "i.g.n.o.r.e", "I G N O R E".
_SPLIT = re.compile(r"\b(?:[A-Za-z]([-. _*])){3,}[A-Za-z]\b")
_BASE64 = re.compile(r"\b[A-Za-z0-9+/]{16,}={0,2}")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}){5,}\b")
_WORDS = re.compile(r"[A-Za-z]{2,}")


def _readable(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(ch.isprintable() for ch in text) / max(len(text), 1)
    letters = sum(len(w) for w in _WORDS.findall(text)) / max(len(text), 1)
    return text if printable > 0.95 and letters > 0.6 and " " in text.strip() else None


def _decoded(text: str) -> list[str]:
    found: list[str] = []
    for token in _BASE64.findall(text):
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        if (plain := _readable(raw)) is not None:
            found.append(plain)
    for token in _HEX.findall(text):
        if (plain := _readable(bytes.fromhex(token))) is not None:
            found.append(plain)
    return found


def _joined(match: re.Match[str]) -> str:
    return match.group(0).replace(match.group(1), "")


def readings(text: str) -> list[str]:
    """``text`` first, then a plain reading of each disguised part found (often none)."""
    plain = _SPLIT.sub(_joined, text)
    plain = _MIXED.sub(lambda m: m.group(0).translate(_LEET), plain)
    return [text, *([plain] if plain != text else []), *_decoded(text)]


def reveal(text: str) -> str:
    """All readings in one text, for pattern matching."""
    return "\n".join(readings(text))
