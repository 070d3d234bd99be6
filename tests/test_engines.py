"""The generative engines, for real: llama.cpp with the bundled Gemma 3 270M, and the
openai engine against a real OpenAI-compatible server (llama_cpp.server) on 127.0.0.1.
Whatever the small model writes, only checked sentences may come back."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag import Answer, Assistant, Settings
from rag.models import bundled_gguf_path
from rag.text import numbers
from tests.conftest import free_port, running

QUESTIONS = [
    "How much does Tree-Planner reduce token consumption?",
    "What is SequenceMatch?",
    "Which method lets a model reason in a continuous latent space?",
    "How does Tree-Planner reduce error corrections?",
    "What does SPaR use to refine instruction following?",
    "How does ReST-MCTS* collect process rewards?",
    "What is Coconut?",
    "How can language models backtrack during generation?",
    "How do attention chains help quantify the uncertainty of a language model?",
    "What does distribution backtracking do for one-step diffusion distillation?",
    "Who won the 2022 FIFA World Cup?",
]


def assert_checked(ans: Answer) -> None:
    """The contract for any generative answer."""
    assert ans.checked is not None
    c = ans.checked
    assert c.kept + c.recited + c.dropped == c.sentences
    if ans.refused:
        assert ans.citations == [] and c.sentences == 0
        return
    assert ans.citations, ans
    by_n = {x.n: x for x in ans.citations}
    for sentence in re.split(r"(?<=\])\s+", ans.text):
        cited = [by_n[int(n)] for n in re.findall(r"\[(\d+)\]", sentence)]
        assert cited, f"uncited sentence {sentence!r}"
        claim_numbers = numbers(re.sub(r"\[\d+\]", "", sentence))
        source_numbers = set().union(*(numbers(x.title + " " + x.abstract) for x in cited))
        assert claim_numbers <= source_numbers, (sentence, claim_numbers - source_numbers)
    for x in ans.citations:
        assert x.quote in x.abstract
        assert all(0 <= a < b <= len(x.abstract) for a, b in x.spans)


@pytest.fixture(scope="module")
def gguf(data_dir: Path, model_cache: Path) -> Path:
    return bundled_gguf_path(Settings(data_dir=data_dir, model_cache_dir=model_cache))


def test_llama_cpp_raw_generation(assistant: Assistant, gguf: Path) -> None:
    from rag.models import load_llama

    llm = load_llama(assistant.settings.model_copy(update={"llama_model_path": gguf}))
    out = llm.create_completion("The capital of France is", max_tokens=8, temperature=0)
    assert out["choices"][0]["text"].strip()


def test_llama_cpp_answers_are_checked(assistant: Assistant, gguf: Path) -> None:
    totals = {"sentences": 0, "kept": 0, "recited": 0, "dropped": 0}
    engines = set()
    for q in QUESTIONS:
        ans = assistant.ask(q, engine="llama-cpp")
        assert_checked(ans)
        engines.add(ans.engine)
        for k in totals:
            totals[k] += getattr(ans.checked, k)
        if q.startswith("Who won"):
            assert ans.refused
    assert totals["sentences"] > 0 and totals["kept"] + totals["recited"] > 0
    assert engines <= {"llama-cpp", "llama-cpp→extractive"}
    assert "llama-cpp" in engines  # at least one checked generated answer, not only fallbacks
    print("llama-cpp check totals:", totals)


@pytest.fixture(scope="module")
def llama_server(gguf: Path) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--chat_format", "gemma",
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
    url = f"http://127.0.0.1:{port}/v1"
    with running(cmd, url + "/models", name="llama_cpp.server"):
        yield url


def test_openai_engine_against_real_server(assistant: Assistant, llama_server: str, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = assistant.settings.model_copy(
        update={"openai_base_url": llama_server, "openai_api_key": "sk-local", "openai_model": "gemma", "engine": "auto"}
    )
    a = Assistant(settings, progress=False, embedder=embedder)
    assert settings.resolved_engine() == "openai"
    for q in QUESTIONS[:5] + QUESTIONS[-1:]:
        ans = a.ask(q)
        assert ans.engine in {"openai", "openai→extractive"}
        assert_checked(ans)
        assert ans.refused or (ans.draft or "").strip()  # the server really answered


def test_openai_engine_unreachable_is_a_clear_error(assistant: Assistant, embedder) -> None:  # type: ignore[no-untyped-def]
    from rag import EngineError

    settings = assistant.settings.model_copy(
        update={"openai_base_url": f"http://127.0.0.1:{free_port()}/v1", "openai_api_key": "x", "openai_timeout": 3.0}
    )
    a = Assistant(settings, progress=False, embedder=embedder)
    with pytest.raises(EngineError, match="OpenAI-compatible endpoint .* failed"):
        a.ask("How much does Tree-Planner reduce token consumption?", engine="openai")


def test_streaming_yields_only_checked_sentences(assistant: Assistant, gguf: Path) -> None:
    items = list(assistant.ask_stream("What does SPaR use to refine instruction following?", engine="llama-cpp"))
    final = items[-1]
    assert not final.partial and all(x.partial for x in items[:-1])
    for x in items:
        if not x.refused:
            assert_checked(x)
