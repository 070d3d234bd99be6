"""PDF papers, read with pypdf.

The title is the first page's first substantial line (or the PDF's own title metadata); the
abstract is the paragraph after an "Abstract" heading on the first pages, or, when there is
no such heading, the first long paragraph (the report says so). Every page's text becomes a
passage of the paper with its page number, so body text can be cited as `[n, p. 4]`. A PDF
with no text layer (a scan) or that is encrypted gets a clear error and adds nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import CorpusError
from ..settings import Settings
from ..text import clean_text
from ..types import Paper, Passage
from .base import CorpusRead, check_paper, paper_id_for

_HEADING = re.compile(r"^\s*(abstract|summary)\s*[:.\-—]?\s*", re.I)
_END = re.compile(r"^\s*(\d+(\.\d+)*\.?\s+)?(introduction|keywords|index terms|1\s+introduction)\b", re.I)


def read(p: Path, settings: Settings) -> CorpusRead:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError as e:  # pragma: no cover - install problem
        raise CorpusError(p, "reading PDFs needs pypdf: run `make install`.") from e
    try:
        reader = PdfReader(str(p))
        if reader.is_encrypted:
            raise CorpusError(p, "is encrypted; decrypt it (e.g. `qpdf --decrypt in.pdf out.pdf`) and add that file.")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = str(reader.metadata.title or "").strip() if reader.metadata is not None else ""
    except CorpusError:
        raise
    except (PdfReadError, ValueError, KeyError, OSError) as e:
        raise CorpusError(p, f"is not a readable PDF ({type(e).__name__}: {str(e)[:100]}).") from None
    if not any(len(t.split()) >= 20 for t in pages):
        raise CorpusError(p, "has no text layer (a scanned PDF?); run OCR on it (e.g. `ocrmypdf in.pdf out.pdf`) and add that file.")
    title, abstract, guessed, used = _title_and_abstract(pages, meta_title)
    passages = [Passage(page=i, text=clean_text(t)) for i, t in enumerate(_after(pages, used), start=1) if len(t.split()) >= 8]
    paper = Paper(id=paper_id_for(title), title=title, abstract=abstract, source=p.name, passages=passages)
    notes = [f"{p.name}: no 'Abstract' heading found; the first paragraph is used as the abstract"] if guessed else []
    return CorpusRead(papers=[check_paper(paper, settings, p)], notes=notes)


def _after(pages: list[str], used: int) -> list[str]:
    """The pages without their first `used` lines (the title block and the abstract, which is
    cited as the abstract, not again as the first page's body)."""
    out = []
    for t in pages:
        lines = t.splitlines()
        out.append("\n".join(lines[used:]))
        used = max(0, used - len(lines))
    return out


def _title_and_abstract(pages: list[str], meta_title: str) -> tuple[str, str, bool, int]:
    """Title, abstract, whether the abstract was guessed, and how many leading lines of the
    first pages they took up (0 when guessed)."""
    lines = [ln.strip() for ln in "\n".join(pages[:2]).splitlines()]
    page_end = len(pages[0].splitlines()) if pages else 0  # the first line of page 2
    first = next((ln for ln in lines if len(ln.split()) >= 2 and not _HEADING.match(ln)), "")
    title = meta_title if len(meta_title.split()) >= 2 else first
    abstract: list[str] = []
    collecting, used = False, 0
    for i, ln in enumerate(lines):
        if not collecting and _HEADING.match(ln):
            collecting = True
            rest = _HEADING.sub("", ln, count=1).strip()
            if rest:
                abstract.append(rest)
            continue
        if collecting:
            if _END.match(ln) or (not ln and len(" ".join(abstract)) > 400):
                break
            if i >= page_end and abstract and abstract[-1].endswith((".", "!", "?")):
                break  # the abstract ended with page 1; page 2 is body text
            if ln:
                abstract.append(ln)
                used = i + 1
    if abstract:
        return title, _join(abstract), False, used
    paragraphs = [_join(b.splitlines()) for b in re.split(r"\n\s*\n", "\n".join(pages[:2]))]
    para = next((b for b in paragraphs if len(b) >= 200 and b != title), "")
    if not para:  # one block of text: its first 1,500 characters after the title
        body = _join(lines)
        para = body[len(title):].strip()[:1500] if body.startswith(title) else body[:1500]
    return title, para, True, 0


def _join(lines: list[str]) -> str:
    """Lines of a PDF paragraph as one text, undoing end-of-line hyphenation."""
    text = ""
    for ln in lines:
        ln = ln.strip()
        if not ln:
            continue
        if text.endswith("-") and ln[:1].islower():
            text = text[:-1] + ln
        else:
            text = f"{text} {ln}" if text else ln
    return " ".join(text.split())
