"""The Chroma collection behind a llama-index `ChromaVectorStore`.

One code path for both deployments: an embedded `PersistentClient` under
`settings.data_dir` by default, or a Chroma server (`chroma run`) when
`settings.chroma_host` is set. The collection is created with cosine distance and
records the embedding model and chunking settings in its metadata; opening it with
other settings raises `StoreError` instead of silently mixing vectors.
Not here: chunking and embedding (ingest.py), ranking (retrieve.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import models  # noqa: F401  (sets the offline/telemetry environment first)
from .errors import StoreError
from .settings import Settings
from .types import Paper

SCHEMA_VERSION = 1


def collection_signature(settings: Settings) -> dict[str, Any]:
    """What must match between the collection and the settings that open it."""
    return {
        "rag_schema": SCHEMA_VERSION,
        "rag_embed_model": settings.embed_model,
        "rag_chunk_size": settings.chunk_size,
        "rag_chunk_overlap": settings.chunk_overlap,
    }


class Store:
    """A checked Chroma collection of paper chunks."""

    def __init__(self, settings: Settings) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self.settings = settings
        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if settings.chroma_host:
                self.client = chromadb.HttpClient(
                    host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
                )
                self.client.heartbeat()
            else:
                path = Path(settings.data_dir) / "chroma"
                path.mkdir(parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        except StoreError:
            raise
        except Exception as e:
            raise StoreError(
                f"Could not open the {settings.store_location()}: {e}. "
                + (
                    "Start it with `chroma run --path DIR --port N`, or unset RAG_CHROMA_HOST "
                    "to use the embedded store."
                    if settings.chroma_host
                    else "Check that the directory is writable and not used by another Chroma version."
                )
            ) from e
        signature = collection_signature(settings)
        try:
            self.collection = self.client.get_or_create_collection(
                name=settings.collection,
                metadata=signature,
                configuration={"hnsw": {"space": "cosine"}},
            )
            # Sentence vectors of each abstract (pooled from the chunk pass at ingest), for
            # picking and checking evidence sentences without re-embedding at query time.
            self.sentences = self.client.get_or_create_collection(
                name=f"{settings.collection}__sentences",
                metadata=signature,
                configuration={"hnsw": {"space": "cosine"}},
            )
        except Exception as e:
            raise StoreError(
                f"Could not open collection {settings.collection!r} in the {settings.store_location()}: {e}"
            ) from e
        self._check(signature)
        self.vector_store = ChromaVectorStore(chroma_collection=self.collection)

    def _check(self, signature: dict[str, Any]) -> None:
        meta = self.collection.metadata or {}
        found = {k: meta.get(k) for k in signature}
        if found != signature:
            diff = ", ".join(
                f"{k}: collection has {found[k]!r}, settings ask for {signature[k]!r}"
                for k in signature
                if found[k] != signature[k]
            )
            raise StoreError(
                f"Collection {self.settings.collection!r} in the {self.settings.store_location()} "
                f"was built with other settings ({diff}). Use the settings it was built with, "
                "choose another collection (RAG_COLLECTION), or delete it and run `rag ingest`."
            )
        space = self.distance_space()
        if space != "cosine":
            raise StoreError(
                f"Collection {self.settings.collection!r} uses {space!r} distance, expected 'cosine'. "
                "Delete it and run `rag ingest` to rebuild it."
            )

    def distance_space(self) -> str:
        conf = self.collection.configuration or {}
        hnsw = conf.get("hnsw") or {}
        space = hnsw.get("space") if isinstance(hnsw, dict) else None
        if space is None:
            space = (self.collection.metadata or {}).get("hnsw:space", "l2")
        return str(space)

    def count(self) -> int:
        return int(self.collection.count())

    def paper_hashes(self, paper_ids: list[str]) -> dict[str, str]:
        """Content hash of each already-stored paper among `paper_ids`."""
        out: dict[str, str] = {}
        for i in range(0, len(paper_ids), 500):
            batch = paper_ids[i : i + 500]
            got = self.collection.get(ids=[f"{pid}::0" for pid in batch], include=["metadatas"])
            for meta in got["metadatas"] or []:
                if meta:
                    out[str(meta["paper_id"])] = str(meta.get("paper_hash", ""))
        return out

    def upsert_nodes(self, nodes: list[Any]) -> None:
        """Add or replace chunk nodes (with embeddings), in the layout llama-index reads back."""
        from llama_index.core.schema import MetadataMode
        from llama_index.core.vector_stores.utils import node_to_metadata_dict

        step = max(1, min(5000, self.client.get_max_batch_size()))
        for i in range(0, len(nodes), step):
            batch = nodes[i : i + step]
            self.collection.upsert(
                ids=[n.node_id for n in batch],
                embeddings=np.asarray([n.get_embedding() for n in batch], dtype=np.float32),
                metadatas=[node_to_metadata_dict(n, remove_text=True, flat_metadata=True) for n in batch],
                documents=[n.get_content(metadata_mode=MetadataMode.NONE) for n in batch],
            )

    def delete_stale(self, paper_ids: list[str], *, keep_chunks: set[str], keep_sentences: set[str]) -> None:
        """Remove the rows of `paper_ids` that the latest ingest did not write again."""
        if not paper_ids:
            return
        for coll, keep in ((self.collection, keep_chunks), (self.sentences, keep_sentences)):
            old = coll.get(where=_paper_in(paper_ids), include=[])["ids"]
            stale = [i for i in old if i not in keep]
            if stale:
                coll.delete(ids=stale)

    def add_sentences(self, rows: list[tuple[str, int, int, list[float]]]) -> None:
        """Store (paper_id, start, end, vector) rows; ids are stable, so this upserts."""
        for i in range(0, len(rows), 4000):
            batch = rows[i : i + 4000]
            self.sentences.upsert(  # ids are stable: a re-ingest replaces rows in place
                ids=[f"{pid}::{a}-{b}" for pid, a, b, _ in batch],
                embeddings=np.asarray([v for *_, v in batch], dtype=np.float32),
                metadatas=[{"paper_id": pid, "start": a, "end": b} for pid, a, b, _ in batch],
            )

    def sentence_vectors(self, paper_ids: list[str]) -> dict[str, list[tuple[int, int, Any]]]:
        """Stored (start, end, vector) rows of each paper's sentences, in text order."""
        if not paper_ids:
            return {}
        got = self.sentences.get(where=_paper_in(paper_ids), include=["embeddings", "metadatas"])
        out: dict[str, list[tuple[int, int, Any]]] = {}
        embeddings = got["embeddings"] if got["embeddings"] is not None else []
        for meta, vec in zip(got["metadatas"] or [], embeddings):
            start, end = meta["start"], meta["end"]
            assert isinstance(start, int) and isinstance(end, int)
            out.setdefault(str(meta["paper_id"]), []).append((start, end, vec))
        for rows in out.values():
            rows.sort(key=lambda r: r[0])
        return out

    def all_nodes(self) -> list[Any]:
        """Every stored chunk as a llama-index node (for BM25 and listings)."""
        if self.count() == 0:
            return []
        return list(self.vector_store.get_nodes(None))

    def papers(self) -> list[Paper]:
        """The stored papers, in title order."""
        if self.count() == 0:
            return []
        got = self.collection.get(where={"chunk": 0}, include=["metadatas"])
        papers = [paper_from_metadata(dict(m)) for m in got["metadatas"] or [] if m]
        return sorted(papers, key=lambda p: p.title.lower())


def _paper_in(paper_ids: list[str]) -> Any:
    return {"paper_id": {"$in": list(paper_ids)}}


def paper_from_metadata(meta: dict[str, Any]) -> Paper:
    authors = str(meta.get("authors") or "")
    year = meta.get("year")
    return Paper(
        id=str(meta["paper_id"]),
        title=str(meta["title"]),
        abstract=str(meta["abstract"]),
        authors=[a for a in authors.split("; ") if a],
        year=int(year) if isinstance(year, int) and year else None,
        url=str(meta.get("url") or "") or None,
    )
