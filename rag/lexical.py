"""The lexical index: BM25 over chunks and an inverted index of names, in SQLite FTS5.

It is a persistent, incremental cache of what the Chroma store holds, so start-up does
not grow with the collection and nothing is kept in Python memory:
- `chunks`: an FTS5 table of each chunk's folded, lightly stemmed words, ranked by FTS5's
  built-in BM25 (k1=1.2, b=0.75);
- `names`: name key -> papers (acronyms, method names, the title's short name), with a flag
  for names the paper's *title* carries;
- `papers`: id, content hash, title, year and authors, for filters and for syncing.
Ingest writes it directly. Any process notices writes by others through the store's
version stamp (`sync`): it then diffs paper hashes against the store and re-reads only
the papers that changed. On an embedded store the file lives beside Chroma; with a
Chroma server each machine keeps its own copy under the data dir.
Not here: fusing rankers (retrieve.py).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import StoreError
from .settings import Settings
from .store import Store
from .text import STOPWORDS, fold, name_key, names, stem, title_name
from .types import Paper

_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS chunks USING fts5(body, tokenize = "unicode61 remove_diacritics 2");
CREATE TABLE IF NOT EXISTS chunk_rows(rowid INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE, paper_id TEXT);
CREATE INDEX IF NOT EXISTS chunk_rows_paper ON chunk_rows(paper_id);
CREATE TABLE IF NOT EXISTS papers(paper_id TEXT PRIMARY KEY, hash TEXT, title TEXT, year INTEGER, authors TEXT);
CREATE INDEX IF NOT EXISTS papers_year ON papers(year);
CREATE TABLE IF NOT EXISTS names(key TEXT, paper_id TEXT, in_title INTEGER, phrase TEXT, PRIMARY KEY(key, paper_id));
CREATE INDEX IF NOT EXISTS names_paper ON names(paper_id);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE VIRTUAL TABLE IF NOT EXISTS vocab USING fts5vocab(chunks, row);
"""
FORMAT = "3"  # of terms() and the tables; another value makes the index rebuild itself from the store
_PART = re.compile(r"[a-z0-9]+")
_WORD = re.compile(r"[a-z0-9][a-z0-9.\-]*[a-z0-9]|[a-z0-9]")


def terms(text: str) -> list[str]:
    """Index terms: folded, lower-case, lightly stemmed words, plus the joined form of
    hyphenated ones ("Tree-Planner" -> tree, planner, treeplanner)."""
    out: list[str] = []
    for w in _WORD.findall(fold(text).lower()):
        parts = _PART.findall(w)
        out.extend(stem(p) for p in parts)
        if len(parts) > 1:
            out.append("".join(parts))
    return out


_ALIAS = re.compile(r"\(\s*([A-Z][A-Za-z0-9*^+\-]{2,30})\s*\)")


def paper_names(title: str, abstract: str) -> dict[str, tuple[bool, str]]:
    """Name key -> (is it the title's own name, its index terms) for a paper's names:
    acronyms, CamelCase and digit-bearing tokens, aliases given in parentheses
    ("Chain of Continuous Thought (Coconut)"), and the title's short name ("Tree-Planner: ...")."""
    found = [*names(title), *names(abstract), *_ALIAS.findall(fold(abstract))]
    out = {name_key(n): (False, " ".join(terms(n))) for n in found}
    head = title_name(title)
    if head:
        out[name_key(head)] = (True, " ".join(terms(head)))
    return {k: v for k, v in out.items() if len(k) >= 2}


