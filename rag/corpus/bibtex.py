"""BibTeX (a Zotero export, for example), read with bibtexparser. Entries with an `abstract`
field become papers (authors, year, DOI or URL link kept); entries without one are listed as
skipped. LaTeX accents and braces are folded away.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import CorpusError
from ..settings import Settings
from ..text import clean_text, fold
from ..types import Paper
from .base import CorpusRead, check_paper, decode, paper_id_for


def read(p: Path, settings: Settings) -> CorpusRead:
    import bibtexparser

    text = decode(p, p.read_bytes())
    library = bibtexparser.parse_string(text)
    if library.failed_blocks:
        bad = library.failed_blocks[0]
        raw = str(bad.raw or "")[:40]
        line = text[: text.find(raw)].count("\n") + 1 if raw and raw in text else None
        raise CorpusError(p, f"a BibTeX entry could not be parsed ({type(bad).__name__}); fix its braces or quotes.", line=line)
    out = CorpusRead()
    for e in library.entries:
        f = {k.lower(): _tex(str(v.value)) for k, v in e.fields_dict.items()}
        if not f.get("title"):
            out.skipped.append(f"{p.name} @{e.key}: no title")
            continue
        if not f.get("abstract"):
            out.skipped.append(f"{p.name} @{e.key}: no abstract field")
            continue
        authors = [_name(a) for a in re.split(r"\s+and\s+", f.get("author", "")) if a.strip()]
        year = int(f["year"][:4]) if f.get("year", "")[:4].isdigit() else None
        url = f.get("url") or (f"https://doi.org/{f['doi']}" if f.get("doi") else None)
        if not url and f.get("eprint") and "arxiv" in f.get("archiveprefix", "arxiv").lower():
            url = f"https://arxiv.org/abs/{f['eprint']}"
        pid = e.key if re.match(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$", e.key) else paper_id_for(f["title"])
        paper = Paper(id=pid, title=f["title"], abstract=f["abstract"], authors=authors, year=year, url=url, source=p.name)
        out.papers.append(check_paper(paper, settings, p, text[: text.find(e.key)].count("\n") + 1))
    if not out.papers:
        raise CorpusError(p, "has no entry with an abstract field; export the library with abstracts (Zotero: BibTeX "
                             "keeps them).")
    return out


def _tex(value: str) -> str:
    """A BibTeX value as plain text: accents folded, braces and escapes removed."""
    value = fold(value)
    value = re.sub(r"\\(textit|textbf|emph|mathrm|text)\{([^{}]*)\}", r"\2", value)
    value = value.replace("{", "").replace("}", "").replace("~", " ").replace("\\&", "&")
    return clean_text(value)


def _name(author: str) -> str:
    """"Smith, Jane" -> "Jane Smith"."""
    if "," in author:
        last, first = author.split(",", 1)
        return f"{first.strip()} {last.strip()}".strip()
    return author.strip()
