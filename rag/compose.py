"""How an answer is put together from checked segments, beyond the quotes themselves.

- `rank_segments`: each segment's priority is the question-rank of its best evidence, so a
  citation quotes the sentence that answers the question best;
- `missing_sides`: a comparison with a side that no indexed paper is about says so in one line.
Nothing here writes a claim about a paper's content: these lines come from stored titles.
Not here: choosing quotes (engines.py), checking them (citations.py).
"""

from __future__ import annotations

from .citations import Segment
from .evidence import SentenceHit, owns
from .text import analyze_question, is_name, question_names
from .types import Source


def missing_sides(question: str, sources: list[Source]) -> list[Segment]:
    """A comparison with a side no indexed paper is about gets one line saying so."""
    if analyze_question(question).kind != "comparison":
        return []
    missing = [n for n in question_names(question) if is_name(n) and not any(owns(s, n) for s in sources)]
    if not missing:
        return []
    return [Segment(f"No indexed paper is about {' or '.join(missing)}; only what other papers say of it is quoted.",
                    priority=10**6, note=True)]


def rank_segments(segments: list[Segment], ranked: list[tuple[float, SentenceHit]]) -> list[Segment]:
    """Give each segment the question-rank of its best evidence: a citation quotes the sentence
    that answers the question best, whatever order the answer's sentences come in."""
    order = {h.key: k for k, (_, h) in enumerate(ranked)}
    for seg in segments:
        seg.priority = min((order.get((i, sec, a), len(order)) for i, sec, a, _ in seg.evidence), default=len(order))
    return segments
