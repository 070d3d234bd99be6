"""Answer engines behind one small interface.

    class Engine(Protocol):
        name: str
        generative: bool
        def draft(self, ctx: DraftContext, on_text=None) -> str     # text with [n] markers
        def rewrite(self, prompt: str) -> str | None                 # a follow-up made standalone

- `Extractive` quotes the best evidence sentences verbatim, each with its `[n]`; nothing is
  invented, so it is the default and the fallback.
- `OpenAICompatible` asks any OpenAI-compatible endpoint (client built in models.py).
- `LlamaCpp` completes with a local GGUF; it owns the loaded model and its lock, and stops
  within one token when `ctx.cancel` is set.
A draft is never shown as it is: answer.py checks it (citations.py) first. Tests plug in a
scripted engine through the same interface (tests/fakes.py).
Not here: the refusal decision (answer.py), the check (citations.py).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import prompting as prompts
from .errors import EngineError
from .evidence import GENERIC_NAMES, SentenceHit, carries, compared_papers, own_names, owns
from .settings import Settings
from .text import (
    ANAPHOR,
    BOILERPLATE,
    CONTEXT,
    NAMING,
    REASON,
    RESULT,
    Ask,
    analyze_question,
    content_terms,
    is_name,
    mentions,
    names,
    question_names,
    question_parts,
    sentences,
)
from .types import Source

TextCallback = Callable[[str], None]


class Cancelled(Exception):
    """The user stopped the answer."""


@dataclass
class DraftContext:
    """What an engine drafts from: the question, the numbered sources, ranked evidence."""

    question: str
    sources: list[Source]
    ranked: list[tuple[float, SentenceHit]] = field(default_factory=list)
    cancel: threading.Event | None = None


class Engine(Protocol):
    name: str
    generative: bool

    def draft(self, ctx: DraftContext, on_text: TextCallback | None = None) -> str: ...

    def rewrite(self, prompt: str) -> str | None: ...


# ---- extractive ---------------------------------------------------------------------------
class Extractive:
    """Verbatim sentences: from the best paper, or one per paper when several are asked for."""

    name = "extractive"
    generative = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def rewrite(self, prompt: str) -> str | None:
        return None

    def draft(self, ctx: DraftContext, on_text: TextCallback | None = None) -> str:
        return " ".join(f"{h.text} [{h.source + 1}]" for h in self.choose(ctx))

    def choose(self, ctx: DraftContext) -> list[SentenceHit]:
        """The answer's sentences, the one that carries the asked-for fact first."""
        ranked = [(adj, h) for adj, h in ctx.ranked if not BOILERPLATE.search(h.text)] or ctx.ranked
        if not ranked:
            return []
        ask = analyze_question(ctx.question)
        if ask.kind == "comparison" or len(compared_papers(ctx.question, ctx.sources, owners_only=True)) > 1:
            return self._sides(ctx, ranked)
        if ask.kind == "list":
            return self._each_paper(ctx, ranked)
        return self._single(ctx, ranked, ask)

    def _single(self, ctx: DraftContext, ranked: list[tuple[float, SentenceHit]], ask: Ask) -> list[SentenceHit]:
        """One paper: the best sentence leads; a sentence naming the method leads instead when the
        question asks which method it is; one more sentence only if it scores close and adds words."""
        sc = self.settings.scoring
        best_adj, lead = ranked[0]
        mine = [(adj, h) for adj, h in ranked if h.source == lead.source]
        if ask.kind == "definition":  # "What is X?": the sentence in which the paper introduces X leads
            lead = _introduces(ctx, mine) or lead
        chosen = [lead]
        if ask.kind == "definition":  # abstracts say what a method is made of right after introducing it
            after = min((h for _, h in mine if h.section == lead.section and h.start >= lead.end), key=lambda h: h.start,
                        default=None)
            reports = bool(RESULT.search(after.text)) and not REASON.search(after.text) if after is not None else True
            if after is not None and not (reports or CONTEXT.search(after.text) or BOILERPLATE.search(after.text)):
                chosen.append(after)
        if ask.kind == "name" and not ask.entity and not _names_itself(lead, ctx.sources):
            naming = next((h for _, h in mine if _names_itself(h, ctx.sources)), None)
            if naming is not None:
                chosen.insert(0, naming)  # "which approach ...?" is answered by the approach's name
        for part in question_parts(ctx.question)[1:]:  # "..., and how many more problems did it solve?"
            best = _answers_part(part, mine, ctx.sources)
            if best is not None and best not in chosen and len(chosen) < self.settings.max_answer_sentences:
                chosen.append(best)
        for adj, h in mine:
            if len(chosen) >= self.settings.max_answer_sentences:
                break
            if h in chosen or adj < sc.single_keep * best_adj or h.score < sc.min_sentence:
                continue
            if content_terms(h.text) <= frozenset().union(*(content_terms(c.text) for c in chosen)):
                continue  # says nothing the chosen sentences do not
            chosen.append(h)
        return _with_antecedents(chosen, ranked)

    def _each_paper(self, ctx: DraftContext, ranked: list[tuple[float, SentenceHit]]) -> list[SentenceHit]:
        """"Which papers ...?": one sentence from each paper that answers nearly as well as the best,
        preferring the sentence in which the paper names itself."""
        sc = self.settings.scoring
        best_adj = ranked[0][0]
        chosen: list[SentenceHit] = []
        for adj, h in ranked:
            if len(chosen) >= self.settings.max_papers_listed or adj < sc.multi_keep * best_adj:
                break
            if any(c.source == h.source for c in chosen):
                continue
            close = [g for a, g in ranked if g.source == h.source and a >= sc.single_keep * adj]
            # the sentence in which the paper says what it introduces, else one that uses its own name
            naming = next((g for g in close if NAMING.search(g.text)), None) or next(
                (g for g in close if _names_itself(g, ctx.sources)), None) or next(
                (g for g in close if _names_something(g.text, ctx.question)), h)  # "..., i.e., OLMoE": names identify
            chosen.append(naming)
        return chosen

    def _sides(self, ctx: DraftContext, ranked: list[tuple[float, SentenceHit]]) -> list[SentenceHit]:
        """A comparison: for each paper the question names, its best sentences on the compared aspect."""
        sc = self.settings.scoring
        chosen: list[SentenceHit] = []
        for i in compared_papers(ctx.question, ctx.sources):
            mine = [(a, h) for a, h in ranked if h.source == i][:2]
            chosen += [h for a, h in mine if a >= sc.single_keep * mine[0][0]]
        return chosen or [ranked[0][1]]


