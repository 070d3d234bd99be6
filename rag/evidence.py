"""Evidence: the sentences of the retrieved papers, scored against a question or a claim.

Every sentence of every abstract (and of each retrieved body passage) was embedded on its
own at ingest; `SentenceIndex` loads those vectors for the retrieved papers (an LRU cache
keyed by the abstract's hash, so a changed paper is reloaded) and scores every sentence
against a text: cosine similarity plus the share of the text's content words it contains.
`rank_for_question` then adds what the question asks for (a number, a definition, a name), and
`signals` sums the evidence up for the refusal gate, including whether it carries the kind of
answer asked for: a number next to the counted thing, a name next to the asked-for noun
(`names_near`), a cause for "why".
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
    CONTEXT,
    FINDING,
    INTRO,
    MEANS,
    NAMING,
    NUMBER_WORDS,
    REASON,
    RESULT,
    Ask,
    analyze_question,
    asks_mechanism,
    content_terms,
    fold,
    is_name,
    mentions,
    name_key,
    names,
    numbers,
    paper_own_names,
    paper_references,
    question_names,
    refers_to,
    stem,
    title_name,
    words,
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


def compared_papers(question: str, sources: list[Source], owners_only: bool = False) -> list[int]:
    """The sources a comparison names, in the order the question names them: the paper that owns
    the name (its title carries it, or its abstract introduces it), else (unless `owners_only`)
    the best-ranked paper that uses it."""
    out: list[int] = []
    for name in sorted(question_names(question), key=lambda n: fold(question).find(fold(n))):
        owner = [i for i, s in enumerate(sources) if owns(s, name)]
        users = [] if owners_only else [i for i, s in enumerate(sources) if mentions(f"{s.paper.title} {s.paper.abstract}", name)]
        pick = (owner or users)[:1]
        out += [i for i in pick if i not in out]
    return out


def own_names(source: Source) -> frozenset[str]:
    """What a paper calls its own: its title's names and short name, and the names its abstract
    introduces ("we propose X", "(X)")."""
    return paper_own_names(source.paper.title, source.paper.abstract)


def owns(source: Source, name: str) -> bool:
    """The paper is the one a name refers to: its own name, or a word of its title."""
    return mentions(source.paper.title, name) or any(name_key(n) == name_key(name) for n in own_names(source))


def rank_for_question(question: str, qvec: np.ndarray, sources: list[Source], index: SentenceIndex,
                      sc: Scoring) -> list[tuple[float, SentenceHit]]:
    """Source sentences ranked for answering: similarity and overlap with the question, the
    paper's rank, the question's names, and whether the sentence carries the kind of answer
    the question asks for (a number about the asked-for thing, a name, a definition)."""
    hits = index.score(qvec, question, sources)
    ask = analyze_question(question)
    qnames = list(question_names(question))
    distinctive = [n for n in qnames if is_name(n)]
    about = [any(mentions(f"{s.paper.title} {s.paper.abstract}", n) for n in distinctive) for s in sources]
    # Per name, the retrieved papers it names ("(DoC)", "Tree-Planner: ..."): a sentence of another
    # paper that merely uses that name ("doc_manager is ...") is not about it.
    owned = {n: {i for i, s in enumerate(sources) if s.named and owns(s, n)} for n in qnames}
    # "What accuracy does X reach?": only X's paper answers for X (unless the question spans papers).
    spans = ask.kind in ("list", "comparison") or len(compared_papers(question, sources, owners_only=True)) > 1
    refs = paper_references(question)
    only = {i for i, s in enumerate(sources) if s.named or any(refers_to(r, s.paper.title) for r in refs)} \
        if sc.named_paper_answers and not spans else set()
    ranked = []
    for h in hits:
        if only and h.source not in only:
            continue
        if sources[h.source].topic < sc.min_topic and not about[h.source]:
            continue  # a paper about something else: one planted sentence is not a paper about the question
        own = owners(h.text, sources)
        if own and h.source not in own:
            continue  # "Tree-Planner increases ..." written in another paper is not Tree-Planner's evidence
        adj = h.score + ((sc.rank_bonus_first, sc.rank_bonus_second)[h.source] if h.source < 2 else 0.0)
        if ask.kind == "quantity" and (numbers(h.text) - numbers(question) or NUMBER_WORDS.search(h.text)):
            adj += sc.quantity_bonus
        if ask.kind in ("quantity", "name") and carries(ask, h.text, question, own_names(sources[h.source])):
            adj += sc.focus_bonus if ask.kind == "quantity" else sc.name_bonus
        # A sentence of the named paper is about it; when no paper is the named one, a sentence that uses the name.
        named = sources[h.source].named or any(mentions(h.text, n) and (not owned[n] or h.source in owned[n])
                                                for n in qnames)
        if named:
            adj += sc.named_bonus
        if ask.kind == "definition" and INTRO.search(h.text) and (named or not qnames):
            adj += sc.intro_bonus
        if ask.kind in ("definition", "how") and RESULT.search(h.text) and not NAMING.search(h.text):
            adj -= sc.result_penalty
        if CONTEXT.search(h.text) and not NAMING.search(h.text):
            adj -= sc.context_penalty
        elif FINDING.search(h.text):
            adj += sc.finding_bonus
        if BOILERPLATE.search(h.text):
            adj -= sc.boilerplate_penalty
        ranked.append((adj, h))
    ranked.sort(key=lambda t: t[0], reverse=True)
    return ranked


@dataclass
class Signals:
    """What the refusal gate weighs: how well the retrieved evidence answers the question."""

    dense: float  # best chunk cosine: does a paper's passage match the question's topic?
    sentence: float  # best single-sentence cosine among the retrieved papers
    evidence: float  # best evidence score (cosine + weighted word overlap) of a sentence
    focus: float  # share of the asked-for terms ("learning rate", "GPUs") the best such sentence carries
    typed: float  # 1 when a top sentence carries the kind of answer asked for (a number near the focus, a name)
    topic: float  # how close the question is to the best sentence's paper as a whole
    named: float  # share of the question's names that one retrieved paper uses (they belong together)
    coverage: float  # share of the question's other content words that the best paper uses
    asks_number: bool = False  # the question asks "how many / how much / what rate": an answer is a number
    asks_reason: bool = False  # the question asks "why": an answer gives a cause or a mechanism
    gives_reason: bool = False  # a top sentence says "because", "leads to", "by ...ing"
    asks_name: bool = False  # the question asks "which model / dataset / benchmark": an answer names one
    gives_name: bool | None = None  # a top sentence names such a thing next to the asked-for noun (None: none uses the noun)
    asks_means: bool = False  # the question asks "how does X do Y": an answer gives a means
    gives_means: bool = False  # one of the sentences an answer would quote says "by", "via", "using", "learns" ...

    def vector(self) -> list[float]:
        return [self.dense, self.sentence, self.evidence, self.focus, self.typed, self.topic, self.coverage]


FEATURES = ("dense", "sentence", "evidence", "focus", "typed", "topic", "coverage")
_GENERIC_QUANTITY = frozenset(
    stem(w) for w in "score accuracy percentage percent number rate performance result value share fraction proportion".split()
)


GENERIC_NAMES = frozenset("LLM LLMS RL AI ML NLP DNN CNN RNN GPU GPUS API SOTA".split())  # words, not names of things


def signals(question: str, sources: list[Source], ranked: list[tuple[float, SentenceHit]], top: int = 8,
            sc: Scoring | None = None) -> Signals:
    """The gate's inputs, from the question's kind and the best `top` evidence sentences (of the
    best sentence's paper, unless the question spans papers)."""
    if not sources or not ranked:
        return Signals(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    ask = analyze_question(question)
    qnames = question_names(question)
    texts = [f"{s.paper.title} {s.paper.abstract}" for s in sources]
    named = max(sum(mentions(t, n) for n in qnames) / len(qnames) for t in texts) if qnames else 1.0
    own = frozenset().union(*(content_terms(n) for n in qnames)) if qnames else frozenset()
    rest = content_terms(question) - own
    best = ranked[0][1]
    paper = content_terms(texts[best.source])
    coverage = len(rest & paper) / len(rest) if rest else 1.0
    # What the answer must be about: the asked-for terms, or else the question's own words (its names aside).
    focus = focus_terms(ask) or rest
    typed_kind = ask.kind == "quantity"  # a number is unambiguous; whether a name answers "which X" is not
    pool = ranked if ask.kind in ("list", "comparison") else [t for t in ranked if t[1].source == best.source]
    share, typed = 0.0, 0.0
    gives: bool | None = None
    gives_reason = False
    window = (sc or Scoring()).entity_window
    for _, h in pool[:top]:
        terms = content_terms(h.text)
        s = len(focus & terms) / len(focus) if focus else 1.0
        share = max(share, s)
        if typed_kind and (s > 0 or not focus_terms(ask)) and carries(ask, h.text, question, own_names(sources[h.source])):
            typed = 1.0
        gives_reason = gives_reason or bool(REASON.search(h.text))
        if ask.entity and not gives:
            found = names_near(ask, h.text, question, window)
            gives = found if found is not None else gives
    asks_means = asks_mechanism(question) and len(compared_papers(question, sources, owners_only=True)) < 2
    # Among the best-ranked sentences overall (what an answer quotes first), those of the best paper.
    gives_means = any(MEANS.search(h.text) for _, h in ranked[: (sc or Scoring()).means_window] if h.source == best.source)
    if not typed_kind:
        typed = share  # no kind of answer asked for: how much of the question's words the evidence uses
    return Signals(max(s.dense for s in sources), max(s.sentence for s in sources), best.score, share, typed,
                   sources[best.source].topic, named, coverage,
                   asks_number=typed_kind, asks_reason=ask.kind == "reason", gives_reason=gives_reason,
                   asks_name=ask.entity, gives_name=gives, asks_means=asks_means, gives_means=gives_means)


def names_near(ask: Ask, text: str, question: str, window: int) -> bool | None:
    """For "which model / dataset / benchmark": does the sentence name one (a name the question
    does not use; the paper's own counts) within `window` words of the asked-for noun ("on MNIST,
    ... and CIFAR100 datasets", "RewardBench, a benchmark")? None when it never uses the noun:
    a paraphrase may say "classifier" where the paper says "model", so there is nothing to judge."""
    toks = words(text)  # lower-cased
    about = {stem(ask.head)} | set(ask.focus)
    heads = [i for i, w in enumerate(toks) if stem(w) in about]
    if not heads:
        return None
    for n in names(text) - names(question):  # not every capitalised word: "Large Language Models" names nothing
        if n.upper() in GENERIC_NAMES or not words(n):
            continue
        first = words(n)[0].lower()
        if any(abs(i - j) <= window for i, w in enumerate(toks) if w == first for j in heads):
            return True
    return False


def focus_terms(ask: Ask) -> frozenset[str]:
    """The asked-for terms that an answering sentence must use ("score" or "rate" alone say nothing)."""
    return ask.focus - _GENERIC_QUANTITY if ask.kind == "quantity" else ask.focus


def carries(ask: Ask, text: str, question: str, own_names: frozenset[str] = frozenset()) -> bool:
    """Does the sentence hold the kind of thing asked for, next to what is asked about? A number
    within a few words of the counted thing ("12 GPUs"), a name for "which model/benchmark"."""
    if ask.kind == "quantity":
        new = numbers(text) - numbers(question)
        if not new and not NUMBER_WORDS.search(text):
            return False
        counted = ask.anchor - _GENERIC_QUANTITY
        anchor = counted or focus_terms(ask)
        if not anchor:  # "how much faster ...?": the size of a change, a figure ("3.2x", "15.7%"), not "two passes"
            return bool(new)
        toks = words(text)
        near = [i for i, w in enumerate(toks) if stem(w) in anchor]
        nums = [i for i, w in enumerate(toks) if any(c.isdigit() for c in w) or NUMBER_WORDS.fullmatch(w)]
        if counted:  # "how many GPUs": the number counts them ("12 GPUs", "5.2% more problems")
            return any(0 < i - j <= 3 for i in near for j in nums)
        return any(abs(i - j) <= 8 for i in near for j in nums)
    if ask.kind == "name":
        terms = content_terms(text)
        if ask.entity:  # "which teacher model / datasets": a name other than the paper's own, where it speaks of them
            found = {n for n in names(text) - names(question) if n.upper() not in GENERIC_NAMES}
            own = {name_key(n) for n in own_names}
            about = bool(ask.focus & terms) or stem(ask.head) in terms or not ask.focus
            return about and any(name_key(n) not in own for n in found)
        if ask.focus:  # "what shaping technique": the sentence speaks of shaping
            return bool(ask.focus & terms)
        return bool(names(text) - names(question)) or bool(NAMING.search(text))  # "which approach": it names itself
    return True
