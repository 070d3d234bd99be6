"""Distractor documents for scale runs, from `shared/corpus/distractors_100k.jsonl`.

The file holds ~100K one-sentence summaries of Python packages (real text by many authors;
not papers). `write_distractors(src, n, out)` writes `n` documents as ingestible JSONL: four
lines (each ended as a sentence) grouped into one abstract-length document while the file has enough lines for that,
else one line per document (78 + 100K documents uses every line once). Ids keep a `dx-`
prefix so they never clash with papers.
"""

from __future__ import annotations

import json
from pathlib import Path

from rag.errors import UsageError

GROUP = 4
FORMAT = 2  # 2: each summary ends as a sentence (1 glued them); a collection built from another format is rebuilt


def write_distractors(src: Path, n: int, out: Path) -> Path:
    """`n` distractor documents from `src`, written to `out` (left untouched when it already holds them)."""
    if not src.is_file():
        raise UsageError(f"No distractor file at {src}: expected ../shared/corpus/distractors_100k.jsonl (see its README).")
    rows = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    group = GROUP if n * GROUP <= len(rows) else 1
    if n * group > len(rows):
        raise UsageError(f"{src} has {len(rows):,} lines; {n:,} documents need at least {n * group:,}.")
    lines = []
    for k in range(n):
        part = rows[k * group : (k + 1) * group]
        doc = {"id": f"dx-{k}", "title": part[0]["title"], "abstract": " ".join(_sentence(r["abstract"]) for r in part),
               "year": part[0].get("year")}
        lines.append(json.dumps(doc, ensure_ascii=False) + "\n")
    text = "".join(lines)
    if out.is_file() and out.read_text(encoding="utf-8") == text:
        return out  # unchanged: its modification time (and what was built from it) stays valid
    tmp = out.with_suffix(".partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out


def _sentence(line: str) -> str:
    """A summary as a sentence of its own: many end without a full stop, and glued to the next
    summary they would read (and be quoted) as one sentence about two packages."""
    line = " ".join(line.split())
    return line if line[-1:] in ".!?" else f"{line}."


def default_source() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "corpus" / "distractors_100k.jsonl"
