"""The embeddings' LRU: a short text is encoded once, a long one every time, vectors unchanged."""

from __future__ import annotations

import numpy as np

from interlock.memory.embeddings import MiniLMEmbeddings


def test_short_texts_are_encoded_once_and_long_ones_pass_through() -> None:
    embeddings = MiniLMEmbeddings(cache_size=2, cache_max_chars=50)
    calls: list[list[str]] = []
    original = embeddings._encode
    embeddings._encode = lambda texts: calls.append(list(texts)) or original(texts)  # type: ignore[method-assign]
    long = "A chunk being ingested is longer than the cache's limit. " * 2
    first = embeddings.encode(["What is interlock?", long])
    again = embeddings.encode(["What is interlock?", long, "What is interlock?"])
    assert calls == [["What is interlock?", long], [long]]
    assert np.array_equal(first[0], again[0]) and np.array_equal(again[0], again[2])
    assert np.allclose(first[1], again[1], atol=1e-6)
    embeddings.encode(["a", "b", "c"])  # evicts the oldest beyond two entries
    embeddings.encode(["What is interlock?"])
    assert calls[-1] == ["What is interlock?"]
