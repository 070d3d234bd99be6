"""JSON Lines: one paper per line, `{"id"?, "title", "abstract", "authors"?, "year"?, "url"?}`.

Lines in the arXiv metadata snapshot format (`id`, `title`, `abstract`, `authors` as one
string, `versions`, `update_date`, ...) are read too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import CorpusError
from ..settings import Settings
from ..types import Paper
from .base import CorpusRead, check_paper, decode, paper_id_for


def read(p: Path, settings: Settings) -> CorpusRead:
    text = decode(p, p.read_bytes())
    papers: list[Paper] = []
    for i, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as e:
            raise CorpusError(p, f"bad JSON ({e.msg} at column {e.colno}); each line must be one JSON object.", line=i) from None
        if not isinstance(row, dict):
            raise CorpusError(p, f"expected a JSON object, found {type(row).__name__}.", line=i)
        papers.append(check_paper(paper_from_row(p, i, row), settings, p, i))
    if not papers:
        raise CorpusError(p, "has no JSON lines: expected one object per line.")
    return CorpusRead(papers=papers)


def text_field(p: Path, line: int | None, row: dict[str, Any], key: str, required: bool) -> str | None:
    v = row.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v.strip():
        raise CorpusError(p, f'field "{key}" must be a non-empty string, found {json.dumps(v)[:60]}.', line=line)
    return " ".join(v.split())


def paper_from_row(p: Path, line: int | None, row: dict[str, Any]) -> Paper:
    title = text_field(p, line, row, "title", True)
    abstract = text_field(p, line, row, "abstract", True)
    assert title is not None and abstract is not None
    pid = str(row["id"]).strip() if isinstance(row.get("id"), (str, int)) and str(row["id"]).strip() else paper_id_for(title)
    authors_raw = row.get("authors")
    authors: list[str] = []
    if isinstance(authors_raw, str):
        sep = ";" if ";" in authors_raw else ","
        authors = [a.strip() for a in authors_raw.replace(" and ", sep).split(sep) if a.strip()]
    elif isinstance(authors_raw, list) and all(isinstance(a, str) for a in authors_raw):
        authors = [a.strip() for a in authors_raw if a.strip()]
    elif authors_raw is not None:
        raise CorpusError(p, '"authors" must be a list of strings or a comma-separated string.', line=line)
    year = row.get("year")
    if year is None and isinstance(row.get("update_date"), str) and row["update_date"][:4].isdigit():
        year = _arxiv_year(row)
    if year is not None and not (isinstance(year, int) and not isinstance(year, bool) and 1000 <= year <= 3000):
        raise CorpusError(p, f'"year" must be a whole number such as 2024, found {json.dumps(year)}.', line=line)
    url = text_field(p, line, row, "url", False)
    if url is None and "versions" in row and isinstance(row.get("id"), str):
        url = f"https://arxiv.org/abs/{row['id']}"
    return Paper(id=pid, title=title, abstract=abstract, authors=authors, year=year, url=url, source=p.name)


def _arxiv_year(row: dict[str, Any]) -> int | None:
    """The arXiv snapshot's first version date ("Mon, 2 Apr 2007 19:18:42 GMT"), else update_date."""
    import re

    versions = row.get("versions")
    if isinstance(versions, list) and versions and isinstance(versions[0], dict):
        m = re.search(r"\b(19|20)\d\d\b", str(versions[0].get("created", "")))
        if m:
            return int(m.group(0))
    return int(str(row["update_date"])[:4])