_PART_OVERLAP = 0.5  # a sentence that uses one word of "what softer alternative exists?" ("existing") answers nothing


def _answers_part(part: str, mine: list[tuple[float, SentenceHit]], sources: list[Source]) -> SentenceHit | None:
    """The paper's sentence that best answers one part of a compound question: the share of the
    part's words it uses, plus 1 when it carries the kind of answer the part asks for (a number
    next to what it counts, a name, a cause); ties go to the better-ranked sentence. None when
    no sentence reaches `_PART_OVERLAP`."""
    ask, terms = analyze_question(part), content_terms(part)

    def fit(h: SentenceHit) -> float:
        kind = carries(ask, h.text, part, own_names(sources[h.source])) if ask.kind in ("quantity", "name") else (
            bool(REASON.search(h.text)) if ask.kind == "reason" else False)
        return len(terms & content_terms(h.text)) / max(len(terms), 1) + float(kind)

    scored = [(f, adj, h) for adj, h in mine if (f := fit(h)) >= _PART_OVERLAP]
    return max(scored, key=lambda t: (t[0], t[1]))[2] if scored else None


def _introduces(ctx: DraftContext, mine: list[tuple[float, SentenceHit]]) -> SentenceHit | None:
    """For "What is X?": the sentence in which the paper introduces X ("we propose X", "... Distillation
    (DisBack)"); when X is the paper's own name and no sentence introduces it by name, the first
    sentence in which the paper says what it introduces ("we introduce an approach that ...")."""
    qnames = question_names(ctx.question)
    by_name = next((h for _, h in mine if any(mentions(h.text, n) for n in qnames)
                    and (NAMING.search(h.text) or any(re.search(rf"\(\s*{re.escape(n)}\s*\)", h.text, re.I) for n in qnames))),
                   None)
    if by_name is not None or not mine or not any(owns(ctx.sources[mine[0][1].source], n) for n in qnames):
        return by_name
    return min((h for _, h in mine if NAMING.search(h.text) and h.section == "abstract"), key=lambda h: h.start, default=None)


