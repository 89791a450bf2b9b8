"""Undo the cheap disguises attacks wear, so the patterns and the classifier see plain words.

Leetspeak ("1gn0re"), letters split by separators ("I-g-n-o-r-e",
"i g n o r e", "以 前 の 指 示"), full-width letters ("ｉｇｎｏｒｅ"),
look-alike letters from other scripts ("іgnоrе" with Cyrillic і, о, е),
zero-width characters inside words and instructions packed in base64 or hex
read as noise to a regular expression and to an embedding model alike.
:func:`readings` returns the message and a plain-text reading of each
disguise it found; the original stays first, so a benign message is scored
as itself.

Deliberately conservative: leetspeak is undone only in tokens that mix
letters and digits ("v2", "3rd" stay), decoded base64/hex is kept only when
it is mostly printable words, so version numbers, ports, hashes and ids pass
through untouched, and look-alike letters are mapped only in words that mix
scripts, so Russian or Greek text stays as written.
"""

from __future__ import annotations

import base64
import binascii
import re

from confusable_homoglyphs import confusables

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
# ASCII \w: in "キャンペーンは12月" the digits belong to Japanese, not to a disguise.
_MIXED = re.compile(r"\b(?=[\w@$]*[A-Za-z])(?=[\w@$]*[013457@$])[\w@$]{4,15}\b", re.ASCII)
# Single letters joined by one repeated separator: "I-g-n-o-r-e", "i.g.n.o.r.e", "I G N O R E".
_SPLIT = re.compile(r"\b(?:[A-Za-z]([-. _*])){3,}[A-Za-z]\b")
_BASE64 = re.compile(r"\b[A-Za-z0-9+/]{16,}={0,2}")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}){5,}\b")
_WORDS = re.compile(r"[A-Za-z]{2,}")
# Invisible characters with no business inside a Latin word. ZWNJ/ZWJ are
# only removed between ASCII letters: Persian and Indic text needs them.
_INVISIBLE = re.compile(r"[\u200b\u2060\ufeff\u00ad]|(?<=[A-Za-z])[\u200c\u200d]+(?=[A-Za-z])")
# Full-width ASCII ("ｉｇｎｏｒｅ　ｔｈｅ　ｒｕｌｅｓ") to ASCII; NFKC would do it but would also
# rewrite ellipses, ligatures and non-breaking spaces, giving most messages a second reading.
_FULL_WIDTH: dict[int, str | int] = {0x3000: " ", **{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}}
# Chinese or Japanese characters one by one between spaces: "以 前 の 指 示 を 無 視".
_CJK = r"[\u3040-\u30ff\u4e00-\u9fff]"
_SPLIT_CJK = re.compile(rf"(?:{_CJK} ){{3,}}{_CJK}")
_NON_ASCII_WORD = re.compile(r"\w*[^\x00-\x7f]\w*")
_ASCII_LETTER = re.compile(r"[A-Za-z]")


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


def _latin(match: re.Match[str]) -> str:
    """A word that mixes Latin letters with look-alikes from another script, in Latin.

    Unicode's confusables table (via confusable-homoglyphs) knows which letter
    each look-alike imitates. Only letters of other scripts are replaced, and
    only by an ASCII letter of the same case, so digits and punctuation, and
    "и" (which resembles a small-capital N, no ASCII letter), stay as written.
    """
    word = match.group(0)
    if not _ASCII_LETTER.search(word) or not confusables.is_dangerous(
        word, preferred_aliases=["latin"]
    ):
        return word
    for hit in confusables.is_confusable(word, greedy=True, preferred_aliases=["latin"]) or []:
        char = hit["character"]
        if hit["alias"] == "COMMON" or not char.isalpha():
            continue
        twins = [h["c"] for h in hit["homoglyphs"] if len(h["c"]) == 1 and h["c"].isascii()]
        # The table files capital I under its prototype "l" (I, l and 1 look alike).
        twins = ["I" if char.isupper() and t == "l" else t for t in twins]
        twins = [t for t in twins if t.isalpha() and t.isupper() == char.isupper()]
        if twins:
            word = word.replace(char, twins[0])
    return word


def _joined(match: re.Match[str]) -> str:
    return match.group(0).replace(match.group(1), "")


def readings(text: str) -> list[str]:
    """``text`` first, then a plain reading of each disguised part found (often none)."""
    plain = _INVISIBLE.sub("", text).translate(_FULL_WIDTH)
    plain = _SPLIT_CJK.sub(lambda m: m.group(0).replace(" ", ""), plain)
    plain = _NON_ASCII_WORD.sub(_latin, plain)
    plain = _SPLIT.sub(_joined, plain)
    plain = _MIXED.sub(lambda m: m.group(0).translate(_LEET), plain)
    return [text, *([plain] if plain != text else []), *_decoded(text)]
