"""Offline-first question answering over research papers with checked citations.

    >>> from rag import Assistant
    >>> a = Assistant.open()                      # builds the bundled index on first use
    >>> ans = a.ask("How much does Tree-Planner reduce token consumption?")
    >>> print(ans)                                # answer text, then the cited papers
"""

from .assistant import Assistant
from .engines import Cancelled, DraftContext, Engine
from .errors import CorpusError, EngineError, RagError, StoreError, UsageError
from .settings import Scoring, Settings
from .types import Answer, CheckReport, Citation, Filters, IngestReport, Paper, Source

__all__ = [
    "Answer",
    "Assistant",
    "Cancelled",
    "CheckReport",
    "Citation",
    "CorpusError",
    "DraftContext",
    "Engine",
    "EngineError",
    "Filters",
    "IngestReport",
    "Paper",
    "RagError",
    "Scoring",
    "Settings",
    "Source",
    "StoreError",
    "UsageError",
]
