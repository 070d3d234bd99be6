"""Evidence: the sentences of the retrieved papers, scored against a question or a claim.

Every sentence of every abstract (and of each retrieved body passage) was embedded on its
own at ingest; `SentenceIndex` loads those vectors for the retrieved papers (an LRU cache
keyed by the abstract's hash, so a changed paper is reloaded) and scores every sentence
against a text: cosine similarity plus the share of the text's content words it contains.
`rank_for_question` then adds what the question asks for (a number, a definition, a name).
Injected instructions and markup never reach here: ingest leaves them out of the index.
Not here: deciding to refuse (answer.py), checking claims (citations.py).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .settings import Scoring
from .store import Store
from .text import (
    BOILERPLATE,
    INTRO,
    NUMBER_WORDS,
    asks_definition,
    asks_quantity,
    content_terms,
    mentions,
    numbers,
    question_names,
    title_name,
)
from .types import Source


@dataclass
class SentenceHit:
    """One sentence of a source, scored against a text."""

    source: int  # index into the sources list
    section: str  # "abstract", or the id of the body chunk the offsets point into
    start: int
    end: int
    text: str
    cos: float
    lex: float
    fit: float = 1.0  # cosine to its own paper's centroid: low for a planted off-topic sentence
    page: int = 0
    lex_weight: float = 0.35

    @property
    def score(self) -> float:
        return self.cos + self.lex_weight * self.lex

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.source, self.section, self.start)


@dataclass
class PaperSentences:
    """One paper's evidence sentences: (section, start, end, page) rows and their vectors."""

    rows: list[tuple[str, int, int, int, float]]
    vectors: np.ndarray


class SentenceIndex:
    """Stored sentence vectors of papers, loaded once per paper version (LRU)."""

    def __init__(self, store: Store, scoring: Scoring, max_papers: int = 4096) -> None:
        self.store = store
        self.scoring = scoring
        self.max_papers = max_papers
        self._cache: OrderedDict[tuple[str, int], PaperSentences] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sources: list[Source]) -> list[PaperSentences]:
        keys = [(s.paper.id, hash(s.paper.abstract)) for s in sources]
        with self._lock:
            missing = [k[0] for k in keys if k not in self._cache]
            for k in keys:
                if k in self._cache:
                    self._cache.move_to_end(k)
        if missing:
            loaded = self.store.sentence_rows(list(dict.fromkeys(missing)))
            with self._lock:
                for key in keys:
                    if key[0] in missing:
                        rows = loaded.get(key[0], [])
                        vecs = np.stack([r[5] for r in rows]) if rows else np.zeros((0, 1), np.float32)
                        self._cache[key] = PaperSentences([r[:5] for r in rows], vecs)
                while len(self._cache) > self.max_papers:
                    self._cache.popitem(last=False)
        with self._lock:
            return [self._cache[k] for k in keys]

    def score(self, vec: np.ndarray, text: str, sources: list[Source], only: list[int] | None = None) -> list[SentenceHit]:
        """Every evidence sentence of the chosen sources scored against `text`, best first."""
        idx = list(range(len(sources))) if only is None else only
        chosen = [sources[i] for i in idx]
        terms = content_terms(text)
        hits: list[SentenceHit] = []
        for i, src, ps in zip(idx, chosen, self.get(chosen)):
            if not ps.rows:
                continue
            passages = {c.chunk_id: c.text for c in src.chunks if c.page}
            cos = ps.vectors @ vec
            for (section, a, b, page, fit), c in zip(ps.rows, cos):
                body = src.paper.abstract if section == "abstract" else passages.get(section)
                if body is None:
                    continue  # a body passage that was not retrieved for this question
                sent = body[a:b]
                lex = len(terms & content_terms(sent)) / len(terms) if terms else 0.0
                hits.append(SentenceHit(i, section, a, b, sent, float(c), lex, fit=fit, page=page,
                                        lex_weight=self.scoring.lexical_weight))
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits


def owners(text: str, sources: list[Source]) -> list[int]:
    """Sources whose title's own name is the subject of `text` ("Tree-Planner reduces ..."):
    only they may support it. A paper's sentence about another retrieved paper's results is
    that paper's claim to make, not evidence for it."""
    head = " ".join(text.split()[:5])
    return [i for i, s in enumerate(sources) if (n := title_name(s.paper.title)) and mentions(head, n)]


def rank_for_question(question: str, qvec: np.ndarray, sources: list[Source], index: SentenceIndex,
                      sc: Scoring) -> list[tuple[float, SentenceHit]]:
    """Source sentences ranked for answering: similarity and overlap with the question, the
    paper's rank, the question's names, and the kind of answer it asks for."""
    hits = index.score(qvec, question, sources)
    wants_number = asks_quantity(question)
    defining = asks_definition(question)
    qnames = list(question_names(question))
    ranked = []
    for h in hits:
        own = owners(h.text, sources)
        if own and h.source not in own:
            continue  # "Tree-Planner increases ..." written in another paper is not Tree-Planner's evidence
        adj = h.score + ((sc.rank_bonus_first, sc.rank_bonus_second)[h.source] if h.source < 2 else 0.0)
        if wants_number and (numbers(h.text) - numbers(question) or NUMBER_WORDS.search(h.text)):
            adj += sc.quantity_bonus
        named = sources[h.source].named or any(mentions(h.text, n) for n in qnames)  # a sentence of the named paper is about it
        if named:
            adj += sc.named_bonus
        if defining and INTRO.search(h.text) and (named or not qnames):
            adj += sc.intro_bonus
        if BOILERPLATE.search(h.text):
            adj -= sc.boilerplate_penalty
        ranked.append((adj, h))
    ranked.sort(key=lambda t: t[0], reverse=True)
    return ranked
