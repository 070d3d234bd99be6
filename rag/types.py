"""The shared vocabulary: papers, retrieved sources, citations, answers, reports.

Plain pydantic models with no behaviour beyond formatting; every other module speaks
in these types.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field


class Paper(BaseModel):
    """One paper: a title and an abstract, with optional bibliographic fields."""

    id: str
    title: str
    abstract: str
    authors: list[str] = Field(default_factory=list)
    year: int | None = None
    url: str | None = None


class ChunkHit(BaseModel):
    """A retrieved chunk of a paper with its ranks in each retriever."""

    chunk_id: str
    text: str
    score: float = Field(description="Reciprocal-rank-fusion score.")
    dense: float | None = Field(default=None, description="Cosine similarity to the question.")
    bm25: float | None = Field(default=None, description="BM25 score.")


class Source(BaseModel):
    """A retrieved paper with its best chunks, as ranked by hybrid retrieval."""

    rank: int
    paper: Paper
    score: float
    dense: float = Field(description="Best chunk cosine similarity to the question (0 if none).")
    bm25: float = Field(description="Best chunk BM25 score (0 if none).")
    chunks: list[ChunkHit]

    def __str__(self) -> str:
        return f"{self.rank}. {self.paper.title} [{self.paper.id}] score={self.score:.4f} dense={self.dense:.3f}"


class Citation(BaseModel):
    """A cited paper: its number in the answer and the evidence quoted verbatim."""

    n: int
    paper_id: str
    title: str
    quote: str = Field(description="Supporting sentence(s), verbatim from the abstract.")
    abstract: str
    spans: list[tuple[int, int]] = Field(
        default_factory=list, description="Character offsets of each quoted sentence in the abstract."
    )


class CheckReport(BaseModel):
    """How the citation check treated a generated answer's sentences."""

    sentences: int = Field(default=0, description="Claims in the generated draft.")
    kept: int = Field(default=0, description="Supported by the source their marker cites.")
    recited: int = Field(default=0, description="Supported by another retrieved source (or unmarked) and cited to it.")
    dropped: int = Field(default=0, description="Supported by no retrieved source: removed.")
    unmarked: int = Field(default=0, description="Claims the model wrote without any [n] marker (a subset of the above).")


class Answer(BaseModel):
    """What `Assistant.ask` returns; `str(answer)` is the answer text with its sources."""

    question: str
    text: str
    citations: list[Citation] = Field(default_factory=list)
    refused: bool = False
    engine: str
    timings_ms: dict[str, float] = Field(default_factory=dict)
    sources: list[Source] = Field(default_factory=list, description="Retrieved papers, best first.")
    checked: CheckReport | None = None
    fallback: str | None = Field(default=None, description="Why a generative answer was replaced.")
    standalone: str | None = Field(default=None, description="The standalone query a follow-up was rewritten to.")
    partial: bool = Field(default=False, description="A streaming snapshot: checked sentences so far.")
    notes: list[str] = Field(
        default_factory=list,
        exclude=True,
        repr=False,
        description="Debug trail (unchecked draft, what was dropped and why); never serialised or shown.",
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
                }
                for c in self.citations
            ],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }
        if self.checked is not None:
            out["checked"] = self.checked.model_dump()
        if self.fallback is not None:
            out["fallback"] = self.fallback
        if self.standalone is not None:
            out["standalone_query"] = self.standalone
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), ensure_ascii=False)

    def __str__(self) -> str:
        lines = [self.text]
        if self.citations:
            lines.append("")
            lines.extend(f"[{c.n}] {c.title} ({c.paper_id})" for c in self.citations)
        return "\n".join(lines)


class IngestReport(BaseModel):
    """What an ingest did: counts and time."""

    files: list[str]
    papers_read: int = 0
    papers_added: int = 0
    papers_updated: int = 0
    papers_unchanged: int = 0
    chunks_added: int = 0
    chunks_total: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"read {self.papers_read} papers from {len(self.files)} file(s): "
            f"{self.papers_added} added, {self.papers_updated} updated, "
            f"{self.papers_unchanged} unchanged; {self.chunks_added} chunks added "
            f"({self.chunks_total} in the collection) in {self.seconds:.1f}s"
        )
