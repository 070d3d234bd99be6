"""The shared vocabulary: papers, retrieved sources, citations, answers, reports.

Plain pydantic models with no behaviour beyond formatting; every other module speaks
in these types.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field


class Passage(BaseModel):
    """Body text of a paper beyond its abstract (a PDF page), cited with its page."""

    page: int = Field(ge=1)
    text: str


class Paper(BaseModel):
    """One paper: a title and an abstract, with optional bibliographic fields."""

    id: str
    title: str
    abstract: str
    authors: list[str] = Field(default_factory=list)
    year: int | None = None
    url: str | None = None
    source: str = Field(default="", description="Where it came from: a file name or a feed.")
    added: str | None = Field(default=None, description="When it was stored (ISO date).")
    passages: list[Passage] = Field(default_factory=list, description="Body text, e.g. PDF pages.")
    location: str | None = Field(default=None, exclude=True, description="file:line it was read from, for messages.")


class Filters(BaseModel):
    """Which papers a question may be answered from (all must hold)."""

    years: tuple[int, int] | None = Field(default=None, description="Inclusive year range.")
    authors: list[str] = Field(default_factory=list, description="Author name parts; a paper matches any.")
    paper_ids: list[str] = Field(default_factory=list, description="Only these papers.")

    def active(self) -> bool:
        return bool(self.years or self.authors or self.paper_ids)

    def __str__(self) -> str:
        parts = []
        if self.years:
            a, b = self.years
            parts.append(f"year {a}" if a == b else f"years {a}–{b}")
        if self.authors:
            parts.append("author " + " or ".join(self.authors))
        if self.paper_ids:
            parts.append("paper " + ", ".join(self.paper_ids))
        return "; ".join(parts) or "none"


class ChunkHit(BaseModel):
    """A retrieved chunk of a paper with its scores in each retriever."""

    chunk_id: str
    text: str
    page: int | None = Field(default=None, description="Page of a body passage; None for the abstract.")
    score: float = Field(description="Reciprocal-rank-fusion score.")
    dense: float | None = Field(default=None, description="Cosine similarity to the question.")
    bm25: float | None = Field(default=None, description="BM25 score.")


class Source(BaseModel):
    """A retrieved paper with its best chunks, as ranked by hybrid retrieval."""

    rank: int
    paper: Paper
    score: float
    dense: float = Field(default=0.0, description="Best chunk cosine similarity to the question (0 if none).")
    sentence: float = Field(default=0.0, description="Best sentence cosine similarity to the question (0 if none).")
    bm25: float = Field(default=0.0, description="Best chunk BM25 score (0 if none).")
    named: bool = Field(default=False, description="The question uses a name this paper's title carries.")
    topic: float = Field(default=0.0, description="Cosine of the question to the paper as a whole (its abstract's mean vector).")
    chunks: list[ChunkHit] = Field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.rank}. {self.paper.title} [{self.paper.id}] score={self.score:.4f} dense={self.dense:.3f}"


class Citation(BaseModel):
    """A cited paper: its number in the answer and the evidence quoted verbatim."""

    n: int
    paper_id: str
    title: str
    quote: str = Field(description="Supporting sentence(s), verbatim from the abstract (or the page passage).")
    abstract: str
    spans: list[tuple[int, int]] = Field(
        default_factory=list, description="Character offsets of each quoted sentence in the abstract (or passage)."
    )
    page: int | None = Field(default=None, description="Page of the quoted passage; None when it is the abstract.")
    passage: str | None = Field(default=None, description="The page passage the spans point into, when page is set.")
    authors: list[str] = Field(default_factory=list)
    year: int | None = None
    url: str | None = None
    source: str = ""

    def label(self) -> str:
        """How the answer text cites it: "[2]" or "[2, p. 4]"."""
        return f"[{self.n}, p. {self.page}]" if self.page else f"[{self.n}]"


class CheckReport(BaseModel):
    """How the citation check treated a generated answer's sentences."""

    sentences: int = Field(default=0, description="Claims in the generated draft.")
    kept: int = Field(default=0, description="Supported by the source their marker cites.")
    recited: int = Field(default=0, description="Supported by another retrieved source (or unmarked) and cited to it.")
    dropped: int = Field(default=0, description="Supported by no retrieved source: removed.")
    unmarked: int = Field(default=0, description="Claims the model wrote without any [n] marker (a subset of the above).")
    method: str = Field(default="judge", description="judge: the logistic claim judge (rag/citations.py) decided each claim; verifier: the trained cross-encoder did.")


