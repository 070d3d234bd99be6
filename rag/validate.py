"""Input checks shared by every entry point (API, CLI, web app): one place, one limit each.

Pure functions over settings and values; each raises `UsageError` with a message that says
what was expected, what was found and what to do.
"""

from __future__ import annotations

from typing import Any

from .errors import UsageError
from .settings import ENGINES, Settings
from .text import clean_text
from .types import Filters


def validate_question(question: object, settings: Settings) -> str:
    """The question with control characters and lone surrogates removed and whitespace
    folded, or `UsageError` when it is not text, empty or too long."""
    if not isinstance(question, str):
        raise UsageError(f"The question must be text, found {type(question).__name__}.")
    q = clean_text(question)
    if not q:
        raise UsageError("The question is empty: type a question about the indexed papers.")
    if len(q) > settings.max_question_chars:
        raise UsageError(f"The question is {len(q)} characters long; the limit is {settings.max_question_chars}. Shorten it.")
    return q


def validate_k(k: object, settings: Settings) -> int | None:
    """`k` as a whole number in 1..max_k (a string of digits is accepted), or None for the default."""
    if k is None:
        return None
    if isinstance(k, str) and k.strip().isdigit():
        k = int(k.strip())
    if isinstance(k, float) and k.is_integer():  # a web slider sends 5.0
        k = int(k)
    if isinstance(k, bool) or not isinstance(k, int):
        raise UsageError(f"k must be a whole number between 1 and {settings.max_k}, found {k!r}.")
    if not 1 <= k <= settings.max_k:
        raise UsageError(f"k must be between 1 and {settings.max_k}, got {k}.")
    return k


def validate_engine(name: object, settings: Settings) -> str:
    """The engine name, resolved from "auto"."""
    value = name or settings.engine
    if value not in ENGINES:
        raise UsageError(f"Unknown engine {value!r}: expected one of {', '.join(ENGINES)}.")
    return settings.resolved_engine() if value == "auto" else str(value)


def validate_filters(filters: Any) -> Filters | None:
    """Filters from a `Filters`, a dict (`{"years": [2023, 2024], "authors": [...], "paper_ids": [...]}`) or None."""
    if filters is None or isinstance(filters, Filters):
        return filters
    if not isinstance(filters, dict):
        raise UsageError(f"filters must be a dict with years/authors/paper_ids, found {type(filters).__name__}.")
    try:
        f = Filters.model_validate(filters)
    except Exception as e:
        raise UsageError(f"Bad filters {filters!r}: {str(e).splitlines()[0]}. Example: "
                         '{"years": [2023, 2024], "authors": ["Smith"], "paper_ids": ["..."]}.') from None
    if f.years and f.years[0] > f.years[1]:
        raise UsageError(f"The year range {f.years[0]}..{f.years[1]} is empty: give the earlier year first.")
    return f


def parse_years(text: str) -> tuple[int, int]:
    """"2023..2024", "2023-2024" or "2024" -> an inclusive range."""
    import re

    m = re.fullmatch(r"\s*(\d{4})\s*(?:(?:\.\.|-|–|:)\s*(\d{4}))?\s*", text or "")
    if not m:
        raise UsageError(f"Bad year range {text!r}: write 2024 or 2023..2024.")
    a, b = int(m.group(1)), int(m.group(2) or m.group(1))
    if a > b:
        raise UsageError(f"The year range {text!r} is empty: give the earlier year first.")
    return a, b
