"""What every reader shares: ids, hashes, limits, file checks and the dispatch by format."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CorpusError
from ..settings import Settings
from ..text import clean_text
from ..types import Paper

_ID_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")


@dataclass
class CorpusRead:
    """The papers of one or more files, and what was skipped or guessed."""

    papers: list[Paper] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def extend(self, other: CorpusRead) -> None:
        self.papers += other.papers
        self.skipped += other.skipped
        self.notes += other.notes
        self.files += other.files


def paper_id_for(title: str) -> str:
    """A stable, readable id derived from a title: a slug plus a short hash.

    The same title (ignoring case, punctuation and spacing) always gives the same id.
    """
    norm = " ".join(re.findall(r"[a-z0-9]+", title.lower()))
    slug = ""
    for w in norm.split():
        if len(slug) + len(w) + 1 > 48:
            break
        slug = f"{slug}-{w}" if slug else w
    digest = hashlib.sha1(norm.encode()).hexdigest()[:6]
    return f"{slug or 'paper'}-{digest}"


def paper_hash(paper: Paper) -> str:
    """Content hash: what decides whether a stored paper is unchanged."""
    h = hashlib.sha1()
    for part in (paper.title, paper.abstract, ";".join(paper.authors), str(paper.year), paper.url or ""):
        h.update(part.encode("utf-8", "replace") + b"\x1f")
    for p in paper.passages:
        h.update(f"{p.page}\x1e{p.text}".encode("utf-8", "replace"))
    return h.hexdigest()[:16]


def check_paper(paper: Paper, settings: Settings, path: object, line: int | None = None) -> Paper:
    """Clean and validate one paper: control characters removed, limits enforced."""
    title = clean_text(paper.title)
    abstract = clean_text(paper.abstract)
    where = f"{path}:{line}" if line is not None else str(path)
    if not title:
        raise CorpusError(path, "a paper has an empty title.", line=line)
    if len(title) > settings.max_title_chars:
        raise CorpusError(
            path,
            f"the title is {len(title)} characters; the limit is {settings.max_title_chars} "
            "(RAG_MAX_TITLE_CHARS raises it). Is the title line missing its abstract?",
            line=line,
        )
    if len(abstract) < settings.min_abstract_chars:
        raise CorpusError(
            path,
            f"the abstract of {title[:60]!r} is {len(abstract)} characters ({abstract[:50]!r}); expected at least "
            f"{settings.min_abstract_chars} (RAG_MIN_ABSTRACT_CHARS). Does this title lack an abstract?",
            line=line,
        )
    if len(abstract) > settings.max_abstract_chars:
        raise CorpusError(
            path,
            f"the abstract of {title[:60]!r} is {len(abstract):,} characters; the limit is "
            f"{settings.max_abstract_chars:,} (RAG_MAX_ABSTRACT_CHARS raises it). Is this a whole paper pasted as an abstract?",
            line=line,
        )
    if not _ID_OK.match(paper.id):
        raise CorpusError(
            path, f'the id {paper.id!r} must be 1-128 letters, digits or ._:/- and start with a letter or digit.', line=line
        )
    return paper.model_copy(update={"title": title, "abstract": abstract, "authors": [clean_text(a) for a in paper.authors if clean_text(a)],
                                    "location": where})


def check_file(p: Path, settings: Settings) -> None:
    """A regular, readable file within the size limit (never /dev/zero or a FIFO)."""
    if not p.exists():
        raise CorpusError(p, "no such file. Pass a paper file (.txt, .jsonl, .json, .bib, .pdf) or a directory of them.")
    if not p.is_file():
        raise CorpusError(p, "is not a regular file (a device or a pipe?). Pass a paper file or a directory.")
    size = p.stat().st_size
    limit = settings.max_file_mb * 1024 * 1024
    if size > limit:
        raise CorpusError(p, f"is {size:,} bytes; the limit is {limit:,} (RAG_MAX_FILE_MB raises it). Split the file.")
    if size == 0:
        raise CorpusError(p, "is empty: expected at least one paper.")


def decode(p: Path, data: bytes) -> str:
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


Reader = Callable[[Path, Settings], CorpusRead]


def readers() -> dict[str, Reader]:
    """Extension -> reader. Imported lazily: a PDF library is loaded only for PDFs."""
    from . import bibtex, daily, hfdaily, jsonl, pdf

    table: dict[str, Reader] = {".txt": daily.read, ".jsonl": jsonl.read, ".json": hfdaily.read, ".bib": bibtex.read,
                                ".pdf": pdf.read}
    return table


def read_path(path: str | Path, settings: Settings) -> CorpusRead:
    """The papers of a file, or of every supported file under a directory."""
    p = Path(path)
    table = readers()
    if p.is_dir():
        out = CorpusRead()
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            if f.suffix.lower() not in table:
                out.skipped.append(f"{f}: not a supported format ({', '.join(sorted(table))})")
                continue
            out.extend(read_path(f, settings))
        if not out.papers:
            raise CorpusError(p, f"holds no paper files ({', '.join(sorted(table))}).")
        return out
    check_file(p, settings)
    reader = table.get(p.suffix.lower(), table[".txt"])
    read = reader(p, settings)
    read.files = [str(p)]
    read.papers = _dedupe(p, read.papers)
    return read


def _dedupe(p: Path, papers: list[Paper]) -> list[Paper]:
    seen: dict[str, Paper] = {}
    for paper in papers:
        prev = seen.get(paper.id)
        if prev is None:
            seen[paper.id] = paper
        elif paper_hash(prev) != paper_hash(paper):
            raise CorpusError(
                p, f"two different papers share the id {paper.id!r} ({prev.location} and {paper.location}); give each a unique id."
            )
    return list(seen.values())
