"""The package as a user installs it: a wheel, in a fresh venv, used outside the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_installed_wheel_works_outside_the_checkout(tmp_path: Path, model_cache: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    wheel = next(dist.glob("paper_rag-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    site = next((venv / "lib").glob("python3*/site-packages"))
    # Reuse the project's installed dependencies; the checkout itself stays out of sys.path
    # (the editable install's hook lives in a .pth file, which a path entry does not run).
    (site / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_", "PYTHONPATH"))}
    env.update(RAG_DATA_DIR=str(tmp_path / "data"), RAG_MODEL_CACHE_DIR=str(model_cache))
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import rag, rag.prompting; print(rag.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(site)), where.stdout  # the installed copy, not the checkout
    rag = str(venv / "bin" / "rag")
    out = subprocess.run([rag, "ask", "--engine", "llama-cpp", "--json", "How much does Tree-Planner reduce token consumption?"],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    answer = json.loads(out.stdout)
    assert answer["engine"] in ("llama-cpp", "llama-cpp→extractive") and answer["citations"]
    assert "checked" in answer  # the packaged prompt rendered and the draft was checked
    ev = subprocess.run([rag, "eval", "--split", "dev", "--limit", "12", "--no-peer", "--out", str(tmp_path / "reports")],
                        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=900)
    assert ev.returncode == 0, ev.stderr[-3000:] + ev.stdout[-2000:]
    assert (tmp_path / "reports" / "report-extractive.md").is_file()
