"""Readers for paper collections: the Hugging Face Daily Papers dump and JSONL.

`read_corpus(path)` picks the reader by extension (`.jsonl` -> JSONL, anything else
-> Daily Papers text) and returns validated `Paper` records, or raises `CorpusError`
naming the file and line. Readers never touch the store: a file is read completely
and validated before anything is written. Not handled here: PDFs, arXiv lookups.

Daily Papers format: an optional header (ending with a date line such as "Aug 19"),
then per paper a title line, a blank line, the abstract on one line, a blank line.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from .errors import CorpusError
from .types import Paper

MAX_TITLE_CHARS = 400
MIN_ABSTRACT_CHARS = 100
MAX_FILE_BYTES = 200 * 1024 * 1024
_DATE_LINE = re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2}(, \d{4})?$")
_ID_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
_FORMAT_HINT = (
    "Each paper must be a title line, a blank line, the abstract on one line, a blank line."
)


def paper_id_for(title: str) -> str:
    """A stable, readable id derived from a title: a slug plus a short hash.

    The same title (ignoring case, punctuation and spacing) always gives the same id.
    """
    norm = " ".join(re.findall(r"[a-z0-9]+", title.lower()))
    words = norm.split()
    slug = ""
    for w in words:
        if len(slug) + len(w) + 1 > 48:
            break
        slug = f"{slug}-{w}" if slug else w
    digest = hashlib.sha1(norm.encode()).hexdigest()[:6]
    return f"{slug or 'paper'}-{digest}"


def read_corpus(path: str | Path) -> list[Paper]:
    """Read and validate one corpus file; raise `CorpusError` on any problem."""
    p = Path(path)
    if not p.exists():
        raise CorpusError(p, "no such file. Pass a .txt (Daily Papers format) or .jsonl file.")
    if p.is_dir():
        raise CorpusError(p, "is a directory. Pass a .txt or .jsonl file inside it.")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CorpusError(p, f"is {size} bytes; the limit is {MAX_FILE_BYTES}. Split the file.")
    text = _decode(p)
    if not text.strip():
        raise CorpusError(p, "is empty: expected at least one paper. " + _FORMAT_HINT)
    papers = _read_jsonl(p, text) if p.suffix.lower() == ".jsonl" else _read_daily(p, text)
    return _dedupe(p, papers)


def _decode(p: Path) -> str:
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise CorpusError(
            p,
            f"is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}). "
            "Convert it, e.g. `iconv -f latin1 -t utf-8 FILE > FILE.utf8`.",
            line=line,
        ) from None


def _read_daily(p: Path, text: str) -> list[Paper]:
    lines = text.splitlines()
    blocks: list[tuple[int, str]] = []  # (1-based line number, stripped text)
    for i, raw in enumerate(lines, start=1):
        s = raw.strip()
        if not s:
            continue
        if blocks and lines[i - 2].strip():
            raise CorpusError(
                p,
                f"expected a blank line before this line (after line {i - 1}). " + _FORMAT_HINT,
                line=i,
            )
        blocks.append((i, s))
    start = 0
    for j, (_, s) in enumerate(blocks[:12]):
        if _DATE_LINE.match(s):
            start = j + 1
            break
    body = blocks[start:]
    if not body:
        raise CorpusError(p, "has a header but no papers after it. " + _FORMAT_HINT)
    papers: list[Paper] = []
    for k in range(0, len(body), 2):
        tline, title = body[k]
        if len(title) > MAX_TITLE_CHARS:
            raise CorpusError(
                p,
                f"expected a title (at most {MAX_TITLE_CHARS} characters), found a "
                f"{len(title)}-character line: is the title before this abstract missing? "
                + _FORMAT_HINT,
                line=tline,
            )
        if k + 1 >= len(body):
            raise CorpusError(
                p, f"the title {title[:80]!r} has no abstract after it. " + _FORMAT_HINT, line=tline
            )
        aline, abstract = body[k + 1]
        if len(abstract) < MIN_ABSTRACT_CHARS:
            raise CorpusError(
                p,
                f"expected the abstract of {title[:60]!r} (at least {MIN_ABSTRACT_CHARS} "
                f"characters), found {abstract[:60]!r} ({len(abstract)} characters): "
                "does this title lack an abstract? " + _FORMAT_HINT,
                line=aline,
            )
        papers.append(Paper(id=paper_id_for(title), title=title, abstract=abstract))
    return papers


def _read_jsonl(p: Path, text: str) -> list[Paper]:
    papers: list[Paper] = []
    for i, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as e:
            raise CorpusError(
                p, f"bad JSON ({e.msg} at column {e.colno}); each line must be one JSON object.", line=i
            ) from None
        if not isinstance(row, dict):
            raise CorpusError(p, f"expected a JSON object, found {type(row).__name__}.", line=i)
        papers.append(_paper_from_row(p, i, row))
    if not papers:
        raise CorpusError(p, "has no JSON lines: expected one object per line.")
    return papers


def _paper_from_row(p: Path, line: int, row: dict[str, object]) -> Paper:
    def text_field(key: str, required: bool) -> str | None:
        v = row.get(key)
        if v is None and not required:
            return None
        if not isinstance(v, str) or not v.strip():
            raise CorpusError(
                p, f'field "{key}" must be a non-empty string, found {json.dumps(v)[:60]}.', line=line
            )
        return " ".join(v.split())

    title = text_field("title", True)
    abstract = text_field("abstract", True)
    assert title is not None and abstract is not None
    if len(title) > MAX_TITLE_CHARS:
        raise CorpusError(p, f'"title" is {len(title)} characters; the limit is {MAX_TITLE_CHARS}.', line=line)
    pid = text_field("id", False) or paper_id_for(title)
    if not _ID_OK.match(pid):
        raise CorpusError(
            p, f'"id" {pid!r} must be 1-128 letters, digits or ._:/- and start with a letter or digit.', line=line
        )
    authors_raw = row.get("authors")
    authors: list[str] = []
    if isinstance(authors_raw, str):
        authors = [a.strip() for a in authors_raw.split(",") if a.strip()]
    elif isinstance(authors_raw, list) and all(isinstance(a, str) for a in authors_raw):
        authors = [a.strip() for a in authors_raw if a.strip()]
    elif authors_raw is not None:
        raise CorpusError(p, '"authors" must be a list of strings or a comma-separated string.', line=line)
    year = row.get("year")
    if year is not None and not (isinstance(year, int) and not isinstance(year, bool) and 1000 <= year <= 3000):
        raise CorpusError(p, f'"year" must be a whole number such as 2024, found {json.dumps(year)}.', line=line)
    url = text_field("url", False)
    return Paper(id=pid, title=title, abstract=abstract, authors=authors, year=year, url=url)


def _dedupe(p: Path, papers: list[Paper]) -> list[Paper]:
    seen: dict[str, Paper] = {}
    for paper in papers:
        prev = seen.get(paper.id)
        if prev is None:
            seen[paper.id] = paper
        elif (prev.title, prev.abstract) != (paper.title, paper.abstract):
            raise CorpusError(
                p, f"two different papers share the id {paper.id!r}; give each a unique id."
            )
    return list(seen.values())
