"""Shared fixtures: a real embedded Chroma store in a temp dir, built once from the
bundled corpus with the real bundled embedding model, and helpers for real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from rag import Assistant, Settings
from rag.models import Embedder

TREE_PLANNER = "tree-planner-efficient-close-loop-task-planning-c7e2cf"
RAG = [sys.executable, "-m", "rag.cli"]


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export (and assembled GGUF) for the whole session."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def base_settings(model_cache: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return Settings(model_cache_dir=model_cache, **overrides)

    return make


@pytest.fixture(scope="session")
def embedder(base_settings: Callable[..., Settings]) -> Embedder:
    return Embedder(base_settings())


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rag-data")


@pytest.fixture(scope="session")
def assistant(data_dir: Path, embedder: Embedder, base_settings: Callable[..., Settings]) -> Assistant:
    """The bundled corpus, indexed on first use (auto_ingest), as a new user gets it."""
    return Assistant.open(base_settings(data_dir=data_dir, engine="extractive"), progress=False, embedder=embedder)


@pytest.fixture
def empty_assistant(tmp_path: Path, embedder: Embedder, base_settings: Callable[..., Settings]) -> Iterator[Callable[..., Assistant]]:
    """A factory of assistants over an empty store of their own."""
    made: list[Assistant] = []

    def make(**overrides: Any) -> Assistant:
        overrides.setdefault("data_dir", tmp_path / "store")
        a = Assistant.open(base_settings(auto_ingest=False, **overrides), progress=False,
                           embedder=overrides.pop("embedder", None) or embedder)
        made.append(a)
        return a

    yield make
    for a in made:
        a.close()


def jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def cli_env(data_dir: Path, model_cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(RAG_DATA_DIR=str(data_dir), RAG_MODEL_CACHE_DIR=str(model_cache), **extra)
    return env


def run_cli(args: list[str], env: dict[str, str], stdin: str | bytes | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    if isinstance(stdin, bytes):
        p = subprocess.run(RAG + args, env=env, input=stdin, capture_output=True, timeout=timeout)
        return subprocess.CompletedProcess(p.args, p.returncode, p.stdout.decode(errors="replace"),
                                           p.stderr.decode(errors="replace"))
    return subprocess.run(RAG + args, env=env, input=stdin, capture_output=True, text=True, timeout=timeout)


@contextmanager
def running(cmd: list[str], ready_url: str, *, name: str, env: dict[str, str] | None = None,
            log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run a real server process until `ready_url` answers; stop it afterwards."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL, env=env)
    try:
        for _ in range(480):
            try:
                urllib.request.urlopen(ready_url, timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with status {proc.returncode}") from None
                time.sleep(0.5)
        else:
            raise RuntimeError(f"{name} did not start")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()  # type: ignore[union-attr]


@contextmanager
def chroma_server(path: Path) -> Iterator[int]:
    """A real `chroma run` on a free loopback port; yields the port."""
    port = free_port()
    chroma = str(Path(sys.executable).with_name("chroma"))
    with running([chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                 f"http://127.0.0.1:{port}/api/v2/heartbeat", name="chroma run"):
        yield port


@contextmanager
def serving(assistant: Assistant) -> Iterator[str]:
    """The real Gradio app for `assistant` on a free loopback port; yields its URL."""
    from ui.app import build_app, launch

    settings = assistant.settings.model_copy(update={"server_port": free_port()})
    app = build_app(assistant)
    launch(app, settings, block=False)
    try:
        yield f"http://127.0.0.1:{settings.server_port}/"
    finally:
        app.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
