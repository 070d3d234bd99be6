"""The scale-out path: the same code against a real `chroma run` server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag import Assistant, Settings, StoreError
from tests.conftest import free_port, running


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    chroma = Path(sys.executable).with_name("chroma")
    cmd = [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    with running(cmd, f"http://127.0.0.1:{port}/api/v2/heartbeat", name="chroma run",
                 env={**os.environ, "ANONYMIZED_TELEMETRY": "False"}):
        yield port


def test_ingest_and_ask_through_a_chroma_server(chroma_server: int, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(chroma_host="127.0.0.1", chroma_port=chroma_server, data_dir=tmp_path, auto_ingest=False,
                        model_cache_dir=tmp_path / "models")
    a = Assistant.open(settings, progress=False, embedder=embedder)
    corpus = tmp_path / "mini.jsonl"
    corpus.write_text(
        json.dumps({"id": "tree", "title": "Tree-Planner: Efficient Close-loop Task Planning with Large Language Models",
                    "abstract": "We propose Tree-Planner for close-loop task planning. As a result, token consumption "
                    "is reduced by 92.2% compared to the previously best-performing model."}) + "\n"
        + json.dumps({"id": "seq", "title": "SequenceMatch: Imitation Learning for Autoregressive Sequence Modelling",
                      "abstract": "We formulate sequence generation as imitation learning. A backspace action lets "
                      "the model revert a sampled token and recover from errors."}) + "\n"
    )
    report = a.ingest(corpus, progress=False)
    assert report.papers_added == 2 and a.store.count() == 2 and a.store.paper_count() == 2
    assert not (tmp_path / "chroma").exists()  # nothing went to the embedded store
    ans = a.ask("How much does Tree-Planner reduce token consumption?")
    assert not ans.refused and "92.2%" in ans.text and ans.citations[0].paper_id == "tree"
    again = Assistant.open(settings, progress=False, embedder=embedder).ingest(corpus, progress=False)
    assert again.chunks_added == 0


def test_unreachable_server_is_a_clear_error(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(chroma_host="127.0.0.1", chroma_port=free_port(), data_dir=tmp_path)
    with pytest.raises(StoreError, match=r"Could not open the Chroma server 127.0.0.1:\d+.*chroma run"):
        Assistant.open(settings, progress=False, embedder=embedder)
