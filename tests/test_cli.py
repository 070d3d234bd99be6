"""The `rag` command as a user runs it: a real subprocess, a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import TREE_PLANNER

RAG = [sys.executable, "-m", "rag.cli"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    e["RAG_DATA_DIR"] = str(tmp_path_factory.mktemp("cli-store"))
    return e


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(RAG + args, env=env, input=stdin, capture_output=True, text=True, timeout=600)


def test_ingest_then_ask_json(env: dict[str, str]) -> None:
    first = run(["ingest", "--quiet"], env)
    assert first.returncode == 0, first.stderr
    assert "78 added" in first.stdout
    again = run(["ingest", "--quiet"], env)
    assert "0 added" in again.stdout and "0 chunks added" in again.stdout

    out = run(["ask", "--json", "How much does Tree-Planner reduce token consumption?"], env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1  # exactly one JSON object, nothing else on stdout
    obj = json.loads(lines[0])
    assert set(obj) >= {"question", "answer", "refused", "engine", "citations", "timings_ms"}
    assert obj["refused"] is False and obj["engine"] == "extractive"
    assert "92.2%" in obj["answer"]
    assert obj["citations"][0]["paper_id"] == TREE_PLANNER
    for c in obj["citations"]:
        assert set(c) >= {"n", "paper_id", "title", "quote", "abstract", "spans"}
        assert c["quote"] in c["abstract"]
    assert set(obj["timings_ms"]) >= {"retrieve", "answer", "total"}


def test_batch_from_stdin(env: dict[str, str]) -> None:
    out = run(
        ["ask", "--json", "--batch", "-"],
        env,
        stdin="What is SequenceMatch?\n\nWho won the 2022 FIFA World Cup?\n" + "x" * 2100 + "\n",
    )
    rows = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert len(rows) == 4  # one output line per input line, the blank one included
    assert rows[0]["citations"][0]["title"].startswith("SequenceMatch")
    assert "empty" in rows[1]["error"] and rows[1]["line"] == 2
    assert rows[2]["refused"] is True and rows[2]["citations"] == []
    assert "limit is 2000" in rows[3]["error"]
    assert out.returncode == 2  # one line was rejected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "   "], "question is empty"),
        (["ask", "q" * 2001], "limit is 2000"),
        (["ask", "--batch", "/nonexistent/questions.txt"], "Cannot read the batch file"),
        (["ingest", "/nonexistent/papers.jsonl"], "no such file"),
    ],
)
def test_expected_errors_are_one_line_without_traceback(env: dict[str, str], args: list[str], message: str) -> None:
    out = run(args, env)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0


def test_bad_setting_is_reported(env: dict[str, str]) -> None:
    out = run(["ask", "What is SequenceMatch?"], {**env, "RAG_TOP_K": "many"})
    assert out.returncode == 2 and "top_k" in out.stderr and "Traceback" not in out.stderr
