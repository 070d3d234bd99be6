"""The Chroma store: chunks, sentences and papers, embedded or on a Chroma server.

Three collections share one name:
- `<name>`: the chunks, in the layout llama-index's `ChromaVectorStore` reads back;
- `<name>__sentences`: every sentence of every abstract (and passage), embedded on its own;
- `<name>__papers`: one row per paper holding its abstract once, its metadata and its content
  hash. A paper's row is written after its chunks and sentences: it is the paper's completion
  marker, so an interrupted ingest is detected and redone.
The papers collection's metadata carries a version stamp that every write changes; readers
(the lexical index, a running server) compare it to notice writes by other processes.

Every read is paged or batched (Chroma has a limit on SQL variables), and every call is
wrapped so a full disk, a read-only directory or a lost server gives one `StoreError` line.
An embedded store has one writer at a time: `StoreLock` (a file lock in the data dir) lets
readers share it and refuses a second writer with a message naming who holds it.
Not here: chunking and embedding (ingest.py), lexical search (lexical.py), ranking (retrieve.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import StoreError
from .settings import Settings
from .types import Paper

SCHEMA_VERSION = 2
PAGE = 2000  # rows per paged get(); far below Chroma's SQL-variable limit
BATCH = 250  # ids (or $in values) per call


def collection_signature(settings: Settings, embed_signature: dict[str, Any]) -> dict[str, Any]:
    """What must match between a collection and the settings and model that open it."""
    return {
        "rag_schema": SCHEMA_VERSION,
        **embed_signature,
        "rag_chunk_size": settings.chunk_size,
        "rag_chunk_overlap": settings.chunk_overlap,
    }


class StoreLock:
    """One writer at a time on an embedded store; readers share it.

    A process that reads (ask, serve) holds a shared `flock` for its lifetime; a write takes
    the exclusive lock without waiting and fails with a message naming the other holders.
    Locks vanish with their process, so a killed writer never leaves the store locked. All
    stores of one process share one lock (flock is per open file, not per process)."""

    _open: dict[str, list[int]] = {}  # folder -> [fd, users], per process
    _guard = threading.Lock()

    def __init__(self, folder: Path, command: str) -> None:
        self.folder = folder
        self.command = command
        self._holders = folder / ".holders"
        self.writable = os.access(folder, os.W_OK)
        self._fd: int | None = None

    def share(self) -> None:
        if not self.writable:
            return  # nobody can write a read-only store: nothing to coordinate
        key = str(self.folder.resolve())
        with StoreLock._guard:
            entry = StoreLock._open.get(key)
            if entry is None:
                fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise StoreError(
                        f"The store at {self.folder} is being written by another process ({self._who()}). "
                        "Wait for it to finish, or use a Chroma server (RAG_CHROMA_HOST) for concurrent use."
                    ) from None
                entry = StoreLock._open[key] = [fd, 0]
                self._register()
            entry[1] += 1
            self._fd = entry[0]

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        if not self.writable or self._fd is None:
            raise StoreError(f"The store at {self.folder} is read-only: it can be queried but not changed.")
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(
                f"The store at {self.folder} is in use by another process ({self._who()}), so it cannot be "
                "changed now: add papers through the running app's Papers tab, stop the other process first, "
                "or use a Chroma server (RAG_CHROMA_HOST) to share a store between processes."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_SH)  # back to reading; never unlocked in between

    def close(self) -> None:
        if self._fd is None:
            return
        key = str(self.folder.resolve())
        with StoreLock._guard:
            entry = StoreLock._open.get(key)
            if entry is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    del StoreLock._open[key]
                    with contextlib.suppress(OSError):
                        (self._holders / str(os.getpid())).unlink()
                    with contextlib.suppress(OSError):
                        os.close(entry[0])
        self._fd = None

    def _register(self) -> None:
        with contextlib.suppress(OSError):
            self._holders.mkdir(exist_ok=True)
            (self._holders / str(os.getpid())).write_text(self.command)

    def _who(self) -> str:
        found = []
        with contextlib.suppress(OSError):
            for f in self._holders.iterdir():
                pid = int(f.name) if f.name.isdigit() else 0
                if pid and pid != os.getpid() and _alive(pid):
                    found.append(f"pid {pid}: {f.read_text()[:60]}")
        return "; ".join(found) or "another rag process"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """The checked Chroma collections of one index."""

    def __init__(self, settings: Settings, embed_signature: dict[str, Any], *, command: str | None = None) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.settings = settings
        self.signature = collection_signature(settings, embed_signature)
        self.lock: StoreLock | None = None
        self._snapshot: Path | None = None
        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        with self.io("opening"):
            if settings.chroma_host:
                self.client: Any = chromadb.HttpClient(
                    host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
                )
                self.client.heartbeat()
            else:
                path = Path(settings.data_dir) / "chroma"
                path.mkdir(parents=True, exist_ok=True)
                self.lock = StoreLock(path, (command or " ".join(sys.argv)).encode("utf-8", "replace").decode()[:200])
                self.lock.share()
                db = path / "chroma.sqlite3"
                if not self.lock.writable or (db.exists() and not os.access(db, os.W_OK)):
                    # Chroma writes to its database even to read it: query a private snapshot instead.
                    self.lock.writable = False
                    self._snapshot = Path(tempfile.mkdtemp(prefix="rag-readonly-"))
                    shutil.copytree(path, self._snapshot / "chroma", ignore=shutil.ignore_patterns(".lock", ".holders"))
                    path = self._snapshot / "chroma"
                self.client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
            # Asked once, inside the guard: a server lost mid-ingest must fail as one line, not here.
            self.write_batch = max(1, min(4000, int(self.client.get_max_batch_size())))
        self.chunks = self._collection(settings.collection)
        self.sentences = self._collection(f"{settings.collection}__sentences")
        self.paper_rows = self._collection(f"{settings.collection}__papers")
        self._check()
        self._vector_store: Any = None

    # ---- opening and checking -------------------------------------------------------
    def _collection(self, name: str) -> Any:
        ef = self.settings.hnsw_ef_search
        with self.io(f"opening collection {name!r}"):
            try:
                coll = self.client.get_collection(name)
            except Exception:  # missing: create it, when we may write
                coll = None
            if coll is not None:
                hnsw = (coll.configuration or {}).get("hnsw") or {}
                writable = self.lock is None or self.lock.writable
                if isinstance(hnsw, dict) and hnsw.get("ef_search") not in (None, ef) and writable:
                    # A search-time setting: safe to change on a built index. Chroma reads it when it
                    # loads the index, so it holds from the next start (the eval and bench set it first).
                    coll.modify(configuration={"hnsw": {"ef_search": ef}})
                return coll
            if self.lock is not None and not self.lock.writable:
                raise StoreError(
                    f"There is no index in the read-only {self.settings.store_location()}: "
                    "build it with `rag ingest` where the directory is writable."
                )
            return self.client.get_or_create_collection(
                name=name, metadata=self.signature, configuration={"hnsw": {"space": "cosine", "ef_search": ef}}
            )

    def _check(self) -> None:
        for coll in (self.chunks, self.sentences, self.paper_rows):
            meta = coll.metadata or {}
            found = {k: meta.get(k) for k in self.signature}
            if found != self.signature:
                diff = ", ".join(
                    f"{k}: collection has {found[k]!r}, settings ask for {self.signature[k]!r}"
                    for k in self.signature
                    if found[k] != self.signature[k]
                )
                raise StoreError(
                    f"Collection {coll.name!r} in the {self.settings.store_location()} was built with other "
                    f"settings or another embedding model ({diff}). Use the settings it was built with, "
                    "choose another collection (RAG_COLLECTION), or delete it and run `rag ingest`."
                )
            space = distance_space(coll)
            if space != "cosine":
                raise StoreError(
                    f"Collection {coll.name!r} uses {space!r} distance, expected 'cosine'. "
                    "Delete it and run `rag ingest` to rebuild it."
                )

    @contextlib.contextmanager
    def io(self, what: str) -> Iterator[None]:
        """Turn any storage failure into one `StoreError` line naming the place and a fix."""
        try:
            yield
        except StoreError:
            raise
        except Exception as e:  # chromadb, sqlite, httpx and OS errors all land here
            raise StoreError(describe_failure(e, what, self.settings)) from e

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Exclusive access for a write (embedded store); a no-op on a Chroma server."""
        if self.lock is None:
            yield
        else:
            with self.lock.exclusive():
                yield

    def close(self) -> None:
        if self.lock is not None:
            self.lock.close()
        if self._snapshot is not None:
            shutil.rmtree(self._snapshot, ignore_errors=True)

    # ---- the version stamp -------------------------------------------------------------
    def version(self) -> str:
        """Changes on every write by any process."""
        with self.io("reading the version stamp"):
            meta = self.client.get_collection(self.paper_rows.name).metadata or {}
        return str(meta.get("rag_version", ""))

    def bump_version(self) -> str:
        stamp = f"{time.time():.6f}-{uuid.uuid4().hex[:8]}"
        with self.io("writing the version stamp"):
            self.paper_rows.modify(metadata={**self.signature, "rag_version": stamp})
        return stamp

    # ---- counts and listings -------------------------------------------------------------
    def count(self) -> int:
        with self.io("counting chunks"):
            return int(self.chunks.count())

    def paper_count(self) -> int:
        with self.io("counting papers"):
            return int(self.paper_rows.count())

    def paged(self, coll: Any, *, where: dict[str, Any] | None = None, include: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every row of `coll` (matching `where`), a page at a time."""
        offset = 0
        while True:
            with self.io(f"reading {coll.name!r}"):
                got = coll.get(where=where, include=include or [], limit=PAGE, offset=offset)
            ids = got["ids"]
            for i, rid in enumerate(ids):
                yield {"id": rid, **{k: (got[k][i] if got.get(k) is not None else None) for k in include or []}}
            if len(ids) < PAGE:
                return
            offset += len(ids)

    def listing(self) -> list[tuple[Any, ...]]:
        """Every stored paper as a plain tuple, (id, *the `LISTING_KEYS` of its metadata), in title
        order: a library listing of 100K papers held this way takes a fraction of the memory of
        Paper objects or dicts (`listed_paper` makes a Paper of one)."""
        rows = [(r["id"], *((r["metadatas"] or {}).get(k) for k in LISTING_KEYS))
                for r in self.paged(self.paper_rows, include=["metadatas"])]
        return sorted(rows, key=lambda t: str(t[1] or t[0]).lower())

    def paper_hashes(self) -> dict[str, str]:
        return {r["id"]: str((r["metadatas"] or {}).get("hash", "")) for r in self.paged(self.paper_rows, include=["metadatas"])}

    def get_papers(self, ids: list[str]) -> dict[str, Paper]:
        """Full records (with abstracts) of the stored papers among `ids`."""
        ids = list(dict.fromkeys(ids))
        out: dict[str, Paper] = {}
        for b in range(0, len(ids), BATCH):
            with self.io("reading papers"):
                got = self.paper_rows.get(ids=ids[b : b + BATCH], include=["metadatas", "documents"])
            for rid, meta, doc in zip(got["ids"], got["metadatas"] or [], got["documents"] or []):
                out[rid] = paper_from_row(rid, meta, doc or "")
        return out

    def paper_vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Each paper's vector (the mean of its abstract's chunk vectors): what the paper is about."""
        out: dict[str, np.ndarray] = {}
        for b in range(0, len(ids), BATCH):
            with self.io("reading papers"):
                got = self.paper_rows.get(ids=ids[b : b + BATCH], include=["embeddings"])
            for rid, vec in zip(got["ids"], got["embeddings"] if got["embeddings"] is not None else []):
                out[rid] = np.asarray(vec, dtype=np.float32)
        return out

    def stored_hashes(self, ids: list[str]) -> dict[str, str]:
        """Content hash of each completely stored paper among `ids`."""
        out: dict[str, str] = {}
        for b in range(0, len(ids), BATCH):
            with self.io("reading papers"):
                got = self.paper_rows.get(ids=ids[b : b + BATCH], include=["metadatas"])
            for rid, meta in zip(got["ids"], got["metadatas"] or []):
                out[rid] = str((meta or {}).get("hash", ""))
        return out

    def chunk_texts(self, ids: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for b in range(0, len(ids), BATCH):
            with self.io("reading chunks"):
                got = self.chunks.get(ids=ids[b : b + BATCH], include=["documents", "metadatas"])
            for rid, doc, meta in zip(got["ids"], got["documents"] or [], got["metadatas"] or []):
                out[rid] = (doc or "", dict(meta or {}))
        return out

    def chunks_of(self, paper_ids: list[str]) -> Iterator[dict[str, Any]]:
        """Every chunk (text and metadata) of `paper_ids`, for building the lexical index."""
        for b in range(0, len(paper_ids), BATCH):
            yield from self.paged(self.chunks, where=_paper_in(paper_ids[b : b + BATCH]), include=["documents", "metadatas"])

    def sentence_rows(self, paper_ids: list[str]) -> dict[str, list[tuple[str, int, int, int, float, np.ndarray]]]:
        """Per paper: (section, start, end, page, fit, vector) of each stored sentence, in text order."""
        out: dict[str, list[tuple[str, int, int, int, float, np.ndarray]]] = {}
        for b in range(0, len(paper_ids), BATCH):
            for r in self.paged(self.sentences, where=_paper_in(paper_ids[b : b + BATCH]), include=["metadatas", "embeddings"]):
                m = r["metadatas"] or {}
                out.setdefault(str(m["paper_id"]), []).append(
                    (str(m.get("section", "abstract")), int(m["start"]), int(m["end"]), int(m.get("page") or 0),
                     float(m.get("fit", 1.0)), np.asarray(r["embeddings"], dtype=np.float32))
                )
        for rows in out.values():
            rows.sort(key=lambda r: (r[0] != "abstract", r[0], r[1]))
        return out

    # ---- search ----------------------------------------------------------------------------
    def query(self, coll: Any, vector: np.ndarray, n: int, where: dict[str, Any] | None = None) -> list[tuple[str, float, str, dict[str, Any]]]:
        """Nearest rows of `coll`: (id, cosine similarity, document, metadata), best first."""
        if n <= 0:
            return []
        with self.io(f"searching {coll.name!r}"):
            res = coll.query(query_embeddings=[vector.astype(np.float32)], n_results=n, where=where,
                             include=["documents", "metadatas", "distances"])
        ids = res["ids"][0] if res["ids"] else []
        docs = (res.get("documents") or [[]])[0] or [""] * len(ids)
        metas = (res.get("metadatas") or [[]])[0] or [{}] * len(ids)
        dists = (res.get("distances") or [[]])[0] or [1.0] * len(ids)
        return [(i, 1.0 - float(d), doc or "", dict(m or {})) for i, d, doc, m in zip(ids, dists, docs, metas)]

    @property
    def vector_store(self) -> Any:
        """The chunks as a llama-index `ChromaVectorStore` (for the plain llama-index peer)."""
        if self._vector_store is None:
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._vector_store = ChromaVectorStore(chroma_collection=self.chunks)
        return self._vector_store

    # ---- writing ------------------------------------------------------------------------------
    def upsert(self, coll: Any, ids: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]],
               documents: list[str] | None = None) -> None:
        step = self.write_batch
        for b in range(0, len(ids), step):
            with self.io(f"writing {coll.name!r}"):
                coll.upsert(ids=ids[b : b + step], embeddings=vectors[b : b + step].astype(np.float32),
                            metadatas=metadatas[b : b + step],
                            documents=documents[b : b + step] if documents is not None else None)

    def delete_stale(self, paper_ids: list[str], keep: set[str]) -> None:
        """Remove the chunk and sentence rows of `paper_ids` that the latest write did not produce."""
        for coll in (self.chunks, self.sentences):
            for b in range(0, len(paper_ids), BATCH):
                stale = [r["id"] for r in self.paged(coll, where=_paper_in(paper_ids[b : b + BATCH])) if r["id"] not in keep]
                for s in range(0, len(stale), BATCH):
                    with self.io(f"deleting from {coll.name!r}"):
                        coll.delete(ids=stale[s : s + BATCH])

    def mark_incomplete(self, paper_ids: list[str]) -> None:
        """Delete the papers' rows only: until rewritten, they read as incompletely stored."""
        for b in range(0, len(paper_ids), BATCH):
            with self.io("updating papers"):
                self.paper_rows.delete(ids=paper_ids[b : b + BATCH])

    def papers_from(self, sources: list[str]) -> list[str]:
        """Ids of the stored papers whose source (file name) is one of `sources`."""
        where = {"source": sources[0]} if len(sources) == 1 else {"source": {"$in": sources}}
        return [r["id"] for r in self.paged(self.paper_rows, where=where)]

    def remove_papers(self, paper_ids: list[str]) -> None:
        """Delete papers: their row first (so a half-done removal reads as an incomplete paper), then the rest."""
        self.mark_incomplete(paper_ids)
        self.delete_stale(paper_ids, keep=set())


