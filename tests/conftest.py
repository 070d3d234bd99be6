"""Shared fixtures: a real embedded Chroma store in a temp dir, built once from the
bundled corpus with the real bundled embedding model."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rag import Assistant, Settings
from rag.models import Embedder

TREE_PLANNER = "tree-planner-efficient-close-loop-task-planning-c7e2cf"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder(Settings())


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rag-data")


@pytest.fixture(scope="session")
def assistant(data_dir: Path, embedder: Embedder) -> Assistant:
    """The bundled corpus, indexed on first use (auto_ingest), as a new user gets it."""
    return Assistant.open(
        Settings(data_dir=data_dir, engine="extractive"), progress=False, embedder=embedder
    )


@pytest.fixture
def empty_assistant(tmp_path: Path, embedder: Embedder) -> Callable[..., Assistant]:
    """A factory of assistants over an empty store of their own."""

    def make(**overrides: object) -> Assistant:
        settings = Settings(data_dir=tmp_path / "store", auto_ingest=False, **overrides)  # type: ignore[arg-type]
        return Assistant.open(settings, progress=False, embedder=embedder)

    return make


@contextmanager
def running(cmd: list[str], ready_url: str, *, name: str, env: dict[str, str] | None = None) -> Iterator[None]:
    """Run a real server process until `ready_url` answers; stop it afterwards."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(ready_url, timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with status {proc.returncode}") from None
                time.sleep(0.5)
        else:
            raise RuntimeError(f"{name} did not start")
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


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
