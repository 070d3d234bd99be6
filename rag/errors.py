"""Errors shown to users as they are.

Every message says what was expected, what was found and how to fix it. The CLI,
the UI and the evals print `str(error)` and never a traceback for these.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class: an expected failure whose message is fit to show a user."""

    exit_code = 1


class UsageError(RagError):
    """The caller's input is wrong (an empty question, an unknown engine...)."""

    exit_code = 2


class CorpusError(RagError):
    """A corpus file could not be read; names the file and, where known, the line."""

    exit_code = 2

    def __init__(self, path: object, message: str, *, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class StoreError(RagError):
    """The Chroma store is missing, unreachable or built with other settings."""


class EngineError(RagError):
    """An answer engine could not be built or did not answer."""
