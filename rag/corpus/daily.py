"""The Hugging Face Daily Papers text dump (the bundled corpus's format).

An optional header (ending with a date line such as "Aug 19"), then per paper a title
line, a blank line, the abstract on one line, a blank line.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import CorpusError
from ..settings import Settings
from ..types import Paper
from .base import CorpusRead, check_paper, decode, paper_id_for

_DATE_LINE = re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2}(, \d{4})?$")
FORMAT_HINT = "Each paper must be a title line, a blank line, the abstract on one line, a blank line."


def read(p: Path, settings: Settings) -> CorpusRead:
    text = decode(p, p.read_bytes())
    if not text.strip():
        raise CorpusError(p, "is empty: expected at least one paper. " + FORMAT_HINT)
    lines = text.splitlines()
    blocks: list[tuple[int, str]] = []  # (1-based line number, stripped text)
    for i, raw in enumerate(lines, start=1):
        s = raw.strip()
        if not s:
            continue
        if blocks and lines[i - 2].strip():
            raise CorpusError(p, f"expected a blank line before this line (after line {i - 1}). " + FORMAT_HINT, line=i)
        blocks.append((i, s))
    start = 0
    for j, (_, s) in enumerate(blocks[:12]):
        if _DATE_LINE.match(s):
            start = j + 1
            break
    body = blocks[start:]
    if not body:
        raise CorpusError(p, "has a header but no papers after it. " + FORMAT_HINT)
    papers: list[Paper] = []
    for k in range(0, len(body), 2):
        tline, title = body[k]
        if len(title) > settings.max_title_chars:
            raise CorpusError(
                p,
                f"expected a title (at most {settings.max_title_chars} characters), found a {len(title)}-character "
                "line: is the title before this abstract missing? " + FORMAT_HINT,
                line=tline,
            )
        if k + 1 >= len(body):
            raise CorpusError(p, f"the title {title[:80]!r} has no abstract after it. " + FORMAT_HINT, line=tline)
        aline, abstract = body[k + 1]
        paper = Paper(id=paper_id_for(title), title=title, abstract=abstract, source=p.name)
        papers.append(check_paper(paper, settings, p, aline))
    return CorpusRead(papers=papers)
