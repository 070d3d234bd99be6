"""Readers for paper collections, one module per format, all producing `Paper` records.

`read_path(path, settings)` picks the reader by extension (a directory: every supported
file in it, recursively) and returns a `CorpusRead`: validated papers plus one line per
skipped entry. A bad file raises `CorpusError` naming the file and, where known, the line.
Readers never touch the store: a file is read and validated completely before anything is
written.
"""

from __future__ import annotations

from .base import CorpusRead, check_paper, paper_hash, paper_id_for, read_path

__all__ = ["CorpusRead", "check_paper", "paper_hash", "paper_id_for", "read_path"]