def _names_something(text: str, question: str) -> bool:
    """The sentence uses a distinctive name the question does not ("OLMoE", "MOREC")."""
    return any(is_name(n) and n.upper() not in GENERIC_NAMES for n in names(text) - names(question))


def _names_itself(h: SentenceHit, sources: list[Source]) -> bool:
    """The sentence uses its paper's own name (its title's short name, or a name it introduces)."""
    return any(mentions(h.text, n) for n in own_names(sources[h.source]) if n.upper() not in GENERIC_NAMES) \
        or bool(NAMING.search(h.text))


def _with_antecedents(chosen: list[SentenceHit], ranked: list[tuple[float, SentenceHit]]) -> list[SentenceHit]:
    """Put the previous sentence before one that opens with a pronoun ("This ...")."""
    out: list[SentenceHit] = []
    for c in chosen:
        if ANAPHOR.match(c.text):
            prev = max((h for _, h in ranked if h.source == c.source and h.section == c.section and h.end <= c.start),
                       key=lambda h: h.end, default=None)
            if prev is not None and all(p.key != prev.key for p in out + chosen):
                out.append(prev)
        out.append(c)
    return out


# ---- the prompt's source block ---------------------------------------------------------------
def _defang(text: str) -> str:
    """Paper text cannot open or close a source block of its own."""
    return re.sub(r"<(/?)\s*source", r"‹\1source", text, flags=re.I)


def format_sources(sources: list[Source], budget_tokens: int, count: Callable[[str], int]) -> str:
    """The numbered, delimited source block, trimmed to fit `budget_tokens`.

    Sources are dropped from the end (lowest ranked) and, if one alone is too long, its
    abstract is cut at a sentence boundary."""
    blocks: list[str] = []
    used = 0
    for n, s in enumerate(sources, start=1):
        title = _defang(s.paper.title).replace('"', "'")
        head, tail = f'<source n="{n}" title="{title}">\n', "\n</source>"
        body = _defang(s.paper.abstract + "".join(f"\n(p. {c.page}) {c.text}" for c in s.chunks if c.page))
        cost = count(head + body + tail)
        if used + cost > budget_tokens:
            room = budget_tokens - used - count(head + tail)
            if blocks or room < 40:
                break
            cut = ""
            for sent in sentences(body):
                if count(cut + " " + sent) > room:
                    break
                cut = (cut + " " + sent).strip()
            body, cost = cut, count(head + cut + tail)
        blocks.append(head + body + tail)
        used += cost
    return "\n".join(blocks)


# ---- generative ---------------------------------------------------------------------------------
class OpenAICompatible:
    """Any OpenAI-compatible chat endpoint."""

    name = "openai"
    generative = True

    def __init__(self, settings: Settings, client: Any = None) -> None:
        self.settings = settings
        self._client = client
        self._count: Callable[[str], int] | None = None

    def client(self) -> Any:
        if self._client is None:
            from .models import openai_client

            self._client = openai_client(self.settings)
        return self._client

    def draft(self, ctx: DraftContext, on_text: TextCallback | None = None) -> str:
        s = self.settings
        if self._count is None:
            from .models import token_counter

            self._count = token_counter()
        block = format_sources(ctx.sources, s.context_tokens, self._count)
        return self.chat([
            {"role": "system", "content": prompts.render("answer_system.md", s)},
            {"role": "user", "content": prompts.render("answer_user.md", s, sources=block, question=ctx.question)},
        ], on_text, ctx.cancel)

    def rewrite(self, prompt: str) -> str | None:
        return self.chat([{"role": "user", "content": prompt}])

    def chat(self, messages: list[dict[str, str]], on_text: TextCallback | None = None,
             cancel: threading.Event | None = None) -> str:
        s = self.settings
        client = self.client()
        try:
            stream = client.chat.completions.create(model=s.openai_model, messages=messages, temperature=s.temperature,
                                                    max_tokens=s.max_new_tokens, stream=True)
            text = ""
            for chunk in stream:
                if cancel is not None and cancel.is_set():
                    stream.close()
                    raise Cancelled()
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
                    if on_text is not None:
                        on_text(text)
            return text.strip()
        except Cancelled:
            raise
        except Exception as e:  # network, auth, model name...
            raise EngineError(
                f"The OpenAI-compatible endpoint {s.openai_base_url or 'api.openai.com'} failed: "
                f"{type(e).__name__}: {str(e)[:200]}. Check OPENAI_BASE_URL, OPENAI_API_KEY and RAG_OPENAI_MODEL."
            ) from e


