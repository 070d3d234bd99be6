"""Citations as a checked contract.

Sources are numbered by the code ([1]..[n] in retrieval order). This module
- parses `[n]` markers (and `[n, p. 4]`) out of generated text and drops those that match no source;
- checks every sentence of a draft against the sentences of the source it cites: a verbatim
  sentence of that source is supported as it is; otherwise every number and distinctive name
  of the claim must occur in the source, polarity must agree, and a source sentence must say
  the same thing (close in meaning and sharing words). A claim is kept, re-cited to the
  retrieved source that does support it, or dropped. A claim about a paper the question names
  (its title's own name as the claim's subject) can only be supported by that paper: it is
  never re-cited elsewhere;
- builds the final `Citation` list (renumbered 1..m by first use) from the stored records,
  never from model text.
Not here: calling models (engines.py), deciding to refuse (answer.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .evidence import SentenceHit, SentenceIndex, owners
from .settings import Scoring
from .text import mentions, names, numbers, sentence_spans
from .types import CheckReport, Citation, Source

MARKER = re.compile(r"\[(\d+(?:\s*[,;–-]\s*\d+)*)(?:\s*,\s*p(?:p)?\.\s*\d+)?\]")


def parse_markers(text: str) -> list[int]:
    """Source numbers cited in `text`, in order, expanding [1, 2] and [1-3]."""
    out: list[int] = []
    for m in MARKER.finditer(text):
        for part in re.split(r"\s*[,;]\s*", m.group(1)):
            if re.search(r"[–-]", part):
                a, b = (int(x) for x in re.split(r"\s*[–-]\s*", part))
                if 0 < b - a < 20:
                    out.extend(range(a, b + 1))
                    continue
            out.extend(int(x) for x in re.findall(r"\d+", part))
    return out


def strip_markers(text: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub("", text)).strip()


def keep_known_markers(text: str, n_sources: int) -> tuple[str, list[int]]:
    """Remove markers that cite no source; return the text and the unknown numbers."""
    unknown: list[int] = []

    def fix(m: re.Match[str]) -> str:
        nums = parse_markers(m.group(0))
        unknown.extend(n for n in nums if not 1 <= n <= n_sources)
        return "".join(f"[{n}]" for n in dict.fromkeys(n for n in nums if 1 <= n <= n_sources))

    return re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub(fix, text)).strip(), unknown


def attach_markers(text: str) -> str:
    """"Claim. [1] Next claim." -> "Claim [1]. Next claim.": a marker belongs to what precedes it."""
    return re.sub(
        r"([.!?][\"'”’)\]]*)\s*((?:\[\d+\]\s*)+)", lambda m: " " + m.group(2).strip() + m.group(1) + " ", text
    ).strip()


@dataclass
class Segment:
    """An answer sentence and the evidence it rests on: (source index, section, start, end) spans."""

    text: str
    evidence: list[tuple[int, str, int, int]] = field(default_factory=list)
    priority: int = 0  # lower = stronger; a citation quotes its strongest segment's evidence
    note: bool = False  # a line built by the code from stored records (no claim about a paper's content): no marker


def consistent(claim: str, source: Source) -> tuple[bool, str]:
    """Every number and distinctive name of the claim occurs in the source."""
    src = f"{source.paper.title}\n{source.paper.abstract}\n" + "\n".join(c.text for c in source.chunks if c.page)
    missing_nums = numbers(claim) - numbers(src)
    if missing_nums:
        return False, f"number(s) {', '.join(sorted(missing_nums))} not in the source"
    missing_names = [n for n in names(claim) if not mentions(src, n)]
    if missing_names:
        return False, f"name(s) {', '.join(sorted(missing_names))} not in the source"
    return True, ""


_NEGATION = re.compile(r"\b(not|no|never|cannot|neither|nor|without)\b|n't\b", re.I)


def supports(hit: SentenceHit | None, claim: str, sc: Scoring) -> bool:
    if hit is None:
        return False
    if _norm(claim) == _norm(hit.text):
        return True  # a verbatim quote of the source
    if bool(_NEGATION.search(claim)) != bool(_NEGATION.search(hit.text)):
        return False  # "X does not reduce ..." is not supported by "X reduces ..."
    return any(hit.cos >= cos and hit.lex >= lex for cos, lex in (sc.support_close, sc.support_loose, sc.support_copy))


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def check_answer(
    text: str, sources: list[Source], index: SentenceIndex, embed: object, sc: Scoring
) -> tuple[list[Segment], CheckReport, list[str]]:
    """Check each sentence of a draft against the sources it cites.

    `embed` turns a list of claims into vectors (the embedder's `encode`)."""
    text, unknown = keep_known_markers(" ".join(text.split()), len(sources))
    text = attach_markers(text)
    notes = [f"removed marker [{n}]: no such source" for n in dict.fromkeys(unknown)]
    report = CheckReport()
    segments: list[Segment] = []
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    claims = [strip_markers(s) for s in sentences]
    todo = [c for c in claims if c and len(c.split()) >= 3 and re.search(r"[A-Za-z]", c)]
    vecs = iter(embed(todo) if todo else np.zeros((0, 1)))  # type: ignore[operator]
    seen: set[str] = set()
    for sent, claim in zip(sentences, claims):
        if claim not in todo:
            continue  # fragments such as "Answer:" are not claims
        vec = next(vecs)
        key = _norm(claim)
        if key in seen:  # small models repeat themselves; a repeat is not a new claim
            continue
        seen.add(key)
        report.sentences += 1
        cited = [n - 1 for n in dict.fromkeys(parse_markers(sent))]
        if not cited:
            report.unmarked += 1
        best: dict[int, SentenceHit] = {}
        for h in index.score(vec, claim, sources):
            best.setdefault(h.source, h)
        allowed = owners(claim, sources) or list(range(len(sources)))
        good = [i for i in allowed if supports(best.get(i), claim, sc) and consistent(claim, sources[i])[0]]
        ok = [i for i in cited if i in good]
        if ok:
            report.kept += 1
            segments.append(Segment(claim, [_span(best[i]) for i in ok]))
            continue
        if good:
            i = max(good, key=lambda j: best[j].score)
            report.recited += 1
            segments.append(Segment(claim, [_span(best[i])]))
            if cited:
                notes.append(f"re-cited {claim[:60]!r} from [{cited[0] + 1}] to [{i + 1}]")
            continue
        report.dropped += 1
        why = (consistent(claim, sources[cited[0]])[1] or "no supporting sentence in the cited source") if cited \
            else "no retrieved source supports it"
        notes.append(f"dropped {claim[:60]!r}: {why}")
    return segments, report, notes


def _span(h: SentenceHit) -> tuple[int, str, int, int]:
    return (h.source, h.section, h.start, h.end)


def build_citations(segments: list[Segment], sources: list[Source]) -> tuple[str, list[Citation]]:
    """Answer text with markers renumbered 1..m by first use, and the citation list."""
    number: dict[int, int] = {}
    spans: dict[int, list[tuple[str, int, int]]] = {}
    quote: dict[int, tuple[int, str, int, int]] = {}  # source -> (priority, section, start, end)
    parts = []
    for seg in segments:
        for i, sec, a, b in seg.evidence:
            if i not in quote or seg.priority < quote[i][0]:
                quote[i] = (seg.priority, sec, a, b)
        marks: list[str] = []
        for i, sec, a, b in seg.evidence:
            if i not in number:
                number[i] = len(number) + 1
                spans[i] = []
            if (sec, a, b) not in spans[i]:
                spans[i].append((sec, a, b))
            page = _page(sources[i], sec)
            mark = f"[{number[i]}, p. {page}]" if page else f"[{number[i]}]"
            if mark not in marks:
                marks.append(mark)
        if seg.note:
            parts.append(seg.text)
        else:
            parts.append(seg.text.rstrip() + " " + "".join(marks))
    citations = []
    for i, n in sorted(number.items(), key=lambda t: t[1]):
        p = sources[i].paper
        _, sec, qa, qb = quote[i]
        page = _page(sources[i], sec)
        body = p.abstract if not page else next(c.text for c in sources[i].chunks if c.chunk_id == sec)
        citations.append(Citation(
            n=n, paper_id=p.id, title=p.title, quote=body[qa:qb], abstract=p.abstract,
            spans=sorted((a, b) for s, a, b in spans[i] if s == sec), page=page or None,
            passage=body if page else None, authors=p.authors, year=p.year, url=p.url, source=p.source,
        ))
    return " ".join(parts), citations


def _page(source: Source, section: str) -> int:
    if section == "abstract":
        return 0
    return next((c.page or 0 for c in source.chunks if c.chunk_id == section), 0)
