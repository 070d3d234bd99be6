"""Numbered sources -> an engine -> a checked `Answer`.

Engines:
- `extractive`: quotes the most relevant sentences of the retrieved abstracts
  verbatim, each with its `[n]`. No model writes text, so nothing can be invented.
- `openai`: any OpenAI-compatible endpoint; `llama-cpp`: a local GGUF (by default the
  bundled Gemma 3 270M). Their text goes through `citations.check_answer`; when too
  little of it survives, the extractive answer is returned instead, with `fallback` set.
Refusal is decided here from retrieval and evidence scores, before any model is
called, so a weak model cannot talk itself into an answer.
Not here: retrieval (retrieve.py), how a claim is checked (citations.py).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import prompts
from .citations import Segment, SentenceHit, SentenceIndex, attach_markers, build_citations, check_answer
from .errors import EngineError
from .settings import Settings
from .text import names, numbers, question_names, sentence_spans
from .types import Answer, CheckReport, Source

DraftCallback = Callable[[str], None]
REFUSAL = "The indexed papers do not answer this question."
_QUANTITY = re.compile(
    r"\b(how (much|many|fast|large|long|big)|by how|what (percentage|percent|fraction|proportion|accuracy|"
    r"score|speed-?up|improvement|rate)|\d)", re.I
)

_NUMBER_WORDS = re.compile(
    r"\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|fifty|hundreds?|thousands?|millions?|dozens?)\b",
    re.I,
)
_DEFINE = re.compile(
    r"^\s*(what|who)\s+(is|are|was|were)\b|^\s*what does\b.*\bdo\b|^\s*how does\b.*\bwork\b|^\s*(describe|explain)\b",
    re.I,
)
_INTRO = re.compile(
    r"\b(we (propose|introduce|present|develop|call|dub|name|term)|called|named|dubbed|termed|is an?|are)\b", re.I
)
_MULTI = re.compile(
    r"\b(which|what|list|name|compare)\b.{0,40}\b(papers|works|studies|methods|approaches|benchmarks|models|frameworks)\b"
    r"|\b(compare|compares|compared|comparison|versus|vs\.?|differ|differs|difference between)\b",
    re.I,
)
_BOILERPLATE = re.compile(
    r"https?://|github\.com|\bcode (and [\w ]+ )?(is|are) (publicly |now )?(available|released)|\bproject page\b", re.I
)
_ANAPHOR = re.compile(r"^(This|These|It|Such|They|Its|Their)\b")


def _defang(text: str) -> str:
    """Paper text cannot open or close a source block of its own."""
    return re.sub(r"<(/?)\s*source", r"‹\1source", text, flags=re.I)


def format_sources(sources: list[Source], budget_tokens: int, count: Callable[[str], int]) -> str:
    """The numbered, delimited source block, trimmed to fit `budget_tokens`.

    Sources are dropped from the end (lowest ranked) and, if one alone is too long,
    its abstract is cut at a sentence boundary.
    """
    blocks: list[str] = []
    used = 0
    for n, s in enumerate(sources, start=1):
        title = _defang(s.paper.title).replace('"', "'")
        head, tail = f'<source n="{n}" title="{title}">\n', "\n</source>"
        body = _defang(s.paper.abstract)
        cost = count(head + body + tail)
        if used + cost > budget_tokens:
            room = budget_tokens - used - count(head + tail)
            if blocks or room < 40:
                break
            sentences = re.split(r"(?<=[.!?])\s+", body)
            cut = ""
            for sent in sentences:
                if count(cut + " " + sent) > room:
                    break
                cut = (cut + " " + sent).strip()
            body, cost = cut, count(head + cut + tail)
        blocks.append(head + body + tail)
        used += cost
    return "\n".join(blocks)


def missing_names(question: str, sources: list[Source]) -> list[str]:
    """Distinctive names in the question that no retrieved paper mentions."""
    text = " ".join(f"{s.paper.title} {s.paper.abstract}" for s in sources).lower()
    out = []
    for n in names(question):
        low = n.lower()
        if low not in text and low.rstrip("s") not in text:
            out.append(n)
    return out


class AnswerPipeline:
    """Turns a question and its retrieved sources into a checked `Answer`."""

    def __init__(self, settings: Settings, index: SentenceIndex) -> None:
        self.settings = settings
        self.index = index
        self._llama: Any = None
        self._openai: Any = None
        self._tokenizer: Any = None
        self._llama_lock = threading.Lock()

    # ---- evidence and the extractive engine ------------------------------------
    def rank_sentences(self, question: str, qvec: np.ndarray, sources: list[Source]) -> list[tuple[float, SentenceHit]]:
        """Source sentences ranked for answering: similarity and overlap with the question,
        paper rank, the question's names, and what kind of answer it asks for."""
        hits = self.index.score(qvec, question, sources)
        wants_number = bool(_QUANTITY.search(question))
        defining = bool(_DEFINE.search(question))
        qnames = [n.lower() for n in question_names(question)]
        ranked = []
        for h in hits:
            adj = h.score + ((0.08, 0.04)[h.source] if h.source < 2 else 0.0)
            low = h.text.lower()
            if wants_number and (numbers(h.text) - numbers(question) or _NUMBER_WORDS.search(h.text)):
                adj += 0.15
            named = any(n in low for n in qnames)
            if named:
                adj += 0.10
            if defining and _INTRO.search(h.text) and (named or not qnames):
                adj += 0.12
            if _BOILERPLATE.search(h.text):
                adj -= 0.30
            ranked.append((adj, h))
        ranked.sort(key=lambda t: t[0], reverse=True)
        return ranked

    def refusal_reason(self, question: str, sources: list[Source], ranked: list[tuple[float, SentenceHit]]) -> str | None:
        if not sources or not ranked:
            return "nothing is indexed" if not sources else "the retrieved papers have no sentences"
        gone = missing_names(question, sources)
        if gone:
            return f"no retrieved paper mentions {', '.join(sorted(gone))}"
        qnames = question_names(question)
        top = f"{sources[0].paper.title} {sources[0].paper.abstract}".lower()
        if qnames and all(n.lower() in top for n in qnames):
            return None  # the question names what the top paper is about ("What is DoC?")
        best_dense = max(s.dense for s in sources)
        if best_dense < self.settings.min_dense:
            return f"best chunk similarity {best_dense:.2f} < {self.settings.min_dense}"
        best = ranked[0][1].score
        if best < self.settings.min_evidence:
            return f"best sentence score {best:.2f} < {self.settings.min_evidence}"
        return None

    def extractive_segments(self, question: str, ranked: list[tuple[float, SentenceHit]], sources: list[Source]) -> list[Segment]:
        """Verbatim sentences: from the best paper, or one per paper when several are asked for."""
        ranked = [(adj, h) for adj, h in ranked if not _BOILERPLATE.search(h.text)] or ranked
        best_adj, best = ranked[0]
        chosen = [best]
        multi = bool(_MULTI.search(question))
        qnames = [n.lower() for n in question_names(question)]
        named = {  # papers the question names ("compare Tree-Planner with SequenceMatch")
            i for i, src in enumerate(sources)
            if any(n in f"{src.paper.title} {src.paper.abstract}".lower() for n in qnames)
        }
        for adj, h in ranked[1:]:
            if len(chosen) >= self.settings.max_answer_sentences:
                break
            same = [c for c in chosen if c.source == h.source]
            if multi:  # one sentence from each of the papers that answer nearly as well
                ok = not same and (adj >= 0.65 * best_adj or (h.source in named and best.source in named))
            else:  # one paper: precise citations first
                ok = bool(same) and adj >= 0.75 * best_adj
            if ok and h.score >= self.settings.min_evidence:
                chosen.append(h)
        chosen = self._with_antecedents(chosen, ranked) if not multi else chosen
        strength = {id(c): k for k, c in enumerate(chosen)}
        order = {c.source: k for k, c in reversed(list(enumerate(chosen)))}
        chosen.sort(key=lambda c: (order[c.source], c.start))
        segments = []
        for c in chosen:
            text = c.text
            if multi:  # "which papers ...?" is answered with the papers' titles
                text = f"{sources[c.source].paper.title.rstrip('.')}: {text}"
            segments.append(Segment(text, [(c.source, c.start, c.end)], priority=strength[id(c)]))
        return segments

    @staticmethod
    def _with_antecedents(chosen: list[SentenceHit], ranked: list[tuple[float, SentenceHit]]) -> list[SentenceHit]:
        """Add the previous sentence before one that opens with a pronoun ("This ...")."""
        by_pos = {(h.source, h.start): h for _, h in ranked}
        out = list(chosen)
        for c in chosen:
            if not _ANAPHOR.match(c.text):
                continue
            prev = max(
                (h for (src, start), h in by_pos.items() if src == c.source and h.end <= c.start),
                key=lambda h: h.end,
                default=None,
            )
            if prev is not None and all((p.source, p.start) != (prev.source, prev.start) for p in out):
                out.append(prev)
        return out

    # ---- generative engines -------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        if self._tokenizer is None:
            import tiktoken  # its cl100k file is the one llama-index bundles (see models.py)

            self._tokenizer = tiktoken.get_encoding("cl100k_base")
        return len(self._tokenizer.encode(text, disallowed_special=()))

    def generate(self, engine: str, question: str, sources: list[Source], on_draft: DraftCallback | None = None) -> str:
        """The engine's unchecked draft; `on_draft` receives the growing text as it streams."""
        budget = self.settings.local_context_tokens if engine == "llama-cpp" else self.settings.context_tokens
        block = format_sources(sources, budget, self.count_tokens)
        if engine == "openai":
            return self._generate_openai(question, block, on_draft)
        if engine == "llama-cpp":
            return self._generate_llama(question, block, on_draft)
        raise EngineError(f"Unknown generative engine {engine!r}: expected openai or llama-cpp.")

    def openai_client(self) -> Any:
        s = self.settings
        if self._openai is None:
            if not (s.openai_api_key or s.openai_base_url):
                raise EngineError(
                    "The openai engine needs OPENAI_API_KEY (and OPENAI_BASE_URL for a local or "
                    "other OpenAI-compatible server). Set them, or use --engine extractive."
                )
            from openai import OpenAI

            self._openai = OpenAI(
                api_key=s.openai_api_key or "not-needed",
                base_url=s.openai_base_url,
                timeout=s.openai_timeout,
                max_retries=1,
            )
        return self._openai

    def chat(self, messages: list[dict[str, str]], on_draft: DraftCallback | None = None) -> str:
        """One chat completion from the OpenAI-compatible endpoint, streamed when asked."""
        s = self.settings
        client = self.openai_client()
        try:
            if on_draft is None:
                resp = client.chat.completions.create(
                    model=s.openai_model, messages=messages, temperature=s.temperature, max_tokens=s.max_new_tokens
                )
                return (resp.choices[0].message.content or "").strip()
            text = ""
            stream = client.chat.completions.create(
                model=s.openai_model, messages=messages, temperature=s.temperature,
                max_tokens=s.max_new_tokens, stream=True,
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
                    on_draft(text)
            return text.strip()
        except Exception as e:  # network, auth, model name...
            raise EngineError(
                f"The OpenAI-compatible endpoint {s.openai_base_url or 'api.openai.com'} failed: {e}. "
                "Check OPENAI_BASE_URL, OPENAI_API_KEY and RAG_OPENAI_MODEL."
            ) from e

    def _generate_openai(self, question: str, block: str, on_draft: DraftCallback | None) -> str:
        s = self.settings
        return self.chat(
            [
                {"role": "system", "content": prompts.render("answer_system.md", s)},
                {"role": "user", "content": prompts.render("answer_user.md", s, sources=block, question=question)},
            ],
            on_draft,
        )

    def _generate_llama(self, question: str, block: str, on_draft: DraftCallback | None) -> str:
        prompt = prompts.render("answer_completion.md", self.settings, sources=block, question=question)
        return self.complete(prompt, stop=["\n\n", "Question:", "Sources:", "<source"], on_draft=on_draft)

    def complete(self, prompt: str, *, stop: list[str], on_draft: DraftCallback | None = None) -> str:
        """A plain completion from the local model (loaded on first use), streamed when asked."""
        from .models import load_llama

        with self._llama_lock:  # llama.cpp contexts are not thread-safe
            if self._llama is None:
                self._llama = load_llama(self.settings)
            kwargs: dict[str, Any] = dict(
                max_tokens=self.settings.max_new_tokens, temperature=self.settings.temperature, stop=stop
            )
            try:
                if on_draft is None:
                    out = self._llama.create_completion(prompt, **kwargs)
                    return str(out["choices"][0]["text"]).strip()
                text = ""
                for chunk in self._llama.create_completion(prompt, stream=True, **kwargs):
                    text += str(chunk["choices"][0]["text"])
                    on_draft(text)
                return text.strip()
            except (ValueError, RuntimeError) as e:  # e.g. a prompt longer than the context window
                raise EngineError(f"The local model failed: {e}. Lower RAG_LOCAL_CONTEXT_TOKENS or raise RAG_LLAMA_N_CTX.") from e

    def partial_answer(self, question: str, draft: str, sources: list[Source], engine: str) -> Answer | None:
        """The checked complete sentences of a streaming draft (None if none yet).

        Only checked sentences are ever shown, even while the model is still writing.
        """
        draft = attach_markers(draft)
        spans = sentence_spans(draft)
        if len(spans) < 2:
            return None
        complete = draft[: spans[-2][1]]
        segments, report, _ = check_answer(complete, sources, self.index)
        if not segments:
            return None
        text, cits = build_citations(segments, sources)
        return Answer(question=question, text=text, citations=cits, engine=engine, sources=sources,
                      checked=report, partial=True)

    def refuse(self, question: str, sources: list[Source], engine: str, reason: str) -> Answer:
        generative = engine in ("openai", "llama-cpp")
        return Answer(question=question, text=REFUSAL, refused=True, engine=engine, sources=sources,
                      notes=[f"refused: {reason}"], checked=CheckReport() if generative else None)

    # ---- the whole step --------------------------------------------------------------
    def answer(
        self, question: str, qvec: np.ndarray, sources: list[Source], engine: str,
        on_draft: DraftCallback | None = None,
    ) -> Answer:
        t0 = time.perf_counter()
        ranked = self.rank_sentences(question, qvec, sources)
        reason = self.refusal_reason(question, sources, ranked)
        generative = engine in ("openai", "llama-cpp")
        if reason is not None:
            return self.refuse(question, sources, engine, reason)
        if not generative:
            text, cits = build_citations(self.extractive_segments(question, ranked, sources), sources)
            return Answer(question=question, text=text, citations=cits, engine="extractive", sources=sources)
        draft = self.generate(engine, question, sources, on_draft)
        t_gen = time.perf_counter()
        segments, report, notes = check_answer(draft, sources, self.index)
        notes.insert(0, f"draft: {draft}")  # debug only: Answer.notes is never serialised or shown
        timings = {"generate": (t_gen - t0) * 1000, "check": (time.perf_counter() - t_gen) * 1000}
        if not segments or (report.kept + report.recited) * 2 < report.sentences:
            segments = self.extractive_segments(question, ranked, sources)
            text, cits = build_citations(segments, sources)
            return Answer(
                question=question, text=text, citations=cits, engine=f"{engine}→extractive",
                sources=sources, checked=report, notes=notes, timings_ms=timings,
                fallback=f"{report.kept + report.recited} of {report.sentences} generated sentences were supported",
            )
        text, cits = build_citations(segments, sources)
        return Answer(question=question, text=text, citations=cits, engine=engine, sources=sources,
                      checked=report, notes=notes, timings_ms=timings)