def distance_space(coll: Any) -> str:
    conf = coll.configuration or {}
    hnsw = conf.get("hnsw") or {}
    space = hnsw.get("space") if isinstance(hnsw, dict) else None
    if space is None:
        space = (coll.metadata or {}).get("hnsw:space", "l2")
    return str(space)


def _paper_in(paper_ids: list[str]) -> dict[str, Any]:
    return {"paper_id": paper_ids[0]} if len(paper_ids) == 1 else {"paper_id": {"$in": list(paper_ids)}}


LISTING_KEYS = ("title", "authors", "year", "url", "source", "added")


def listed_paper(row: tuple[Any, ...]) -> Paper:
    """The Paper (without its abstract) of one `Store.listing` row."""
    return paper_from_row(row[0], dict(zip(LISTING_KEYS, row[1:])), "")


def paper_from_row(pid: str, meta: Any, abstract: str) -> Paper:
    meta = dict(meta or {})
    authors = str(meta.get("authors") or "")
    year = meta.get("year")
    return Paper(
        id=pid,
        title=str(meta.get("title", pid)),
        abstract=abstract,
        authors=[a for a in authors.split("; ") if a],
        year=int(year) if isinstance(year, int) and year else None,
        url=str(meta.get("url") or "") or None,
        source=str(meta.get("source") or ""),
        added=str(meta.get("added") or "") or None,
    )


