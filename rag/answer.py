"""Numbered sources -> the refusal gate -> an engine's draft -> a checked `Answer`.

Refusal is decided here, before any engine is asked, so no model can talk itself into an
answer: first by rules (a name no retrieved paper mentions; evidence that lacks the kind of
answer asked for: a number, a name, a cause), then by a logistic gate over retrieval and
evidence scores. A generative draft goes through the citation
check; when too little of it survives (`fallback_min_supported`), the extractive answer
is returned instead, with `fallback` saying why.
Not here: retrieval (retrieve.py), evidence scores (evidence.py), engines (engines.py),
how a claim is checked (citations.py).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .citations import Segment, build_citations, check_answer, strip_markers
from .compose import missing_sides, rank_segments
from .engines import DraftContext, Engine, Extractive, TextCallback
from .evidence import FEATURES, SentenceHit, SentenceIndex, Signals, compared_papers, rank_for_question, signals
from .settings import Settings
from .text import asks_multiple, is_name, mentions, question_names, question_parts, sentence_spans
from .types import Answer, CheckReport, Filters, Source

REFUSAL = "The indexed papers do not answer this question."
Ranked = list[tuple[float, SentenceHit]]


class Answerer:
    """Turns a question and its retrieved sources into a checked `Answer`."""

    def __init__(self, settings: Settings, index: SentenceIndex, embed: Callable[[list[str]], np.ndarray],
                 verifier: Callable[[], Any] = lambda: None) -> None:
        self.settings = settings
        self.index = index
        self.embed = embed
        self.verifier = verifier  # loads the claim verifier on first use (None: the claim judge decides)
        self.extractive = Extractive(settings)

    def check(self, draft: str, sources: list[Source], generative: bool = True) -> tuple[list[Segment], CheckReport, list[str]]:
        """The citation check; quotes (extractive drafts) need no verifier."""
        return check_answer(draft, sources, self.index, self.embed, self.settings.scoring,
                            self.verifier() if generative else None)

    def rule_refusal(self, question: str, sources: list[Source], ranked: Ranked) -> str | None:
        """Refusals by rule, before any score: nothing found, or a name no retrieved paper uses."""
        if not sources or not ranked:
            return "nothing in the index matches" if not sources else "the retrieved papers have no sentences"
        gone = [n for n in question_names(question)
                if not any(mentions(f"{s.paper.title} {s.paper.abstract}", n) for s in sources)]
        if gone:
            return f"no retrieved paper mentions {', '.join(sorted(gone))}"
        qnames = {n for n in question_names(question) if is_name(n)}  # distinctive names only: "GPT-4", not "Bayesian"
        if len(qnames) > 1 and not asks_multiple(question) and len(compared_papers(question, sources, owners_only=True)) < 2 and not any(
                all(mentions(f"{s.paper.title} {s.paper.abstract}", n) for n in qnames) for s in sources):
            return f"no single paper mentions {', '.join(sorted(qnames))} together"
        return None

    def slot_refusal(self, sig: Signals) -> str | None:
        """Refusals by the kind of answer asked for, which the evidence must carry."""
        sc = self.settings.scoring
        if sc.require_number and sig.asks_number and not sig.typed:
            return "it asks for a number, and no retrieved sentence gives one for what it counts"
        if sc.require_reason and sig.asks_reason and not sig.gives_reason:
            return "it asks why, and no retrieved sentence gives a cause or a mechanism"
        if sc.require_means and sig.asks_means and not sig.gives_means:
            return "it asks how, and the sentences an answer would quote give no means ('by', 'via', 'using' ...)"
        if sc.require_name and sig.asks_name and sig.gives_name is False:
            return "it asks which one, and no retrieved sentence names one where it speaks of it"
        return None

    def refusal_rules(self, question: str, sources: list[Source], ranked: Ranked) -> tuple[str | None, Signals | None]:
        """The rules that refuse before the gate scores anything: (why, or None; the gate's
        signals when they were computed)."""
        rule = self.rule_refusal(question, sources, ranked)
        if rule is not None:
            return rule, None
        sig = signals(question, sources, ranked, sc=self.settings.scoring)
        # A compound question ("How many problems does X hold, and from which platform?") is
        # answered only when the evidence carries what each of its parts asks for.
        why = self.slot_refusal(sig)
        parts = question_parts(question)
        for part in parts[1:] if why is None else []:
            if (why := self.slot_refusal(signals(part, sources, ranked, sc=self.settings.scoring))) is not None:
                return f"one of its {len(parts)} parts is not answered: {why}", sig
        return why, sig

    def gate(self, question: str, sources: list[Source], ranked: Ranked) -> tuple[str | None, float]:
        """(why to refuse or None, the gate's probability that the papers answer the question)."""
        reason, sig = self.refusal_rules(question, sources, ranked)
        if reason is not None or sig is None:
            return reason, 0.0
        sc = self.settings.scoring
        weights = [sc.gate_dense, sc.gate_sentence, sc.gate_evidence, sc.gate_focus, sc.gate_typed, sc.gate_topic,
                   sc.gate_coverage]
        p = 1.0 / (1.0 + math.exp(-(sc.gate_bias + sum(w * x for w, x in zip(weights, sig.vector())))))
        if p < sc.gate_threshold:
            what = ", ".join(f"{n} {v:.2f}" for n, v in zip(FEATURES, sig.vector()))
            return f"the evidence does not answer it (gate {p:.2f} < {sc.gate_threshold}: {what})", p
        return None, p

    def refusal_reason(self, question: str, sources: list[Source], ranked: Ranked) -> str | None:
        return self.gate(question, sources, ranked)[0]

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
        reason, p = self.gate(question, sources, ranked)
        result = (self.refuse(question, sources, engine, reason, filters) if reason is not None
                  else self._answer(question, sources, ranked, engine, on_text, cancel, filters))
        result.confidence = p
        return result

    def _answer(self, question: str, sources: list[Source], ranked: Ranked, engine: Engine,
                on_text: TextCallback | None, cancel: threading.Event | None, filters: Filters | None) -> Answer:
        t0 = time.perf_counter()
        ctx = DraftContext(question, sources, ranked, cancel)
        draft = engine.draft(ctx, on_text)
        t_gen = time.perf_counter()
        segments, report, notes = self.check(draft, sources, engine.generative)
        segments = rank_segments(segments, ranked)
        timings = {"generate": (t_gen - t0) * 1000, "check": (time.perf_counter() - t_gen) * 1000}
        base = dict(question=question, sources=sources, notes=notes, timings_ms=timings,
                    filters=str(filters) if filters is not None and filters.active() else None)
        if not engine.generative:
            if not segments:
                return self.refuse(question, sources, engine, "no quoted sentence passed the check", filters)
            text, cits = build_citations(segments + missing_sides(question, sources), sources)
            return Answer(text=text, citations=cits, engine=engine.name, **base)  # type: ignore[arg-type]
        supported = report.kept + report.recited
        if not segments or supported < self.settings.scoring.fallback_min_supported * report.sentences:
            quotes = rank_segments(self.check(self.extractive.draft(ctx), sources, False)[0], ranked)
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
        segments, report, _ = self.check(draft[: spans[-2][1]], sources)
        if not segments:
            return None
        text, cits = build_citations(segments, sources)
        return Answer(question=question, text=text, citations=cits, engine=engine.name, sources=sources,
                      checked=report, partial=True)