class Answer(BaseModel):
    """What `Assistant.ask` returns; `str(answer)` is the answer text with its sources."""

    question: str
    text: str
    citations: list[Citation] = Field(default_factory=list)
    refused: bool = False
    reason: str | None = Field(default=None, description="Why it refused (retrieval and evidence scores).")
    confidence: float = Field(default=0.0, description="The refusal gate's score: how well the evidence answers the question.")
    engine: str
    timings_ms: dict[str, float] = Field(default_factory=dict)
    sources: list[Source] = Field(default_factory=list, description="Retrieved papers, best first, as searched.")
    checked: CheckReport | None = None
    draft: str | None = Field(default=None, description="A generative engine's unchecked draft (never shown as an answer).")
    fallback: str | None = Field(default=None, description="Why a generative answer was replaced by quotes.")
    standalone: str | None = Field(default=None, description="The standalone query a follow-up was rewritten to.")
    filters: str | None = Field(default=None, description="The paper filters the question was asked under.")
    partial: bool = Field(default=False, description="A streaming snapshot: checked sentences so far.")
    notes: list[str] = Field(
        default_factory=list,
        exclude=True,
        repr=False,
        description="Debug trail for people reading logs (what was dropped and why). Nothing parses it.",
    )

    def to_json_dict(self) -> dict[str, Any]:
        """The stable JSON shape printed by `rag ask --json`."""
        out: dict[str, Any] = {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "engine": self.engine,
            "citations": [
                {
                    "n": c.n,
                    "paper_id": c.paper_id,
                    "title": c.title,
                    "quote": c.quote,
                    "abstract": c.abstract,
                    "spans": [list(s) for s in c.spans],
                    "page": c.page,
                    **({"passage": c.passage} if c.passage is not None else {}),
                    "authors": c.authors,
                    "year": c.year,
                    "url": c.url,
                    "source": c.source,
                }
                for c in self.citations
            ],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "retrieved": [s.paper.id for s in self.sources],
        }
        if self.refused and self.reason:
            out["reason"] = self.reason
        if self.checked is not None:
            out["checked"] = self.checked.model_dump()
        if self.fallback is not None:
            out["fallback"] = self.fallback
        if self.standalone is not None:
            out["standalone_query"] = self.standalone
        if self.filters is not None:
            out["filters"] = self.filters
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), ensure_ascii=False)

    def __str__(self) -> str:
        lines = [self.text]
        if self.citations:
            lines.append("")
            lines.extend(f"{c.label()} {c.title} ({c.paper_id})" for c in self.citations)
        return "\n".join(lines)


class IngestReport(BaseModel):
    """What an ingest did: counts and time."""

    files: list[str]
    papers_read: int = 0
    papers_added: int = 0
    papers_updated: int = 0
    papers_unchanged: int = 0
    papers_removed: int = 0
    chunks_added: int = 0
    chunks_total: int = 0
    skipped: list[str] = Field(default_factory=list, description="One line per skipped entry or file, with the reason.")
    notes: list[str] = Field(default_factory=list, description="Things worth knowing (e.g. an abstract guessed from a PDF).")
    seconds: float = 0.0

    def __str__(self) -> str:
        line = (
            f"read {self.papers_read} papers from {len(self.files)} file(s): "
            f"{self.papers_added} added, {self.papers_updated} updated, "
            f"{self.papers_unchanged} unchanged"
            + (f", {self.papers_removed} removed" if self.papers_removed else "")
            + f"; {self.chunks_added} chunks added ({self.chunks_total} in the collection) in {self.seconds:.1f}s"
        )
        extra = [f"  skipped: {s}" for s in self.skipped] + [f"  note: {n}" for n in self.notes]
        return "\n".join([line, *extra])
