"""`Assistant`: the one object the API, CLI, UI and evals all use.

It owns the store, the lexical index, the embedding model, the retriever and the answerer,
built once from one `Settings`; engines are built on first use or injected
(`Assistant.open(settings, engine=...)`, how tests script a model). On first use with an
empty collection it ingests the bundled corpus (when `settings.auto_ingest`), so a fresh
checkout answers at once. `ask` and `retrieve` prepare the query the same way (follow-up
rewrite, then injected instructions removed), and `ask` reports the sources it searched.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import prompting
from .answer import Answerer
from .citations import Segment
from .corpus import CorpusRead, read_path
from .engines import Cancelled, Engine, build_engine
from .errors import EngineError, UsageError
from .evidence import SentenceIndex
from .followup import condense_rule, history_text, is_followup, previous_papers, validate_history
from .ingest import ingest
from .lexical import Lexical
from .models import Embedder
from .retrieve import HybridRetriever
from .settings import Settings, apply_offline_environment
from .store import Store, listed_paper
from .text import content_terms, fold, looks_like_instruction, sentence_spans, strip_instructions
from .types import Answer, CheckReport, Filters, IngestReport, Paper, Source
from .validate import validate_engine, validate_filters, validate_k, validate_question


class Assistant:
    """Ask questions about an indexed paper collection and get checked, cited answers."""

    def __init__(self, settings: Settings, *, progress: bool = True, embedder: Embedder | None = None,
                 engine: Engine | None = None) -> None:
        apply_offline_environment()
        self.settings = settings
        self.progress = progress
        self.embedder = embedder or Embedder(settings)
        self.store = Store(settings, self.embedder.signature())
        self.lexical = Lexical(settings, self.store)
        self._write_lock = threading.Lock()
        # The library listing, kept per version stamp (listing 100K papers takes seconds, and any
        # write changes the stamp) as plain strings with folded search keys, not Paper objects.
        self._listing: tuple[str, list[tuple[Any, ...]], list[str]] | None = None
        self._listing_lock = threading.Lock()
        self._engines: dict[str, Engine] = {}
        self._default_engine = engine
        if engine is not None:
            self._engines[engine.name] = engine
        if self.store.paper_count() == 0 and settings.auto_ingest:
            if progress:
                print(f"Building the index from {settings.default_corpus} ...", file=sys.stderr)
            self.ingest(settings.default_corpus)
        self.lexical.sync()
        self.retriever = HybridRetriever(settings, self.store, self.lexical, self.embedder)
        self.index = SentenceIndex(self.store, settings.scoring)
        self._verifier: Any = None
        self._verifier_tried = False
        self.answerer = Answerer(settings, self.index, self.embedder.encode, verifier=self.verifier)

    @classmethod
    def open(cls, settings: Settings | None = None, *, progress: bool = True, embedder: Embedder | None = None,
             engine: Engine | None = None) -> Assistant:
        """Open (and on first use build) the index described by `settings`.

        `embedder` lets several assistants share one loaded model; `engine` replaces the
        configured engine (e.g. a scripted one in tests)."""
        return cls(settings or Settings(), progress=progress, embedder=embedder, engine=engine)

    def close(self) -> None:
        self.lexical.close()
        self.store.close()

    # ---- the library ------------------------------------------------------------------------
    def ingest(self, *paths: str | Path, replace: bool = False, prune: bool = False, progress: bool | None = None,
               on_progress: Callable[[float, str], None] | None = None) -> IngestReport:
        """Add the papers of `paths` (files or directories; default: the bundled corpus); idempotent."""
        read = CorpusRead()
        for p in paths or (self.settings.default_corpus,):
            read.extend(read_path(p, self.settings))
        return self.ingest_read(read, replace=replace, prune=prune, progress=progress, on_progress=on_progress)

    def ingest_read(self, read: CorpusRead, *, replace: bool = False, prune: bool = False, progress: bool | None = None,
                    on_progress: Callable[[float, str], None] | None = None) -> IngestReport:
        """Store papers already read (the CLI reads and checks files before loading any model)."""
        with self._write_lock:
            return ingest(read, settings=self.settings, store=self.store, lexical=self.lexical, embedder=self.embedder,
                          replace=replace, prune=prune, progress=self.progress if progress is None else progress,
                          on_progress=on_progress)

    def remove(self, paper_ids: list[str]) -> list[str]:
        """Delete papers everywhere (chunks, sentences, lexical index); returns the ids removed."""
        with self._write_lock, self.store.writing():
            found = list(self.store.get_papers(list(paper_ids)))
            missing = [p for p in paper_ids if p not in found]
            if missing:
                raise UsageError(f"No paper with id {', '.join(missing)}: `rag papers` lists the ids.")
            self.store.remove_papers(found)
            self.lexical.remove(found)
            before = self.store.version()
            stamp = self.store.bump_version()
            if self.lexical.meta("version") == before:
                self.lexical.set_meta("version", stamp)
        return found

    def papers(self, search: str = "") -> list[Paper]:
        """The stored papers (without abstracts), in title order; `search` keeps those whose
        title, id, authors or source contain it (ignoring case and accents)."""
        return self.library(search)[0]

    def library(self, search: str = "", limit: int | None = None) -> tuple[list[Paper], int]:
        """The first `limit` papers `papers(search)` would give, and how many there are. The
        listing is read once per version stamp, so searching a large library does not re-read
        the store."""
        stamp = self.store.version()
        listing = self._listing
        if listing is None or listing[0] != stamp:
            with self._listing_lock:  # one reader re-reads the store; the others wait for its listing
                listing = self._listing
                if listing is None or listing[0] != stamp:
                    rows = self.store.listing()
                    keys = [fold(" ".join(str(v or "") for v in (r[1], r[0], r[2], r[5]))).lower() for r in rows]
                    listing = (stamp, rows, keys)
                    self._listing = listing
        needle = fold(search).lower().strip()
        found = listing[1] if not needle else [r for r, key in zip(listing[1], listing[2]) if needle in key]
        return [listed_paper(r) for r in found[:limit]], len(found)

    def paper(self, paper_id: str) -> Paper | None:
        """One stored paper with its abstract."""
        return self.store.get_papers([paper_id]).get(paper_id)

    # ---- questions ------------------------------------------------------------------------------
    def engine(self, name: str | Engine | None = None) -> Engine:
        """The engine called `name` (default: the injected or configured one); an `Engine`
        object is used as it is."""
        if name is not None and not isinstance(name, str):
            return name
        if name is None and self._default_engine is not None:
            return self._default_engine
        resolved = validate_engine(name, self.settings)
        if resolved not in self._engines:
            self._engines[resolved] = build_engine(resolved, self.settings)
        return self._engines[resolved]

    def prepare(self, question: str, history: list[Any] | None, engine: Engine) -> tuple[str, str]:
        """(standalone question, search query): the follow-up rewrite, then instructions removed."""
        standalone = self.standalone(question, history, engine)
        return standalone, strip_instructions(standalone)

    def standalone(self, question: str, history: list[Any] | None, engine: Engine) -> str:
        """`question` rewritten to stand alone, given the previous turns (see followup.py)."""
        if not history:
            return question
        rule = condense_rule(question, history)
        if not is_followup(question):
            return rule
        try:
            text = engine.rewrite(prompting.render("condense.md", self.settings, history=history_text(history),
                                                   question=question))
        except EngineError:
            return rule
        text = (text or "").strip().strip('"').splitlines()[0].strip() if (text or "").strip() else ""
        # The rewrite is model text: use it only if it is a plausible question about the
        # same things as the conversation, never instructions; else the rule's rewrite.
        context = content_terms(question + " " + history_text(history))
        if (3 <= len(text) <= self.settings.max_question_chars and not looks_like_instruction(text)
                and content_terms(text) and content_terms(text) <= context | content_terms(rule)):
            return text
        return rule

    def retrieve(self, question: str, *, k: int | None = None, history: list[Any] | None = None,
                 filters: Filters | dict[str, Any] | None = None, engine: str | Engine | None = None) -> list[Source]:
        """The top-k papers for `question` (prepared as `ask` prepares it), best first."""
        q = validate_question(question, self.settings)
        turns = validate_history(history)
        standalone, query = self.prepare(q, turns, self.engine(engine))
        if not query:
            return []
        self.lexical.sync()
        return self.retriever.retrieve(query, k=validate_k(k, self.settings), filters=validate_filters(filters),
                                       prefer=previous_papers(turns) if standalone != q else None)

    def ask(
        self,
        question: str,
        *,
        engine: str | Engine | None = None,
        k: int | None = None,
        history: list[Any] | None = None,
        filters: Filters | dict[str, Any] | None = None,
        on_text: Callable[[str], None] | None = None,
        on_sources: Callable[[list[Source], Engine], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Answer:
        """Answer `question` with numbered, checked citations (or refuse).

        `history` holds the previous turns (`Answer`s or their JSON dicts): a follow-up is
        rewritten into a standalone query first, reported as `answer.standalone`. `filters`
        restricts the papers (years, authors, paper ids). `on_text` receives a generative
        engine's unchecked draft as it streams (for progress only); `cancel` stops it."""
        t0 = time.perf_counter()
        q = validate_question(question, self.settings)
        eng = self.engine(engine)
        k = validate_k(k, self.settings)
        flt = validate_filters(filters)
        turns = validate_history(history)
        standalone, query = self.prepare(q, turns, eng)
        if not query:
            answer = self.answerer.refuse(q, [], eng, "the question holds only instructions")
            answer.timings_ms = {"retrieve": 0.0, "answer": 0.0, "total": (time.perf_counter() - t0) * 1000}
            return answer
        self.lexical.sync()
        qvec = self.embedder.encode([query])[0]
        prefer = previous_papers(turns) if standalone != q else None  # a follow-up is about the previous answer's papers
        sources = self.retriever.retrieve(query, k=k, query_vec=qvec, filters=flt, prefer=prefer)
        if on_sources is not None:
            on_sources(sources, eng)
        t1 = time.perf_counter()
        answer = self.answerer.answer(query, qvec, sources, eng, on_text=on_text, cancel=cancel, filters=flt)
        t2 = time.perf_counter()
        answer.question = q
        if standalone != q:
            answer.standalone = standalone
        answer.timings_ms = {"retrieve": (t1 - t0) * 1000, "answer": (t2 - t1) * 1000, "total": (t2 - t0) * 1000,
                             **answer.timings_ms}
        return answer

    def sources_for(self, paper_ids: list[str]) -> list[Source]:
        """Stored papers as numbered sources, in the order given (for checking a text against them)."""
        found = self.store.get_papers(paper_ids)
        return [Source(rank=i, paper=found[p], score=0.0) for i, p in enumerate((p for p in paper_ids if p in found), start=1)]

    def verifier(self) -> Any:
        """The claim verifier (loaded on first use), or None when it is off or not trained
        (`rag train-verifier`); the check then uses the claim judge."""
        if not self._verifier_tried:
            from .models import build_verifier

            self._verifier_tried = True
            self._verifier = build_verifier(self.settings, self.embedder)
            if self._verifier is None and self.settings.verifier:
                print("note: the claim verifier is not trained (run `rag train-verifier`); checking with the claim judge.",
                      file=sys.stderr)
        return self._verifier

    def check(self, draft: str, sources: list[Source]) -> tuple[list[Segment], CheckReport, list[str]]:
        """The citation check as generated answers get it: each sentence of `draft` (with `[n]`
        markers into `sources`) kept, re-cited or dropped."""
        return self.answerer.check(draft, sources)

    def ask_stream(self, question: str, *, cancel: threading.Event | None = None,
                   on_stage: Callable[[str], None] | None = None, **kwargs: Any) -> Iterator[Answer]:
        """Like `ask`, but first yields partial answers (`partial=True`) made of the draft's
        sentences checked so far; the last item is the final checked `Answer`. Unchecked model
        text is never yielded. Closing the iterator (or setting `cancel`) stops the engine.
        `on_stage` hears "retrieving", then "quoting" or "generating", then "checking"."""
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        cancel = cancel or threading.Event()
        stage = on_stage or (lambda s: None)

        def sources_found(s: list[Source], e: Engine) -> None:
            stage("generating" if e.generative else "quoting")
            events.put(("sources", (s, e)))

        def work() -> None:
            try:
                stage("retrieving")
                events.put(("answer", self.ask(question, on_text=lambda t: events.put(("draft", t)),
                                               on_sources=sources_found, cancel=cancel, **kwargs)))
            except BaseException as e:  # handed to the caller's thread
                events.put(("error", e))

        threading.Thread(target=work, daemon=True).start()
        shown = 0
        sources: list[Source] = []
        engine: Engine | None = None
        try:
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
                done = max(0, len(sentence_spans(value)) - 1)  # a new complete sentence: check it
                if done > shown and sources and engine is not None:
                    shown = done
                    stage("checking")
                    part = self.answerer.partial(question, value, sources, engine)
                    if part is not None:
                        yield part
        finally:
            cancel.set()  # the consumer went away (closed tab, Stop): stop generating


__all__ = ["Assistant", "Cancelled"]
