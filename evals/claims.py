"""`rag eval --claims`: the citation check scored as a classifier on labelled claims.

Not written yet: see the issue "The claim check, measured as a classifier".
"""

from __future__ import annotations

from pathlib import Path

from rag import Settings
from rag.errors import UsageError


def run_claims(settings: Settings, *, out: Path, split: str, update_baseline: bool, tolerance: float) -> int:
    raise UsageError("`rag eval --claims` is not available yet.")
