"""The embedding runtimes agree, the ask path needs no torch, and precision is recorded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import Assistant, Settings, StoreError
from rag.corpus import read_path
from rag.models import CHECKED_COSINE, Embedder, native_bf16
from rag.settings import BUNDLED_CORPUS
from tests.conftest import cli_env


@pytest.fixture(scope="module")
def abstracts() -> list[str]:
    return [f"title: {p.title}\n\n{p.abstract}" for p in read_path(BUNDLED_CORPUS, Settings()).papers]


def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)  # rows are normalised


def test_onnx_and_torch_runtimes_give_the_same_vectors(embedder: Embedder, abstracts: list[str], base_settings) -> None:  # type: ignore[no-untyped-def]
    onnx = embedder.encode(abstracts)  # the question runtime: ONNX, fp32
    bulk = embedder.encode(abstracts, bulk=True)  # the ingest runtime: torch (bfloat16 where the CPU has it)
    torch_fp32 = Embedder(base_settings(embed_backend="torch")).encode(abstracts)
    assert cos(onnx, torch_fp32).min() >= CHECKED_COSINE
    assert cos(bulk, torch_fp32).min() >= CHECKED_COSINE
    print(f"onnx vs torch min cosine {cos(onnx, torch_fp32).min():.6f}; bulk vs torch {cos(bulk, torch_fp32).min():.6f}")


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads the CPU flags Linux reports")
def test_bfloat16_only_where_the_cpu_has_it() -> None:
    """Ingest runs bf16 only on AVX512-BF16 or AMX: emulated (AVX512 alone) it embedded 50 texts/s against fp32's 162."""
    flags = set(Path("/proc/cpuinfo").read_text().split())
    assert native_bf16() == bool(flags & {"avx512_bf16", "amx_bf16"})


def test_int8_agrees_with_torch_and_keeps_recall(embedder: Embedder, abstracts: list[str], base_settings, tmp_path: Path,
                                                  assistant: Assistant) -> None:  # type: ignore[no-untyped-def]
    from evals.metrics import recall_at_k
    from evals.run import load_questions

    int8 = Embedder(base_settings(embed_quantize=True))
    c = cos(int8.encode(abstracts), Embedder(base_settings(embed_backend="torch")).encode(abstracts))
    assert c.min() >= 0.99, c.min()
    q8 = Assistant.open(base_settings(data_dir=tmp_path, embed_quantize=True), progress=False, embedder=int8)
    rows = [r for s in ("dev", "test") for r in load_questions(s) if r["answerable"] and not r["history"]]
    r32 = np.mean([recall_at_k([s.paper.id for s in assistant.retrieve(r["question"])], r["gold_paper_ids"], 5) for r in rows])
    r8 = np.mean([recall_at_k([s.paper.id for s in q8.retrieve(r["question"])], r["gold_paper_ids"], 5) for r in rows])
    print(f"int8 min cosine {c.min():.4f}; recall@5 fp32 {r32:.3f}, int8 {r8:.3f}")
    assert abs(r8 - r32) <= 0.01
    with pytest.raises(StoreError, match="rag_embed_precision"):  # int8 vectors never join an fp32 collection
        Assistant.open(assistant.settings.model_copy(update={"embed_quantize": True}), progress=False, embedder=int8)


def test_the_ask_path_imports_no_torch(assistant: Assistant, model_cache: Path) -> None:
    code = ("import sys\nfrom rag.cli import main\nrc = main(['ask', '--json', 'What is SequenceMatch?'])\n"
            "heavy = sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules)\n"
            "print('HEAVY', heavy, file=sys.stderr)\nsys.exit(rc)\n")
    out = subprocess.run([sys.executable, "-c", code], env=cli_env(assistant.settings.data_dir, model_cache),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "HEAVY []" in out.stderr, out.stderr[-500:]
