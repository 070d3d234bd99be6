"""The Hugging Face Daily Papers API's JSON: a list of entries with `paper.id` (the arXiv id),
`paper.title`, `paper.summary`, `paper.authors[].name` and `publishedAt`. A file holding a JSON
list of plain paper objects (`title`, `abstract`, ...) is read too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import CorpusError
from ..settings import Settings
from ..types import Paper
from .base import CorpusRead, check_paper, decode
from .jsonl import paper_from_row


def read(p: Path, settings: Settings) -> CorpusRead:
    try:
        data = json.loads(decode(p, p.read_bytes()))
    except json.JSONDecodeError as e:
        raise CorpusError(p, f"bad JSON ({e.msg}); expected a list of Daily Papers entries.", line=e.lineno) from None
    if isinstance(data, dict) and isinstance(data.get("papers"), list):
        data = data["papers"]
    if not isinstance(data, list) or not data:
        raise CorpusError(p, "expected a non-empty JSON list of Daily Papers entries (each with paper.title and paper.summary).")
    out = CorpusRead()
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise CorpusError(p, f"entry {i} is {type(entry).__name__}, expected an object.")
        paper = paper_from_entry(p, i, entry)
        if paper is None:
            out.skipped.append(f"{p.name} entry {i}: no summary (abstract)")
            continue
        out.papers.append(check_paper(paper, settings, p))
    if not out.papers:
        raise CorpusError(p, "has no entry with a title and a summary.")
    return out


def paper_from_entry(p: Path, i: int, entry: dict[str, Any]) -> Paper | None:
    inner = entry.get("paper") if isinstance(entry.get("paper"), dict) else None
    if inner is None:  # a plain paper object
        return paper_from_row(p, None, entry) if entry.get("abstract") else None
    title = str(inner.get("title") or entry.get("title") or "").strip()
    summary = str(inner.get("summary") or entry.get("summary") or "").strip()
    if not title:
        raise CorpusError(p, f"entry {i} has no paper.title.")
    if not summary:
        return None
    arxiv = str(inner.get("id") or "").strip()
    authors = [str(a.get("name")) for a in inner.get("authors") or [] if isinstance(a, dict) and a.get("name")]
    date = str(inner.get("publishedAt") or entry.get("publishedAt") or "")
    year = int(date[:4]) if date[:4].isdigit() else None
    return Paper(id=f"arxiv:{arxiv}" if arxiv else _slug(title), title=" ".join(title.split()), abstract=" ".join(summary.split()),
                 authors=authors, year=year, url=f"https://arxiv.org/abs/{arxiv}" if arxiv else None,
                 source=f"{p.name}")


def _slug(title: str) -> str:
    from .base import paper_id_for

    return paper_id_for(title)
