"""The semantic cache's guard: similar wording, different meaning → no hit."""

from __future__ import annotations

import pytest

from interlock.memory.cache_guard import CacheGuard

GUARD = CacheGuard()


@pytest.mark.parametrize(
    ("new", "cached"),
    [
        ("How do I enable 2FA?", "How do I disable 2FA?"),
        ("What is X not used for?", "What is X used for?"),
        ("Which port does the API use, 8000?", "Which port does the API use, 8080?"),
        ("How do I upgrade to v2?", "How do I upgrade to v3?"),
        ("Can I delete a thread?", "Can't I delete a thread?"),
        ("How to increase the cache TTL?", "How to decrease the cache TTL?"),
        ("What happens before a run?", "What happens after a run?"),
        ("Who maintains LanceDB?", "What is LanceDB used for?"),
        ("What does INTERLOCK_PORT set?", "What does INTERLOCK_HOST set?"),
    ],
)
def test_different_meanings_are_refused(new: str, cached: str) -> None:
    assert not GUARD.check(new, cached).ok


@pytest.mark.parametrize(
    ("new", "cached"),
    [
        ("How do I enable 2FA?", "how can i enable 2FA"),
        ("Which port does the API listen on?", "What port does the API listen on?"),
        ("What is Redis used for?", "What is Redis used for in practice?"),
    ],
)
def test_paraphrases_pass(new: str, cached: str) -> None:
    assert GUARD.check(new, cached).ok
