"""Distractor documents for scale runs, from `shared/corpus/distractors_100k.jsonl`.

The file holds ~100K one-sentence summaries of Python packages (real text by many authors;
not papers). `write_distractors(src, n, out)` writes `n` documents as ingestible JSONL: four
lines grouped into one abstract-length document while the file has enough lines for that,
else one line per document (78 + 100K documents uses every line once). Ids keep a `dx-`
prefix so they never clash with papers.
"""

from __future__ import annotations

import json
from pathlib import Path

from rag.errors import UsageError

GROUP = 4


def write_distractors(src: Path, n: int, out: Path) -> Path:
    """`n` distractor documents from `src`, written to `out` (reused when already there)."""
    if out.is_file() and sum(1 for _ in out.open(encoding="utf-8")) == n:
        return out
    if not src.is_file():
        raise UsageError(f"No distractor file at {src}: expected ../shared/corpus/distractors_100k.jsonl (see its README).")
    rows = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    group = GROUP if n * GROUP <= len(rows) else 1
    if n * group > len(rows):
        raise UsageError(f"{src} has {len(rows):,} lines; {n:,} documents need at least {n * group:,}.")
    tmp = out.with_suffix(".partial")
    with tmp.open("w", encoding="utf-8") as fh:
        for k in range(n):
            part = rows[k * group : (k + 1) * group]
            doc = {"id": f"dx-{k}", "title": part[0]["title"], "abstract": " ".join(r["abstract"].strip() for r in part),
                   "year": part[0].get("year")}
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return out


def default_source() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "corpus" / "distractors_100k.jsonl"
