"""The README's Python example runs as written, in a fresh directory, as a user would."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import cli_env

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_block_runs(tmp_path: Path, model_cache: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    (tmp_path / "my_papers.jsonl").write_text(json.dumps({
        "id": "wombat-2026", "title": "WombatNet: Burrow Mapping with Ground Radar",
        "abstract": "We present WombatNet, which maps burrows from ground-penetrating radar. WombatNet finds 93.5% of "
                    "burrows in the new DigSite benchmark."}) + "\n")
    env = cli_env(tmp_path / ".rag", model_cache)
    for code in blocks:
        out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=900)
        assert out.returncode == 0, out.stderr[-3000:]
    assert "Coconut" in out.stdout or "continuous" in out.stdout
    assert "1 added" in out.stdout
