"""Citations as a checked contract.

Sources are numbered by the code ([1]..[n] in retrieval order). This module
- parses `[n]` markers out of generated text and drops those that match no source;
- scores the sentences of each source abstract against a claim (cosine similarity
  with the bundled embedding model plus lexical overlap), with per-paper sentence
  vectors cached in memory;
- checks every sentence of a generated answer against the sentence it cites: every
  number and distinctive name in the claim must occur in the cited source, and the
  best source sentence must be similar enough. A claim is kept, re-cited to the
  retrieved source that does support it, or dropped;
- builds the final `Citation` list (renumbered 1..m in order of first use) from the
  stored abstracts, never from model text.
Not here: calling models (answer.py).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .models import Embedder
from .store import Store
from .text import content_terms, looks_like_instruction, names, numbers, sentence_spans
from .types import CheckReport, Citation, Source

MARKER = re.compile(r"\[(\d+(?:\s*[,;–-]\s*\d+)*)\]")

# A claim is supported by a source sentence when it says the same thing: close in meaning
# AND sharing words, the more words shared the less closeness is needed. Either signal
# alone is too weak: small models write fluent generic sentences that sit near many
# abstract sentences, and sentences can share words while saying something else.
SUPPORT_RULES = (  # (minimum cosine, minimum share of the claim's content words)
    (0.75, 0.25),  # a close paraphrase
    (0.55, 0.50),  # a loose paraphrase reusing the source's words
    (0.35, 0.80),  # a near-copy
)


@dataclass
class SentenceHit:
    """One sentence of a source abstract scored against a text."""

    source: int  # index into the sources list
    start: int
    end: int
    text: str
    cos: float
    lex: float

    @property
    def score(self) -> float:
        return self.cos + 0.35 * self.lex


def _key(source: Source, exact: bool) -> tuple[str, int, bool]:
    # The abstract's hash is part of the key: a re-ingested paper with new text gets new spans.
    return (source.paper.id, hash(source.paper.abstract), exact)


class SentenceIndex:
    """Sentence spans and vectors of paper abstracts, computed once per paper (LRU)."""

    def __init__(self, embedder: Embedder, store: Store | None = None, max_papers: int = 4096) -> None:
        self.embedder = embedder
        self.store = store
        self.max_papers = max_papers
        self._cache: OrderedDict[tuple[str, int, bool], tuple[list[tuple[int, int]], np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sources: list[Source], *, exact: bool = False) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
        """Spans and vectors of each source's sentences.

        Default: the vectors pooled at ingest from the chunk pass (fast; good for ranking).
        `exact=True`: each sentence embedded on its own, as claims are; the citation check
        uses these, since a pooled vector can sit far from the same sentence embedded alone.
        """
        missing: list[Source] = []
        with self._lock:
            for s in sources:
                key = _key(s, exact)
                if key in self._cache:
                    self._cache.move_to_end(key)
                elif all(m.paper.id != s.paper.id for m in missing):
                    missing.append(s)
        if missing:
            stored = self.store.sentence_vectors([s.paper.id for s in missing]) if self.store and not exact else {}
            entries: dict[str, tuple[list[tuple[int, int]], dict[tuple[int, int], Any]]] = {}
            todo: list[tuple[str, int, int, str]] = []  # sentences with no stored vector
            for s in missing:
                spans = sentence_spans(s.paper.abstract)
                have = {(a, b): v for a, b, v in stored.get(s.paper.id, [])}
                todo.extend((s.paper.id, a, b, s.paper.abstract[a:b]) for a, b in spans if (a, b) not in have)
                entries[s.paper.id] = (spans, have)
            fresh = self.embedder.encode([t for *_, t in todo]) if todo else np.zeros((0, 384))
            computed = {(pid, a, b): v for (pid, a, b, _), v in zip(todo, fresh)}
            by_id = {s.paper.id: s for s in missing}
            with self._lock:
                for pid, (spans, have) in entries.items():
                    rows = [have[(a, b)] if (a, b) in have else computed[(pid, a, b)] for a, b in spans]
                    mat = np.asarray(rows, dtype=np.float32).reshape(len(spans), -1)
                    self._cache[_key(by_id[pid], exact)] = (spans, mat)
                while len(self._cache) > self.max_papers:
                    self._cache.popitem(last=False)
        with self._lock:
            return [self._cache[_key(s, exact)] for s in sources]

    def score(
        self, text_vec: np.ndarray, text: str, sources: list[Source], only: list[int] | None = None, *, exact: bool = False
    ) -> list[SentenceHit]:
        """Every sentence of the chosen sources scored against `text`, best first."""
        idx = list(range(len(sources))) if only is None else only
        chosen = [sources[i] for i in idx]
        terms = content_terms(text)
        hits: list[SentenceHit] = []
        for i, s, (spans, vecs) in zip(idx, chosen, self.get(chosen, exact=exact)):
            if not spans:
                continue
            cos = vecs @ text_vec
            for (a, b), c in zip(spans, cos):
                sent = s.paper.abstract[a:b]
                if looks_like_instruction(sent):
                    continue  # injected instructions are never evidence
                lex = len(terms & content_terms(sent)) / len(terms) if terms else 0.0
                hits.append(SentenceHit(i, a, b, sent, float(c), lex))
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits


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
        good = [n for n in nums if 1 <= n <= n_sources]
        unknown.extend(n for n in nums if not 1 <= n <= n_sources)
        return "".join(f"[{n}]" for n in dict.fromkeys(good))

    return re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub(fix, text)).strip(), unknown


def attach_markers(text: str) -> str:
    """"Claim. [1] Next claim." -> "Claim [1]. Next claim.": a marker belongs to what precedes it."""
    return re.sub(
        r"([.!?][\"'”’)\]]*)\s*((?:\[\d+\]\s*)+)", lambda m: " " + m.group(2).strip() + m.group(1) + " ", text
    ).strip()


@dataclass
class Segment:
    """An answer sentence and the evidence it rests on: (source index, start, end) spans."""

    text: str
    evidence: list[tuple[int, int, int]] = field(default_factory=list)
    priority: int = 0  # lower = stronger; a citation quotes its strongest segment's evidence


def _source_text(s: Source) -> str:
    return f"{s.paper.title}\n{s.paper.abstract}"


def consistent(claim: str, source: Source) -> tuple[bool, str]:
    """Every number and distinctive name of the claim occurs in the source."""
    src = _source_text(source)
    missing_nums = numbers(claim) - numbers(src)
    if missing_nums:
        return False, f"number(s) {', '.join(sorted(missing_nums))} not in the source"
    low = src.lower()
    missing_names = [n for n in names(claim) if n.lower() not in low and n.lower().rstrip("s") not in low]
    if missing_names:
        return False, f"name(s) {', '.join(sorted(missing_names))} not in the source"
    return True, ""


_NEGATION = re.compile(r"\b(not|no|never|cannot|neither|nor)\b|n't\b", re.I)


def supports(hit: SentenceHit | None, claim: str = "") -> bool:
    if hit is None:
        return False
    if claim and bool(_NEGATION.search(claim)) != bool(_NEGATION.search(hit.text)):
        return False  # "X does not reduce ..." is not supported by "X reduces ..."
    return any(hit.cos >= cos and hit.lex >= lex for cos, lex in SUPPORT_RULES)


def check_answer(
    text: str, sources: list[Source], index: SentenceIndex
) -> tuple[list[Segment], CheckReport, list[str]]:
    """Check each sentence of a generated answer against the sources it cites."""
    text, unknown = keep_known_markers(" ".join(text.split()), len(sources))
    text = attach_markers(text)
    notes = [f"removed marker [{n}]: no such source" for n in dict.fromkeys(unknown)]
    report = CheckReport()
    segments: list[Segment] = []
    for title in sorted((s.paper.title.rstrip(".") + ": " for s in sources), key=len, reverse=True):
        text = text.replace(title, "")  # "Title: claim" is how multi-paper answers name papers
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    claims = [strip_markers(s) for s in sentences]
    vecs = index.embedder.encode([c for c in claims if c]) if any(claims) else np.zeros((0, 384))
    vec_iter = iter(vecs)
    seen: set[str] = set()
    for sent, claim in zip(sentences, claims):
        if not claim:
            continue
        vec = next(vec_iter)
        if len(claim.split()) < 3 or not re.search(r"[A-Za-z]", claim):
            continue  # fragments such as "Answer:" are not claims
        key = " ".join(claim.lower().split())
        if key in seen:  # small models repeat themselves; a repeat is not a new claim
            continue
        seen.add(key)
        report.sentences += 1
        cited = [n - 1 for n in dict.fromkeys(parse_markers(sent))]
        if not cited:
            report.unmarked += 1
        hits = index.score(vec, claim, sources, exact=True)
        best_by_source: dict[int, SentenceHit] = {}
        for h in hits:
            best_by_source.setdefault(h.source, h)
        ok = [
            i for i in cited if supports(best_by_source.get(i), claim) and consistent(claim, sources[i])[0]
        ]
        if ok:
            report.kept += 1
            segments.append(Segment(claim, [(i, best_by_source[i].start, best_by_source[i].end) for i in ok]))
            continue
        others = sorted(
            (i for i in best_by_source if supports(best_by_source[i], claim) and consistent(claim, sources[i])[0]),
            key=lambda i: best_by_source[i].score,
            reverse=True,
        )
        if others:
            i = others[0]
            report.recited += 1
            h = best_by_source[i]
            segments.append(Segment(claim, [(i, h.start, h.end)]))
            if cited:
                notes.append(f"re-cited {claim[:60]!r} from [{cited[0] + 1}] to [{i + 1}]")
            continue
        report.dropped += 1
        why = ""
        if cited:
            why = consistent(claim, sources[cited[0]])[1] or "no supporting sentence in the cited source"
        else:
            why = "no retrieved source supports it"
        notes.append(f"dropped {claim[:60]!r}: {why}")
    return segments, report, notes


def build_citations(segments: list[Segment], sources: list[Source]) -> tuple[str, list[Citation]]:
    """Answer text with markers renumbered 1..m by first use, and the citation list."""
    number: dict[int, int] = {}
    spans: dict[int, list[tuple[int, int]]] = {}
    quote: dict[int, tuple[int, int, int]] = {}  # source -> (priority, start, end)
    parts = []
    for seg in segments:
        for i, a, b in seg.evidence:
            if i not in quote or seg.priority < quote[i][0]:
                quote[i] = (seg.priority, a, b)
        marks = []
        for i, a, b in seg.evidence:
            if i not in number:
                number[i] = len(number) + 1
                spans[i] = []
            if (a, b) not in spans[i]:
                spans[i].append((a, b))
            if number[i] not in marks:
                marks.append(number[i])
        body = seg.text.rstrip()
        parts.append(body + " " + "".join(f"[{m}]" for m in marks))
    citations = []
    for i, n in sorted(number.items(), key=lambda t: t[1]):
        p = sources[i].paper
        _, qa, qb = quote[i]
        sp = sorted(spans[i])
        citations.append(
            Citation(
                n=n,
                paper_id=p.id,
                title=p.title,
                quote=p.abstract[qa:qb],
                abstract=p.abstract,
                spans=sp,
            )
        )
    return " ".join(parts), citations
