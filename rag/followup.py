"""Follow-up questions rewritten into standalone queries before retrieval.

A question is rewritten only when it depends on the previous turn: it has an unresolved
reference ("it", "its", "they", "this method", "that solver", "the same benchmark") before it
names anything of its own, or it is an ellipsis ("And on MATH?", "What about SequenceMatch?").
A question with its own subject ("What does SPaR do and how is it trained?") and "the model"
used generically are left alone. The rule replaces the reference with the subject of the
previous answered turn: the cited paper's short name, or the name the previous question used
for it. With an LLM endpoint (`openai` engine) the rewrite is asked of the model first
(prompt `condense.md`) and checked by the Assistant; the rule is the fallback.
Not here: answering (answer.py).
"""

from __future__ import annotations

import re
from typing import Any

from .errors import UsageError
from .text import fold, is_name, mentions, title_name
from .types import Answer

_NOUNS = (r"(paper|papers|method|methods|model|models|approach|approaches|work|technique|benchmark|benchmarks|dataset|"
          r"datasets|solver|framework|system|algorithm|study|result|results|agent|strategy|task|tasks)")
_ANAPHOR = re.compile(
    rf"\b(it|its|it's|they|them|their|theirs|these|those|this|the same|that (?={_NOUNS}\b)|such)\b", re.I
)
_ELLIPSIS = re.compile(r"^\s*(and|but|also|so|then|what about|how about|and what about|and how about)\b[\s,]*", re.I)
_TOKEN = re.compile(r"[A-Za-z0-9^*][\w.^*-]*")


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


def previous_papers(history: list[Any]) -> list[str]:
    """The papers the last answered turn cited: what a follow-up refers to."""
    prev = _prev(history)
    return [str(c["paper_id"]) for c in prev["citations"] if c.get("paper_id")] if prev else []


def _first_name_at(question: str) -> int:
    """Character offset of the first name the question uses itself (len(question) if none)."""
    for m in _TOKEN.finditer(question):
        if is_name(m.group(0)) or (m.start() > 0 and m.group(0)[:1].isupper() and len(m.group(0)) > 2):
            return m.start()
    return len(question)


def is_followup(question: str) -> bool:
    """An ellipsis, or a reference ("it", "this method") that comes before any name of its own."""
    q = fold(question)
    if _ELLIPSIS.match(q):
        return True
    m = _ANAPHOR.search(q)
    return m is not None and m.start() < _first_name_at(q)


def subject(prev: dict[str, Any]) -> str:
    """What the previous turn was about: the cited paper's short name ("Tree-Planner"), else the
    name the previous question gave it ("Speculative Thinking"), else the title's first words."""
    cit = prev["citations"][0]
    title = str(cit["title"])
    head = title_name(title)
    if head:
        return head
    paper = f"{title} {cit.get('abstract', '')}"
    words = _TOKEN.findall(fold(str(prev.get("standalone_query") or prev.get("question", ""))))
    best = ""
    for i in range(len(words)):  # the longest run of capitalised words or names the paper itself uses
        for j in range(i + 1, min(i + 5, len(words)) + 1):
            run = words[i:j]
            if all(w[:1].isupper() or is_name(w) or "-" in w for w in run) and i > 0 and mentions(paper, " ".join(run)):
                if len(" ".join(run)) > len(best):
                    best = " ".join(run)
    return best or " ".join(title.split()[:6])


def condense_rule(question: str, history: list[Any]) -> str:
    """The standalone form of `question` by rule (identity when it needs no context)."""
    prev = _prev(history)
    if prev is None or not is_followup(question):
        return question
    name = subject(prev)
    q = question.strip()
    ellipsis = _ELLIPSIS.match(q)
    if ellipsis:
        q = q[ellipsis.end():].strip()
    if mentions(q, name):
        return q[:1].upper() + q[1:]
    m = _ANAPHOR.search(q)
    if m and m.start() < _first_name_at(q):
        word = m.group(0).lower()
        end = m.end()
        if word.startswith(("this", "that", "the same", "such", "these", "those")):
            tail = re.match(rf"\s*{_NOUNS}\b", q[end:], re.I)
            end += tail.end() if tail else 0
        repl = f"{name}'s" if word in ("its", "their", "theirs") else name
        out = q[: m.start()] + repl + q[end:]
        return out[:1].upper() + out[1:]
    previous = str(prev.get("standalone_query") or prev.get("question", "")).rstrip("?. ")
    if not ellipsis:
        return f"{q[:1].upper() + q[1:].rstrip('?')} in {name}?"
    phrase = q.rstrip("?. ")
    tokens = _TOKEN.findall(phrase)
    if tokens and len(tokens) <= 4 and all(t[:1].isupper() or is_name(t) for t in tokens) and mentions(previous, name):
        # "What about SequenceMatch?": the previous question, about the new subject
        return re.sub(re.escape(name), lambda _: phrase, previous, count=1, flags=re.I) + "?"
    return f"{previous}, {phrase}?"


def history_text(history: list[Any], turns: int = 3) -> str:
    lines = []
    for turn in (history or [])[-turns:]:
        d = turn.to_json_dict() if isinstance(turn, Answer) else turn
        if isinstance(d, dict):
            titles = "; ".join(c["title"] for c in d.get("citations", []))
            lines.append(f"User: {d.get('question', '')}\nAssistant: {d.get('answer', '')}" + (f"\n(Cited: {titles})" if titles else ""))
    return "\n".join(lines)
