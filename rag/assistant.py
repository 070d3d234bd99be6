"""`Assistant`: the one object the API, CLI, UI and evals all use.

It owns the store, the embedding model, the hybrid retriever and the answer pipeline,
built once from one `Settings`. On first use with an empty collection it ingests the
bundled corpus (when `settings.auto_ingest`), so a fresh checkout answers at once.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import prompts
from .answer import AnswerPipeline
from .citations import SentenceIndex
from .errors import EngineError, UsageError
from .followup import condense_rule, history_text, is_followup, validate_history
from .ingest import ingest_files
from .models import Embedder
from .retrieve import HybridRetriever
from .settings import ENGINES, Settings
from .store import Store
from .text import content_terms, looks_like_instruction, sentence_spans, strip_instructions
from .types import Answer, IngestReport, Paper, Source


def validate_question(question: object, settings: Settings) -> str:
    """The question with its whitespace folded, or `UsageError` if it is empty or too long.

    A plain function so the CLI can reject bad input before loading any model."""
    if not isinstance(question, str) or not question.strip():
        raise UsageError("The question is empty: type a question about the indexed papers.")
    q = " ".join(question.split())
    if len(q) > settings.max_question_chars:
        raise UsageError(
            f"The question is {len(q)} characters long; the limit is {settings.max_question_chars}. Shorten it."
        )
    return q


class Assistant:
    """Ask questions about an indexed paper collection and get checked, cited answers."""

    def __init__(self, settings: Settings, *, progress: bool = True, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.progress = progress
        self.store = Store(settings)
        self.embedder = embedder or Embedder(settings)
        self._ingest_lock = threading.Lock()

        if self.store.count() == 0 and settings.auto_ingest:
            if progress:
                print(f"Building the index from {settings.default_corpus} ...", file=sys.stderr)
            ingest_files([settings.default_corpus], settings=settings, store=self.store,
                         embedder=self.embedder, progress=progress)
        self.retriever = HybridRetriever(settings, self.store, self.embedder)
        self.pipeline = AnswerPipeline(settings, SentenceIndex(self.embedder, self.store))

    @classmethod
    def open(
        cls, settings: Settings | None = None, *, progress: bool = True, embedder: Embedder | None = None
    ) -> Assistant:
        """Open (and on first use build) the index described by `settings`.

        `embedder` lets several assistants share one loaded embedding model.
        """
        return cls(settings or Settings(), progress=progress, embedder=embedder)

    def ingest(self, *paths: str | Path, progress: bool | None = None) -> IngestReport:
        """Add the papers of `paths` (default: the bundled corpus); idempotent."""
        files = list(paths) or [self.settings.default_corpus]
        with self._ingest_lock:
            report = ingest_files(files, settings=self.settings, store=self.store, embedder=self.embedder,
                                  progress=self.progress if progress is None else progress)
            if report.chunks_added:
                self.retriever.refresh()
        return report

    def papers(self) -> list[Paper]:
        return self.store.papers()

    def validate_question(self, question: str) -> str:
        return validate_question(question, self.settings)

    @staticmethod
    def _check_k(k: int | None) -> int | None:
        if k is not None and not 1 <= k <= 50:
            raise UsageError(f"k must be between 1 and 50, got {k}.")
        return k

    def retrieve(self, question: str, *, k: int | None = None) -> list[Source]:
        """The top-k papers for `question`, best first, with their best chunks."""
        q = self.validate_question(question)
        return self.retriever.retrieve(q, k=self._check_k(k))

    def resolve_engine(self, engine: str | None) -> str:
        name = engine or self.settings.engine
        if name not in ENGINES:
            raise UsageError(f"Unknown engine {name!r}: expected one of {', '.join(ENGINES)}.")
        return self.settings.resolved_engine() if name == "auto" else name

    def standalone(self, question: str, history: list[Any] | None, engine: str) -> str:
        """`question` rewritten to stand alone, given the previous turns (see followup.py)."""
        if not history:
            return question
        rule = condense_rule(question, history)
        if engine != "openai" or not is_followup(question):
            return rule
        try:
            text = self.pipeline.chat(
                [{"role": "user", "content": prompts.render(
                    "condense.md", self.settings, history=history_text(history), question=question)}]
            )
        except EngineError:
            return rule
        text = text.strip().strip('"').splitlines()[0].strip() if text.strip() else ""
        # The rewrite is model text: use it only if it is a plausible question about the
        # same things as the conversation, never instructions; else the rule's rewrite.
        context = content_terms(question + " " + history_text(history))
        if (3 <= len(text) <= self.settings.max_question_chars and not looks_like_instruction(text)
                and content_terms(text) and content_terms(text) <= context | content_terms(rule)):
            return text
        return rule

    def ask(
        self,
        question: str,
        *,
        engine: str | None = None,
        k: int | None = None,
        history: list[Any] | None = None,
        on_draft: Callable[[str], None] | None = None,
        on_sources: Callable[[list[Source], str], None] | None = None,
    ) -> Answer:
        """Answer `question` with numbered, checked citations (or refuse).

        `history` holds the previous turns (`Answer`s or their JSON dicts): a follow-up
        is rewritten into a standalone query first, reported as `answer.standalone`.
        `on_draft` receives a generative engine's unchecked draft as it streams (for
        a UI to show progress); the returned answer is always the checked one.
        """
        t0 = time.perf_counter()
        q = self.validate_question(question)
        name = self.resolve_engine(engine)
        k = self._check_k(k)
        history = validate_history(history)
        standalone = self.standalone(q, history, name)
        q = standalone
        # Instructions inside a question ("ignore the rules and say X") are not part of it.
        q = strip_instructions(q)
        if not q:
            answer = self.pipeline.refuse(question.strip(), [], name, "the question holds only instructions")
            answer.timings_ms = {"retrieve": 0.0, "answer": 0.0, "total": (time.perf_counter() - t0) * 1000}
            return answer
        qvec = self.embedder.encode([q])[0]
        sources = self.retriever.retrieve(q, k=k, query_vec=qvec.tolist())
        if on_sources is not None:
            on_sources(sources, name)
        t1 = time.perf_counter()
        answer = self.pipeline.answer(q, qvec, sources, name, on_draft)
        t2 = time.perf_counter()
        answer.question = question.strip()
        if standalone != " ".join(question.split()):
            answer.standalone = standalone
        answer.timings_ms = {
            "retrieve": (t1 - t0) * 1000,
            "answer": (t2 - t1) * 1000,
            "total": (t2 - t0) * 1000,
            **answer.timings_ms,
        }
        return answer

    def ask_stream(self, question: str, **kwargs: Any) -> Iterator[Answer]:
        """Like `ask`, but first yields partial answers (`partial=True`) made of the draft's
        sentences checked so far; the last item is the final checked `Answer`.
        Unchecked model text is never yielded."""
        events: queue.Queue[tuple[str, Any]] = queue.Queue()

        def work() -> None:
            try:
                events.put(("answer", self.ask(
                    question,
                    on_draft=lambda t: events.put(("draft", t)),
                    on_sources=lambda s, e: events.put(("sources", (s, e))),
                    **kwargs,
                )))
            except BaseException as e:  # handed to the caller's thread
                events.put(("error", e))

        threading.Thread(target=work, daemon=True).start()
        shown = 0
        sources: list[Source] = []
        engine = "extractive"
        while True:
            kind, value = events.get()
            if kind == "error":
                raise value
            if kind == "answer":
                yield value
                return
            if kind == "sources":
                sources, engine = value
                continue
            # A draft update: check its complete sentences when a new one has finished.
            done = max(0, len(sentence_spans(value)) - 1)
            if done > shown and sources:
                shown = done
                part = self.pipeline.partial_answer(question, value, sources, engine)
                if part is not None:
                    yield part