class LlamaCpp:
    """A local GGUF model (by default the bundled Gemma 3 270M), loaded on first use."""

    name = "llama-cpp"
    generative = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._llama: Any = None
        self._count: Callable[[str], int] | None = None
        self._lock = threading.Lock()  # llama.cpp contexts are not thread-safe

    def draft(self, ctx: DraftContext, on_text: TextCallback | None = None) -> str:
        if self._count is None:
            from .models import token_counter

            self._count = token_counter()
        block = format_sources(ctx.sources, self.settings.local_context_tokens, self._count)
        prompt = prompts.render("answer_completion.md", self.settings, sources=block, question=ctx.question)
        return self.complete(prompt, stop=["\n\n", "Question:", "Sources:", "<source"], on_text=on_text, cancel=ctx.cancel)

    def rewrite(self, prompt: str) -> str | None:
        return None  # the small local model is not trusted with rewriting questions

    def busy(self) -> bool:
        """Is a completion running (the model's lock held)?"""
        return self._lock.locked()

    def complete(self, prompt: str, *, stop: list[str], on_text: TextCallback | None = None,
                 cancel: threading.Event | None = None) -> str:
        """A plain completion, streamed token by token; `cancel` stops it within one token."""
        from .models import load_llama

        with self._lock:
            if self._llama is None:
                self._llama = load_llama(self.settings)
            text = ""
            try:
                tokens = self._prefill(prompt, cancel)
                for chunk in self._llama.create_completion(tokens, stream=True, max_tokens=self.settings.max_new_tokens,
                                                           temperature=self.settings.temperature, stop=stop):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled()
                    text += str(chunk["choices"][0]["text"])
                    if on_text is not None:
                        on_text(text)
            except (ValueError, RuntimeError) as e:  # e.g. a prompt longer than the context window
                raise EngineError(f"The local model failed: {e}. Lower RAG_LOCAL_CONTEXT_TOKENS or raise RAG_LLAMA_N_CTX.") from e
            return text.strip()


    def _prefill(self, prompt: str, cancel: threading.Event | None) -> list[int]:
        """Evaluate the prompt in chunks, checking `cancel` between them (the completion then
        starts from the cached prompt); returns the prompt's tokens. The prefix shared with the
        previous prompt is not evaluated again."""
        llama = self._llama
        assert llama is not None
        tokens: list[int] = llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if len(tokens) + 1 > llama.n_ctx():
            raise ValueError(f"the prompt has {len(tokens)} tokens, more than the context window ({llama.n_ctx()})")
        # Keep the cached state of the part of the prompt the last call shared (the instructions and
        # the worked example), as create_completion would; the last token is always evaluated again
        # so the completion samples from this prompt's logits. Recurrent models cannot rewind.
        keep = 0
        if not (getattr(llama, "_is_recurrent", False) or getattr(llama, "_is_hybrid", False)):
            keep = min(llama.longest_token_prefix(llama.input_ids[: llama.n_tokens].tolist(), tokens), len(tokens) - 1)
        if keep:
            llama.n_tokens = keep  # eval() drops the cache past this point
        else:
            llama.reset()
        step = self.settings.llama_prefill_chunk
        for i in range(keep, len(tokens), step):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            llama.eval(tokens[i:i + step])
        return tokens


def build_engine(name: str, settings: Settings) -> Engine:
    """The engine called `name` (already resolved from "auto")."""
    if name == "extractive":
        return Extractive(settings)
    if name == "openai":
        return OpenAICompatible(settings)
    if name == "llama-cpp":
        return LlamaCpp(settings)
    raise EngineError(f"Unknown engine {name!r}: expected extractive, openai or llama-cpp.")
