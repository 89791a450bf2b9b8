"""When two similar questions must still not share an answer.

Embeddings place "how do I enable 2FA" and "how do I disable 2FA" almost on
top of each other (cosine ≈ 0.9 with MiniLM): they share every word but
the one that flips the meaning. A semantic cache that trusts similarity
alone serves the wrong answer there, which is worse than no cache. So a
hit must also pass these checks, each cheap and explainable:

1. Polarity: the same count of negations ("not", "no", "never", "n't",
   "without", "cannot"…) on both sides, modulo two.
2. Opposites: no word of one question whose opposite (a curated list of
   antonym pairs common in technical questions) is in the other.
3. Specifics: the same numbers, versions, quoted strings and identifiers
   (CamelCase, snake_case, dotted.names, ALL-CAPS); "port 8000" is not
   "port 8080", "v1" is not "v2".
4. Question type: "who", "when", "where", "why" and "how many/much" ask
   for different kinds of answer; both sides must ask the same kind (the
   generic "what/which/how" matches only itself).
5. Content: a word that appears in only one of the two questions and is
   not a stopword or a known paraphrase filler must be explained by the
   other side — both questions' remaining content words must overlap by a
   share (``min_overlap``), so "what is X used for" does not match "who
   maintains X".

The rules err towards a miss: a miss costs one model call, a false hit
serves a wrong answer. benchmarks/semantic_cache.py measures both rates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'.-]*|\d+(?:\.\d+)*")
_SPECIFIC = re.compile(
    r"\"[^\"]+\"|'[^']+'|`[^`]+`"  # quoted
    r"|\bv?\d+(?:\.\d+)*[a-z]*\b"  # numbers and versions: 8000, 2.1, v2, 3rd
    r"|\b[A-Z]{2,}[0-9]*\b"  # acronyms: TLS, S3, HTTP2
    r"|\b[A-Za-z]+_[A-Za-z0-9_]+\b"  # snake_case, ENV_VARS
    r"|\b[a-z]+[A-Z][A-Za-z0-9]*\b|\b[A-Z][a-z]+[A-Z][A-Za-z0-9]*\b"  # camelCase, CamelCase
    r"|\b\w+\.\w+(?:\.\w+)*\b"  # dotted.names, file.ext
)


def _wordlist(text: str) -> frozenset[str]:
    return frozenset(text.split())


NEGATIONS = _wordlist(
    "not no never none nobody nothing neither nor without cannot cant can't don't doesn't "
    "didn't isn't aren't wasn't weren't won't wouldn't shouldn't couldn't mustn't hasn't "
    "haven't hadn't n't unless except"
)
_OPPOSITES = [
    ("enable", "disable"),
    ("enabled", "disabled"),
    ("allow", "deny"),
    ("allow", "block"),
    ("allowed", "forbidden"),
    ("allowed", "denied"),
    ("increase", "decrease"),
    ("increase", "reduce"),
    ("raise", "lower"),
    ("more", "less"),
    ("more", "fewer"),
    ("max", "min"),
    ("maximum", "minimum"),
    ("higher", "lower"),
    ("high", "low"),
    ("before", "after"),
    ("start", "stop"),
    ("begin", "end"),
    ("first", "last"),
    ("add", "remove"),
    ("add", "delete"),
    ("create", "delete"),
    ("create", "destroy"),
    ("insert", "delete"),
    ("install", "uninstall"),
    ("upload", "download"),
    ("import", "export"),
    ("encrypt", "decrypt"),
    ("encode", "decode"),
    ("include", "exclude"),
    ("open", "close"),
    ("on", "off"),
    ("true", "false"),
    ("yes", "no"),
    ("inside", "outside"),
    ("internal", "external"),
    ("above", "below"),
    ("over", "under"),
    ("lock", "unlock"),
    ("connect", "disconnect"),
    ("show", "hide"),
    ("accept", "reject"),
    ("success", "failure"),
    ("succeed", "fail"),
    ("input", "output"),
    ("read", "write"),
    ("public", "private"),
    ("sync", "async"),
    ("synchronous", "asynchronous"),
    ("online", "offline"),
    ("login", "logout"),
    ("subscribe", "unsubscribe"),
    ("grant", "revoke"),
    ("push", "pull"),
    ("send", "receive"),
    ("client", "server"),
    ("small", "large"),
    ("smaller", "larger"),
    ("fast", "slow"),
    ("faster", "slower"),
    ("new", "old"),
    ("newer", "older"),
    ("latest", "oldest"),
    ("upgrade", "downgrade"),
    ("inbound", "outbound"),
    ("ingress", "egress"),
    ("valid", "invalid"),
    ("safe", "unsafe"),
    ("supported", "unsupported"),
    ("required", "optional"),
    ("mandatory", "optional"),
    ("always", "never"),
    ("all", "none"),
    ("include", "omit"),
    ("pass", "fail"),
    ("win", "lose"),
    ("buy", "sell"),
    ("import", "export"),
    ("left", "right"),
    ("up", "down"),
    ("north", "south"),
    ("east", "west"),
    ("day", "night"),
    ("cold", "warm"),
    ("hot", "cold"),
    ("empty", "full"),
    ("expand", "collapse"),
    ("attach", "detach"),
    ("mount", "unmount"),
    ("freeze", "unfreeze"),
    ("pause", "resume"),
    ("hard", "easy"),
    ("advantages", "disadvantages"),
    ("pros", "cons"),
    ("benefit", "drawback"),
    ("strengths", "weaknesses"),
    ("cheap", "expensive"),
    ("cheaper", "pricier"),
]
OPPOSITE: dict[str, set[str]] = {}

STOPWORDS = _wordlist(
    "a an the is are was were be been being am do does did doing to of in on at by for with "
    "from as into about than then so and or but if it its it's this that these those there "
    "here what which who whom whose when where why how i me my we our you your he she they "
    "them their his her can could should would will shall may might must have has had "
    "please tell explain describe give show me us just really actually exactly some any "
    "one way ways thing things work works working use used using get gets getting make "
    "does mean means meaning best good kind sort"
)


def _words(text: str) -> list[str]:
    return [w.strip(".'-").lower() for w in _WORD.findall(text)]


def _question_kind(words: list[str]) -> str:
    for i, word in enumerate(words):
        if word == "how" and i + 1 < len(words) and words[i + 1] in ("many", "much", "long"):
            return f"how {words[i + 1]}"
        if word in ("who", "whom", "whose"):
            return "who"
        if word in ("when", "where", "why"):
            return word
    return "generic"


def _negations(words: list[str]) -> int:
    return sum(1 for w in words if w in NEGATIONS or w.endswith("n't"))


def negation_count(text: str) -> int:
    """How many negating words a text has (its parity says whether it negates)."""
    return _negations(_words(text))


def specifics(text: str) -> set[str]:
    return {m.strip("\"'`").lower() for m in _SPECIFIC.findall(text)}


def _stem(word: str) -> str:
    """Crude suffix stripping, enough to meet "include", "included", "includes"."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


