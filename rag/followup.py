"""Follow-up questions rewritten into standalone queries before retrieval.

"And how does it compare with SequenceMatch?" means nothing to a retriever. With an
LLM endpoint configured (`openai` engine) the rewrite is asked of it (prompt
`prompts/condense.md`); otherwise, and whenever the LLM's rewrite is unusable, a
deterministic rule carries over the subject (the method name of the paper cited
first) of the previous answered turn. The small local model is not trusted with it.
Not here: answering (answer.py).
"""

from __future__ import annotations

import re
from typing import Any

from .errors import UsageError
from .text import title_name
from .types import Answer

_LEAD = re.compile(r"^\s*(and|but|so|also|ok(ay)?|then|now)\b[\s,]*", re.I)
_FOLLOWUP = re.compile(
    r"^\s*(and|but|so|also|what about|how about|then|now)\b"
    r"|\b(it|its|it's|they|them|their)\b"
    r"|\b(this|that|the) (paper|method|model|approach|work|technique)\b",
    re.I,
)
_PRONOUN = re.compile(
    r"\b(this (paper|method|model|approach|work|technique)|the (paper|method|model|approach|work|technique)|it|they|them)\b",
    re.I,
)
_POSSESSIVE = re.compile(r"\b(its|their)\b", re.I)


def validate_history(history: Any) -> list[dict[str, Any]]:
    """History as a list of answer dicts, or `UsageError` saying what is wrong with it."""
    if history is None:
        return []
    if not isinstance(history, list):
        raise UsageError(f"history must be a list of earlier answers, found {type(history).__name__}.")
    out = []
    for i, turn in enumerate(history):
        d = turn.to_json_dict() if isinstance(turn, Answer) else turn
        cits = d.get("citations", []) if isinstance(d, dict) else None
        if not isinstance(d, dict) or not isinstance(cits, list) or not all(
            isinstance(c, dict) and isinstance(c.get("title"), str) for c in cits
        ):
            raise UsageError(
                f"history[{i}] must be an answer object as returned by /ask or `rag ask --json` "
                '(with "question", "answer", "refused" and "citations" holding "title"s).'
            )
        out.append(d)
    return out


def _prev(history: list[Any]) -> dict[str, Any] | None:
    """The last answered (not refused) turn, as the JSON shape of `rag ask --json`."""
    for turn in reversed(history or []):
        d = turn.to_json_dict() if isinstance(turn, Answer) else turn
        if isinstance(d, dict) and not d.get("refused") and d.get("citations"):
            return d
    return None


def subject(title: str) -> str:
    """A paper's short name: "Tree-Planner" from "Tree-Planner: Efficient ...", else its first words."""
    return title_name(title) or " ".join(title.split()[:6])


def is_followup(question: str) -> bool:
    """Pronouns or a leading "and/what about" mark a follow-up; so does a short question
    that names nothing (no capitalised word after the first)."""
    if _FOLLOWUP.search(question):
        return True
    rest = question.split()[1:]
    return len(question.split()) <= 4 and not any(w[:1].isupper() for w in rest)


def condense_rule(question: str, history: list[Any]) -> str:
    """The standalone form of `question` by rule (identity when it needs no context)."""
    prev = _prev(history)
    if prev is None or not is_followup(question):
        return question
    name = subject(prev["citations"][0]["title"])
    q = _LEAD.sub("", question).strip()
    q = q[:1].upper() + q[1:]
    if name.lower() not in q.lower():
        q2 = _PRONOUN.sub(lambda m: name, q, count=1)
        if q2 == q:
            q2 = _POSSESSIVE.sub(lambda m: f"{name}'s", q, count=1)
        q = q2 if q2 != q else f"{q.rstrip('?')} in {name}?"
    return q


def history_text(history: list[Any], turns: int = 3) -> str:
    lines = []
    for turn in (history or [])[-turns:]:
        d = turn.to_json_dict() if isinstance(turn, Answer) else turn
        if isinstance(d, dict):
            titles = "; ".join(c["title"] for c in d.get("citations", []))
            lines.append(f"User: {d.get('question', '')}\nAssistant: {d.get('answer', '')}" + (f"\n(Cited: {titles})" if titles else ""))
    return "\n".join(lines)
