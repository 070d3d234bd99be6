"""Hybrid retrieval: dense (Chroma, cosine) plus BM25, fused by reciprocal rank,
grouped by paper.

The BM25 index is built from the chunks stored in Chroma (a Chroma-backed
llama-index index has an empty docstore, so `BM25Retriever.from_defaults(index=...)`
cannot be used) and is rebuilt after each ingest. The result is a ranked list of
`Source`s, one per paper, with their best chunks and scores.
Not here: deciding whether the evidence answers the question (answer.py).
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from typing import Any

from llama_index.core.schema import QueryBundle
from llama_index.core.vector_stores.types import VectorStoreQuery

from .models import Embedder
from .settings import Settings
from .store import Store, paper_from_metadata
from .text import question_names
from .types import ChunkHit, Source


class HybridRetriever:
    """Dense + BM25 retrieval over one `Store`, fused and grouped by paper."""

    def __init__(self, settings: Settings, store: Store, embedder: Embedder) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self._bm25: Any = None
        self._nodes: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the BM25 index from the chunks now in the store."""
        from llama_index.retrievers.bm25 import BM25Retriever

        nodes = self.store.all_nodes()
        with self._lock:
            self._nodes = {n.node_id: n for n in nodes}
            self._bm25 = (
                BM25Retriever.from_defaults(
                    nodes=nodes,
                    similarity_top_k=min(self.settings.candidates, len(nodes)),
                    language="english",
                )
                if nodes
                else None
            )

    @property
    def chunk_count(self) -> int:
        return len(self._nodes)

    def dense(self, query_vec: list[float], n: int) -> list[tuple[Any, float]]:
        """Chunks by cosine similarity (Chroma returns exp(-distance); we undo that)."""
        if not self._nodes:
            return []
        res = self.store.vector_store.query(
            VectorStoreQuery(query_embedding=query_vec, similarity_top_k=min(n, len(self._nodes)))
        )
        out = []
        for node, sim in zip(res.nodes or [], res.similarities or [], strict=True):
            out.append((node, 1.0 + math.log(max(sim, 1e-12))))
        return out

    def lexical(self, question: str, n: int) -> list[tuple[Any, float]]:
        bm25 = self._bm25
        if bm25 is None:
            return []
        try:
            hits = bm25.retrieve(QueryBundle(question))
        except (ValueError, IndexError):  # a question made only of stopwords
            return []
        return [(h.node, float(h.score or 0.0)) for h in hits[:n] if (h.score or 0) > 0]

    def named(self, question: str, n: int) -> list[Any]:
        """Chunks that contain a name the question uses verbatim ("What is DoC?"), a third
        ranker: acronyms and method names are where embeddings and stemming are weakest."""
        hits: list[Any] = []
        seen: set[str] = set()
        known = self._nodes  # one snapshot: refresh() may swap it from another thread
        for name in sorted(question_names(question), key=len, reverse=True)[:3]:
            got = self.store.collection.get(where_document={"$contains": name}, limit=n, include=[])
            found = [known[c] for c in got["ids"] if c in known]
            if len({f.metadata["paper_id"] for f in found}) > 3:
                continue  # a common term ("RL"), not a distinctive name
            for node in found:
                if node.node_id not in seen:
                    seen.add(node.node_id)
                    hits.append(node)
        return hits[:n]

    def retrieve(self, question: str, *, k: int | None = None, query_vec: list[float] | None = None) -> list[Source]:
        """The top `k` papers for `question`, best first."""
        k = k or self.settings.top_k
        n = self.settings.candidates
        if query_vec is None:
            query_vec = self.embedder.encode([question])[0].tolist()
        dense = self.dense(query_vec, n)
        lexical = self.lexical(question, n)
        rrf: dict[str, float] = defaultdict(float)
        nodes: dict[str, Any] = {}
        dense_of: dict[str, float] = {}
        bm25_of: dict[str, float] = {}
        for rank, (node, sim) in enumerate(dense, start=1):
            rrf[node.node_id] += 1.0 / (self.settings.rrf_k + rank)
            nodes[node.node_id] = node
            dense_of[node.node_id] = sim
        for rank, node in enumerate(self.named(question, n), start=1):
            rrf[node.node_id] += 1.0 / (self.settings.rrf_k + rank)
            nodes.setdefault(node.node_id, node)
        for rank, (node, score) in enumerate(lexical, start=1):
            rrf[node.node_id] += 1.0 / (self.settings.rrf_k + rank)
            nodes.setdefault(node.node_id, node)
            bm25_of[node.node_id] = score
        by_paper: dict[str, list[ChunkHit]] = defaultdict(list)
        meta: dict[str, dict[str, Any]] = {}
        for cid, score in rrf.items():
            node = nodes[cid]
            pid = str(node.metadata["paper_id"])
            meta.setdefault(pid, node.metadata)
            by_paper[pid].append(
                ChunkHit(
                    chunk_id=cid,
                    text=node.get_content(),
                    score=score,
                    dense=dense_of.get(cid),
                    bm25=bm25_of.get(cid),
                )
            )
        ranked = []
        for pid, hits in by_paper.items():
            hits.sort(key=lambda h: h.score, reverse=True)
            # A paper is as good as its best chunk, plus a little for a second good one.
            score = hits[0].score + (0.25 * hits[1].score if len(hits) > 1 else 0.0)
            ranked.append((score, pid, hits))
        ranked.sort(key=lambda t: t[0], reverse=True)
        sources = []
        for rank, (score, pid, hits) in enumerate(ranked[:k], start=1):
            sources.append(
                Source(
                    rank=rank,
                    paper=paper_from_metadata(meta[pid]),
                    score=score,
                    dense=max((h.dense for h in hits if h.dense is not None), default=0.0),
                    bm25=max((h.bm25 for h in hits if h.bm25 is not None), default=0.0),
                    chunks=hits,
                )
            )
        return sources