for _a, _b in _OPPOSITES:  # by stem, so "included" meets "excluded"
    OPPOSITE.setdefault(_stem(_a), set()).add(_stem(_b))
    OPPOSITE.setdefault(_stem(_b), set()).add(_stem(_a))


@dataclass(frozen=True)
class GuardVerdict:
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class CacheGuard:
    """Decides whether a cached question may answer a new, similar one."""

    min_overlap: float = 0.5

    def check(self, new: str, cached: str) -> GuardVerdict:
        a, b = _words(new), _words(cached)
        if _negations(a) % 2 != _negations(b) % 2:
            return GuardVerdict(False, "negation differs")
        set_a, set_b = {_stem(w) for w in a}, {_stem(w) for w in b}
        for word in set_a - set_b:
            if OPPOSITE.get(word, set()) & (set_b - set_a):
                return GuardVerdict(False, f"opposites: {word!r}")
        if specifics(new) != specifics(cached):
            return GuardVerdict(False, "numbers, names or versions differ")
        if _question_kind(a) != _question_kind(b):
            return GuardVerdict(False, "asks for a different kind of answer")
        content_a = {_stem(w) for w in a if w not in STOPWORDS and w not in NEGATIONS}
        content_b = {_stem(w) for w in b if w not in STOPWORDS and w not in NEGATIONS}
        if content_a or content_b:
            overlap = len(content_a & content_b) / max(len(content_a), len(content_b))
            if overlap < self.min_overlap:
                return GuardVerdict(False, f"content overlap {overlap:.2f}")
        return GuardVerdict(True)
