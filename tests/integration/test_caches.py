"""The exact (Redis) and semantic (LanceDB) response caches, against the real services."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio as aioredis

from interlock.memory.embeddings import MiniLMEmbeddings
from interlock.memory.response_cache import ResponseCache, cache_control
from interlock.memory.semantic_cache import SemanticCache
from interlock.state import Answer


def answer(text: str, *chunk_ids: str) -> Answer:
    return Answer(
        text=text,
        citations=[{"id": c, "source": "s.md", "title": "S"} for c in chunk_ids],
        from_cache=False,
    )


async def test_exact_cache_keys_on_context_expires_and_drops_entries_citing_a_chunk(
    redis_url: str, prefix: str
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    cache = ResponseCache(client, prefix=prefix, ttl_s=60)
    alone = cache.key("And in French?", tenant="t", context=[])
    after_a = cache.key("And in French?", tenant="t", context=["human: say hi"])
    assert alone != after_a != cache.key("And in French?", tenant="u", context=["human: say hi"])
    await cache.put(alone, answer("Bonjour", "c1", "c2"))
    await cache.put(after_a, answer("Salut", "c2"), ttl_s=1)
    assert (await cache.get(alone))["text"] == "Bonjour"  # type: ignore[index]
    assert (await cache.get(after_a))["from_cache"] is True  # type: ignore[index]
    assert 1 <= await client.ttl(f"{prefix}:cache:chunk:c2") <= 60  # the longest entry's
    await asyncio.sleep(1.2)
    assert await cache.get(after_a) is None, "per-request ttl"
    assert await cache.invalidate_chunks(["c9"]) == 0
    assert await cache.invalidate_chunks(["c1"]) == 1
    assert await cache.get(alone) is None
    await client.aclose()


def test_cache_control_comes_from_the_run_config() -> None:
    assert cache_control({"configurable": {"cache": {"no_cache": True}}}) == {"no_cache": True}
    assert cache_control({"configurable": {}}) == {} and cache_control(None) == {}


async def test_semantic_cache_hits_paraphrases_but_not_opposites(
    tmp_path: Path, embeddings: MiniLMEmbeddings
) -> None:
    cache = SemanticCache(str(tmp_path / "db"), embeddings, threshold=0.8, ttl_s=60)
    await cache.put(
        "How do I enable two-factor authentication?", answer("Settings > 2FA", "k1"), tenant="t"
    )
    await cache.put(
        "What is Redis used for in interlock?", answer("Short-term memory", "k2"), tenant="t"
    )
    hit = await cache.get("How can I turn on two-factor authentication?", tenant="t")
    assert hit is not None and hit.answer["text"] == "Settings > 2FA" and hit.answer["from_cache"]
    assert await cache.get("How do I disable two-factor authentication?", tenant="t") is None
    assert await cache.get("What is Redis not used for in interlock?", tenant="t") is None
    assert await cache.get("How can I turn on two-factor authentication?", tenant="other") is None
    assert await cache.invalidate_chunks(["k1"]) == 1
    assert await cache.get("How can I turn on two-factor authentication?", tenant="t") is None
    # Expiry.
    await cache.put("Which port does the API use?", answer("8000", "k3"), tenant="t", ttl_s=1)
    assert await cache.get("What port does the API use?", tenant="t") is not None
    await asyncio.sleep(1.1)
    assert await cache.get("What port does the API use?", tenant="t") is None
