"""Numbered sources -> the refusal gate -> an engine's draft -> a checked `Answer`.

Refusal is decided here from retrieval and evidence scores, before any engine is asked,
so no model can talk itself into an answer. A generative draft goes through the citation
check; when too little of it survives (`fallback_min_supported`), the extractive answer
is returned instead, with `fallback` saying why.
Not here: retrieval (retrieve.py), evidence scores (evidence.py), engines (engines.py),
how a claim is checked (citations.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from .citations import Segment, build_citations, check_answer, strip_markers
from .engines import DraftContext, Engine, Extractive, TextCallback
from .evidence import SentenceHit, SentenceIndex, rank_for_question
from .settings import Settings
from .text import mentions, question_names, sentence_spans
from .types import Answer, CheckReport, Filters, Source

REFUSAL = "The indexed papers do not answer this question."
Ranked = list[tuple[float, SentenceHit]]


def rank_segments(segments: list[Segment], ranked: Ranked) -> list[Segment]:
    """Give each segment the question-rank of its best evidence: a citation quotes the sentence
    that answers the question best, whatever order the answer's sentences come in."""
    order = {h.key: k for k, (_, h) in enumerate(ranked)}
    for seg in segments:
        seg.priority = min((order.get((i, sec, a), len(order)) for i, sec, a, _ in seg.evidence), default=len(order))
    return segments


class Answerer:
    """Turns a question and its retrieved sources into a checked `Answer`."""

    def __init__(self, settings: Settings, index: SentenceIndex, embed: Callable[[list[str]], np.ndarray]) -> None:
        self.settings = settings
        self.index = index
        self.embed = embed
        self.extractive = Extractive(settings)

    def refusal_reason(self, question: str, sources: list[Source], ranked: Ranked) -> str | None:
        sc = self.settings.scoring
        if not sources or not ranked:
            return "nothing in the index matches" if not sources else "the retrieved papers have no sentences"
        gone = [n for n in question_names(question)
                if not any(mentions(f"{s.paper.title} {s.paper.abstract}", n) for s in sources)]
        if gone:
            return f"no retrieved paper mentions {', '.join(sorted(gone))}"
        best_dense = max(s.dense for s in sources)
        best = ranked[0][1].score
        qnames = question_names(question)
        top = f"{sources[0].paper.title} {sources[0].paper.abstract}"
        if qnames and all(mentions(top, n) for n in qnames) and (best_dense >= sc.min_dense or best >= sc.min_evidence):
            return None  # the question names what the top paper is about ("What is DoC?")
        if best_dense < sc.min_dense:
            return f"best chunk similarity {best_dense:.2f} < {sc.min_dense}"
        if best < sc.min_evidence:
            return f"best sentence score {best:.2f} < {sc.min_evidence}"
        return None

    def refuse(self, question: str, sources: list[Source], engine: Engine, reason: str,
               filters: Filters | None = None) -> Answer:
        text = REFUSAL
        if filters is not None and filters.active():
            text = f"None of the selected papers ({filters}) answers this question."
        return Answer(question=question, text=text, refused=True, reason=reason, engine=engine.name,
                      sources=sources, checked=CheckReport() if engine.generative else None,
                      filters=str(filters) if filters is not None and filters.active() else None)

    def answer(self, question: str, qvec: np.ndarray, sources: list[Source], engine: Engine, *,
               on_text: TextCallback | None = None, cancel: threading.Event | None = None,
               filters: Filters | None = None) -> Answer:
        ranked = rank_for_question(question, qvec, sources, self.index, self.settings.scoring)
        result = self._answer(question, sources, ranked, engine, on_text, cancel, filters)
        result.confidence = ranked[0][1].score if ranked else 0.0
        return result

    def _answer(self, question: str, sources: list[Source], ranked: Ranked, engine: Engine,
                on_text: TextCallback | None, cancel: threading.Event | None, filters: Filters | None) -> Answer:
        t0 = time.perf_counter()
        reason = self.refusal_reason(question, sources, ranked)
        if reason is not None:
            return self.refuse(question, sources, engine, reason, filters)
        ctx = DraftContext(question, sources, ranked, cancel)
        draft = engine.draft(ctx, on_text)
        t_gen = time.perf_counter()
        segments, report, notes = check_answer(draft, sources, self.index, self.embed, self.settings.scoring)
        segments = rank_segments(segments, ranked)
        timings = {"generate": (t_gen - t0) * 1000, "check": (time.perf_counter() - t_gen) * 1000}
        base = dict(question=question, sources=sources, notes=notes, timings_ms=timings,
                    filters=str(filters) if filters is not None and filters.active() else None)
        if not engine.generative:
            if not segments:
                return self.refuse(question, sources, engine, "no quoted sentence passed the check", filters)
            text, cits = build_citations(segments, sources)
            return Answer(text=text, citations=cits, engine=engine.name, **base)  # type: ignore[arg-type]
        supported = report.kept + report.recited
        if not segments or supported < self.settings.scoring.fallback_min_supported * report.sentences:
            quotes = rank_segments(check_answer(self.extractive.draft(ctx), sources, self.index, self.embed,
                                                self.settings.scoring)[0], ranked)
            if not quotes:
                return self.refuse(question, sources, engine, "neither the draft nor any quote passed the check", filters)
            text, cits = build_citations(quotes, sources)
            return Answer(text=text, citations=cits, engine=f"{engine.name}→extractive", checked=report, draft=draft,
                          fallback=f"{supported} of {report.sentences} generated sentences were supported", **base)  # type: ignore[arg-type]
        text, cits = build_citations(segments, sources)
        return Answer(text=text, citations=cits, engine=engine.name, checked=report, draft=draft, **base)  # type: ignore[arg-type]

    def partial(self, question: str, draft: str, sources: list[Source], engine: Engine) -> Answer | None:
        """The checked complete sentences of a streaming draft (None if none yet).

        Only checked sentences are ever shown, even while the model is still writing."""
        spans = sentence_spans(draft)
        if len(spans) < 2 or not strip_markers(draft[: spans[-2][1]]):
            return None
        segments, report, _ = check_answer(draft[: spans[-2][1]], sources, self.index, self.embed, self.settings.scoring)
        if not segments:
            return None
        text, cits = build_citations(segments, sources)
        return Answer(question=question, text=text, citations=cits, engine=engine.name, sources=sources,
                      checked=report, partial=True)