def describe_failure(e: BaseException, what: str, settings: Settings) -> str:
    """One line for a storage failure: what failed, where, and what to do."""
    text = f"{type(e).__name__}: {e}".replace("\n", " ")
    low = text.lower()
    where = settings.store_location()
    if any(s in low for s in ("no space left", "disk is full", "disk i/o error", "file too large", "compaction")) or (
        isinstance(e, OSError) and e.errno in (27, 28)
    ):
        return f"The disk holding the {where} is full or failing ({what} failed). Free some space and run the " \
               "command again; papers that were not completely written are redone."
    if any(s in low for s in ("readonly", "read-only", "permission denied")) or isinstance(e, PermissionError):
        return f"The {where} is not writable ({what} failed). Check the directory's permissions or set RAG_DATA_DIR."
    if settings.chroma_host and what == "opening":
        return f"Could not open the Chroma server {settings.chroma_host}:{settings.chroma_port} ({type(e).__name__}). " \
               "Start it with `chroma run --path DIR --port N`, or unset RAG_CHROMA_HOST to use the embedded store."
    if settings.chroma_host and any(
        s in low for s in ("connect", "protocol", "timeout", "timed out", "disconnected", "remote", "refused", "unreachable")
    ):
        return f"Lost the connection to the Chroma server {settings.chroma_host}:{settings.chroma_port} while {what}. " \
               "Check that `chroma run` is up, then run the command again."
    if "dimension" in low:
        return f"The {where} holds vectors of another size ({what}): it was built with another embedding model. " \
               "Use that model or another collection (RAG_COLLECTION)."
    short = text if len(text) < 200 else text[:200] + "…"
    return f"The {where} failed while {what}: {short}. If this persists, rebuild the index with `rag ingest`."