class Lexical:
    """BM25 and name lookup over one store's chunks; safe to share between threads."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        if settings.chroma_host:
            folder = Path(settings.data_dir) / "cache" / f"{settings.chroma_host}_{settings.chroma_port}"
        else:
            folder = Path(settings.data_dir) / "chroma"
        self.path = folder / f"lexical-{settings.collection}.sqlite3"
        self._lock = threading.RLock()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            writable = folder.exists() and (not self.path.exists() or _writable(self.path)) and _writable(folder)
            if writable:
                self.db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.executescript(_SCHEMA)
            else:
                self.db = sqlite3.connect(f"file:{self.path}?immutable=1", uri=True, check_same_thread=False)
        except sqlite3.Error as e:
            raise StoreError(f"Cannot open the lexical index {self.path}: {e}. Delete the file; it is rebuilt.") from e
        self.read_only = not writable
        if writable and self.meta("format") != FORMAT:  # built by another version of terms(): rebuild
            with self._lock, self._write():
                for table in ("chunks", "chunk_rows", "papers", "names", "meta"):
                    self.db.execute(f"DELETE FROM {table}")
                self.db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))

    # ---- keeping it in step with the store ------------------------------------------------------
    def sync(self) -> bool:
        """Catch up with writes made by any process; True when something changed."""
        version = self.store.version()
        if version == self.meta("version") or self.read_only:
            return False
        with self._lock:
            remote = self.store.paper_hashes()
            local = dict(self.db.execute("SELECT paper_id, hash FROM papers").fetchall())
            gone = [p for p in local if p not in remote]
            todo = [p for p, h in remote.items() if local.get(p) != h]
            self.remove(gone + todo)
            for b in range(0, len(todo), 200):
                batch = todo[b : b + 200]
                papers = self.store.get_papers(batch)
                chunks = list(self.store.chunks_of(batch))
                self.add([(p, remote[p.id]) for p in papers.values()], [(c["id"], str((c["metadatas"] or {})["paper_id"]), _title_of(c), c["documents"] or "") for c in chunks])
            self.set_meta("version", version)
        return bool(gone or todo)

    def add(self, papers: Iterable[tuple[Paper, str]], chunks: list[tuple[str, str, str, str]]) -> None:
        """Index (paper, content hash) pairs and their chunks (chunk_id, paper_id, title, text)."""
        with self._lock, self._write():
            for p, digest in papers:
                self.db.execute("INSERT OR REPLACE INTO papers VALUES (?, ?, ?, ?, ?)",
                                (p.id, digest, p.title, p.year or 0, fold("; ".join(p.authors)).lower()))
                self.db.execute("DELETE FROM names WHERE paper_id = ?", (p.id,))
                self.db.executemany("INSERT OR REPLACE INTO names VALUES (?, ?, ?, ?)",
                                    [(k, p.id, int(t), ph) for k, (t, ph) in paper_names(p.title, p.abstract).items()])
            for cid, pid, title, text in chunks:
                old = self.db.execute("SELECT rowid FROM chunk_rows WHERE chunk_id = ?", (cid,)).fetchone()
                if old:
                    self.db.execute("DELETE FROM chunks WHERE rowid = ?", old)
                    self.db.execute("DELETE FROM chunk_rows WHERE rowid = ?", old)
                cur = self.db.execute("INSERT INTO chunk_rows(chunk_id, paper_id) VALUES (?, ?)", (cid, pid))
                self.db.execute("INSERT INTO chunks(rowid, body) VALUES (?, ?)",
                                (cur.lastrowid, " ".join(terms(f"{title} {text}"))))

    def remove(self, paper_ids: list[str], keep_chunks: set[str] | None = None) -> None:
        """Forget papers (or, with `keep_chunks`, only their chunks not in it)."""
        with self._lock, self._write():
            for pid in paper_ids:
                rows = self.db.execute("SELECT rowid, chunk_id FROM chunk_rows WHERE paper_id = ?", (pid,)).fetchall()
                stale = [(r,) for r, cid in rows if keep_chunks is None or cid not in keep_chunks]
                self.db.executemany("DELETE FROM chunks WHERE rowid = ?", stale)
                self.db.executemany("DELETE FROM chunk_rows WHERE rowid = ?", stale)
                if keep_chunks is None:
                    self.db.execute("DELETE FROM papers WHERE paper_id = ?", (pid,))
                    self.db.execute("DELETE FROM names WHERE paper_id = ?", (pid,))

    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock, self._write():
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        if self.read_only:
            yield
            return
        try:
            with self.db:
                yield
        except sqlite3.Error as e:
            raise StoreError(f"Could not write the lexical index {self.path}: {e}. Free disk space, or delete the file "
                             "and run `rag ingest` to rebuild it.") from e

    # ---- searching ---------------------------------------------------------------------------------
    def counts(self) -> tuple[int, int]:
        """(papers, chunks) in the index."""
        with self._lock:
            papers = self.db.execute("SELECT count(*) FROM papers").fetchone()[0]
            chunks = self.db.execute("SELECT count(*) FROM chunk_rows").fetchone()[0]
        return int(papers), int(chunks)

    def search(self, question: str, n: int, paper_ids: list[str] | None = None) -> list[tuple[str, str, float]]:
        """(chunk_id, paper_id, bm25) of the best chunks for `question`; higher is better.

        Terms found in more than `lexical_max_share` of chunks are dropped: their BM25 weight is
        near zero and matching them would touch most of the index."""
        qterms = [t for t in dict.fromkeys(terms(question)) if t not in STOPWORDS and len(t) > 1]
        if not qterms:
            return []
        with self._lock:
            total = self.db.execute("SELECT count(*) FROM chunk_rows").fetchone()[0] or 1
            limit = self.settings.scoring.lexical_max_share * total
            df = dict(self.db.execute(
                f"SELECT term, doc FROM vocab WHERE term IN ({','.join('?' * len(qterms))})", qterms).fetchall())
            keep = [t for t in qterms if 0 < df.get(t, 0) <= max(limit, 1)]
            if not keep:
                return []
            match = " OR ".join(f'"{t}"' for t in keep)
            sql = ("SELECT r.chunk_id, r.paper_id, bm25(chunks) AS s FROM chunks JOIN chunk_rows r ON r.rowid = chunks.rowid "
                   "WHERE chunks MATCH ?")
            args: list[Any] = [match]
            if paper_ids is not None:
                sql += f" AND r.paper_id IN ({','.join('?' * len(paper_ids))})"
                args += paper_ids
            rows = self.db.execute(sql + " ORDER BY s LIMIT ?", [*args, n]).fetchall()
        return [(cid, pid, -float(s)) for cid, pid, s in rows]

    def names_for(self, keys: Iterable[str]) -> dict[str, list[tuple[str, bool, str]]]:
        """Name key -> (paper_id, is the title's own name, phrase) for the keys that are indexed."""
        keys = [k for k in dict.fromkeys(keys) if len(k) >= 2]
        out: dict[str, list[tuple[str, bool, str]]] = {}
        if not keys:
            return out
        with self._lock:
            rows = self.db.execute(
                f"SELECT key, paper_id, in_title, phrase FROM names WHERE key IN ({','.join('?' * len(keys))})", keys
            ).fetchall()
        for key, pid, in_title, phrase in rows:
            out.setdefault(str(key), []).append((str(pid), bool(in_title), str(phrase or "")))
        return out

    def phrase_papers(self, phrase: str, limit: int) -> int:
        """How many papers (up to `limit`) contain `phrase` (index terms) anywhere in their text."""
        words = phrase.split()
        if not words:
            return 0
        query = '"' + " ".join(words) + '"'
        with self._lock:
            rows = self.db.execute(
                "SELECT DISTINCT r.paper_id FROM chunks JOIN chunk_rows r ON r.rowid = chunks.rowid "
                "WHERE chunks MATCH ? LIMIT ?", (query, limit)).fetchall()
        return len(rows)

    def filter_papers(self, *, years: tuple[int, int] | None = None, author: str | None = None,
                      paper_ids: list[str] | None = None) -> list[str]:
        """Ids of the papers that pass the filters."""
        sql = "SELECT paper_id FROM papers WHERE 1=1"
        args: list[Any] = []
        if years is not None:
            sql += " AND year BETWEEN ? AND ?"
            args += list(years)
        if author:
            sql += " AND authors LIKE ?"
            args.append(f"%{fold(author).lower()}%")
        if paper_ids is not None:
            sql += f" AND paper_id IN ({','.join('?' * len(paper_ids))})"
            args += paper_ids
        with self._lock:
            return [str(r[0]) for r in self.db.execute(sql, args).fetchall()]

    def close(self) -> None:
        with self._lock:
            self.db.close()


def _writable(path: Path) -> bool:
    import os

    return os.access(path, os.W_OK)


def _title_of(chunk: dict[str, Any]) -> str:
    return str((chunk.get("metadatas") or {}).get("title", ""))
