"""Hybrid retrieval: four rankers fused by reciprocal rank, at the level of papers.

- chunk-dense: chunks by cosine similarity (Chroma HNSW);
- sentence-dense: single sentences by cosine similarity, so a question that restates one
  sentence of an abstract finds its paper even when the rest of the abstract is about
  something else;
- lexical: BM25 over chunks (lexical.py, SQLite FTS5);
- names: papers that use a name the question uses, from an inverted index; names used by
  more than a share of the collection are common terms and skipped.
Each ranker ranks papers by their best hit; RRF adds `weight / (rrf_k + rank)` over rankers.
A paper whose title carries a name the question uses ("Tree-Planner: ...") comes before
papers that merely mention the name, and so does a paper that introduces a distinctive name the
question uses ("... Control (DoC)" for "What is DoC?"), however many documents share its words. Filters (year, author, paper) go into every ranker's
query, never a post-filter that starves top-k.
Not here: deciding whether the evidence answers the question (answer.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .lexical import Lexical
from .models import Embedder
from .settings import Settings
from .store import Store
from .text import is_name, name_key, name_keys_in, paper_own_names, question_names
from .types import ChunkHit, Filters, Source

RANKERS = ("chunk_dense", "sentence_dense", "lexical", "names")


@dataclass
class Scope:
    """Filters resolved for the store and the lexical index; `empty` when nothing passes."""

    where: dict[str, Any] | None = None
    paper_ids: list[str] | None = None
    empty: bool = False


@dataclass
class _Best:
    """A paper's best hit in each ranker."""

    ranks: dict[str, int] = field(default_factory=dict)
    dense: float = 0.0
    sentence: float = 0.0
    bm25: float = 0.0
    named: bool = False
    chunks: dict[str, float | None] = field(default_factory=dict)  # chunk id -> cosine (None: lexical only)
    chunk_bm25: dict[str, float] = field(default_factory=dict)


class HybridRetriever:
    """Chunk-dense + sentence-dense + BM25 + names over one store, fused by paper."""

    def __init__(self, settings: Settings, store: Store, lexical: Lexical, embedder: Embedder) -> None:
        self.settings = settings
        self.store = store
        self.lexical = lexical
        self.embedder = embedder

    def scope(self, filters: Filters | None) -> Scope:
        if filters is None or not filters.active():
            return Scope()
        clauses: list[dict[str, Any]] = []
        ids: list[str] | None = None
        if filters.authors or filters.paper_ids:
            allowed: set[str] = set()
            for author in filters.authors or [""]:
                allowed |= set(self.lexical.filter_papers(years=filters.years, author=author or None,
                                                          paper_ids=filters.paper_ids or None))
            ids = sorted(allowed)
            if not ids:
                return Scope(empty=True)
            clauses.append({"paper_id": ids[0]} if len(ids) == 1 else {"paper_id": {"$in": ids}})
        if filters.years:
            clauses += [{"year": {"$gte": filters.years[0]}}, {"year": {"$lte": filters.years[1]}}]
            if ids is None:
                ids = self.lexical.filter_papers(years=filters.years)
                if not ids:
                    return Scope(empty=True)
        where = clauses[0] if len(clauses) == 1 else {"$and": clauses}
        return Scope(where=where, paper_ids=ids)

    def retrieve(self, question: str, *, k: int | None = None, query_vec: np.ndarray | None = None,
                 filters: Filters | None = None, rankers: tuple[str, ...] = RANKERS,
                 prefer: list[str] | None = None) -> list[Source]:
        """The top `k` papers for `question`, best first. `rankers` limits the fusion (ablations);
        `prefer` names papers a follow-up is about (the previous answer's), which get `followup_bonus`."""
        k = k or self.settings.top_k
        scope = self.scope(filters)
        if scope.empty:
            return []
        n = self.settings.candidates
        if query_vec is None:
            query_vec = self.embedder.encode([question])[0]
        best: dict[str, _Best] = defaultdict(_Best)
        sc = self.settings.scoring
        lists: dict[str, list[str]] = {}
        if "chunk_dense" in rankers:
            order: list[str] = []
            for cid, cos, _, meta in self.store.query(self.store.chunks, query_vec, n, scope.where):
                pid = str(meta.get("paper_id", cid.rsplit("::", 1)[0]))
                b = best[pid]
                b.dense = max(b.dense, cos)
                b.chunks.setdefault(cid, cos)
                order.append(pid)
            lists["chunk_dense"] = order
        if "sentence_dense" in rankers:
            order = []
            for sid, cos, _, meta in self.store.query(self.store.sentences, query_vec, 2 * n, scope.where):
                pid = str(meta.get("paper_id", sid.split("::", 1)[0]))
                best[pid].sentence = max(best[pid].sentence, cos)
                order.append(pid)
            lists["sentence_dense"] = order
        if "lexical" in rankers:
            order = []
            for cid, pid, score in self.lexical.search(question, n, scope.paper_ids):
                b = best[pid]
                b.bm25 = max(b.bm25, score)
                b.chunks.setdefault(cid, None)
                b.chunk_bm25[cid] = score
                order.append(pid)
            lists["lexical"] = order
        if "names" in rankers:
            lists["names"] = self._named(question, scope, best)
        weights = {"chunk_dense": sc.weight_chunk_dense, "sentence_dense": sc.weight_sentence_dense,
                   "lexical": sc.weight_lexical, "names": sc.weight_names}
        fused: dict[str, float] = defaultdict(float)
        for name, order in lists.items():
            for rank, pid in enumerate(dict.fromkeys(order), start=1):
                fused[pid] += weights[name] / (sc.rrf_k + rank)
                best[pid].ranks[name] = rank
        allowed = set(scope.paper_ids) if scope.paper_ids is not None else None
        for pid in prefer or []:
            if allowed is None or pid in allowed:
                fused[pid] += sc.followup_bonus
        ranked = sorted(fused, key=lambda p: (best[p].named, fused[p]), reverse=True)
        records = self.store.get_papers(list(dict.fromkeys(ranked[: k + 5] + [o[0] for o in lists.values() if o])))
        ranked = [p for p in ranked if p in records]
        # Each ranker's best paper stays in: rank 1 in two rankers must not lose to rank 3 in three.
        top = ranked[:k]
        for order in lists.values():
            first = next((p for p in order if p in records), None)
            if first is not None and first not in top and sc.keep_ranker_best and len(top) == k:
                spare = [p for p in reversed(top) if not any(o and o[0] == p for o in lists.values())]
                if spare:
                    top.remove(spare[0])
                    top.append(first)
        ranked = top
        chunk_ids = [c for p in ranked for c in best[p].chunks]
        texts = self.store.chunk_texts(chunk_ids) if chunk_ids else {}
        topics = self.store.paper_vectors(ranked)
        sources = []
        for rank, pid in enumerate(ranked, start=1):
            b = best[pid]
            hits = [
                ChunkHit(chunk_id=c, text=texts[c][0], page=int(texts[c][1].get("page") or 0) or None,
                         score=fused[pid], dense=cos, bm25=b.chunk_bm25.get(c))
                for c, cos in b.chunks.items() if c in texts
            ]
            topic = float(topics[pid] @ query_vec) if pid in topics else 0.0
            sources.append(Source(rank=rank, paper=records[pid], score=fused[pid], dense=b.dense, sentence=b.sentence,
                                  bm25=b.bm25, named=b.named, topic=topic, chunks=hits))
        return sources

    def _owners(self, key: str, found: list[tuple[str, bool, str]]) -> set[str]:
        """The papers among the few that use a distinctive name ("DoC", "CoIn") that introduce it
        as their own ("Dichotomy of Control (DoC)", "we propose X"): the papers the name refers to.
        Only when at most `owner_check_max` papers use it, so the check stays a few reads."""
        if len(found) > self.settings.scoring.owner_check_max:
            return set()
        records = self.store.get_papers([pid for pid, _, _ in found])
        return {pid for pid, p in records.items() if any(name_key(n) == key for n in paper_own_names(p.title, p.abstract))}

    def _named(self, question: str, scope: Scope, best: dict[str, _Best]) -> list[str]:
        """Papers using a name the question uses (any run of its words, matched as a name key),
        those whose title carries the name first. Names used by more than a share of the
        papers are common terms; a title's name counts only if it is not a common phrase."""
        sc = self.settings.scoring
        total = max(self.lexical.counts()[0], 1)
        common = max(sc.name_min_papers, sc.name_max_share * total)
        allowed = set(scope.paper_ids) if scope.paper_ids is not None else None
        named_keys = {name_key(n) for n in question_names(question)}
        distinct_keys = {name_key(n) for n in question_names(question) if is_name(n)}
        keys = set(name_keys_in(question)) | named_keys
        score: dict[str, float] = defaultdict(float)
        for key, found in self.lexical.names_for(keys).items():
            if key not in named_keys:  # a run of plain words ("tree planner") may only spell a title's own name
                found = [f for f in found if f[1]]
                if not found:
                    continue
            titled = [(p, ph) for p, t, ph in found if t]
            distinctive = len(found) <= common
            if titled and self.lexical.phrase_papers(titled[0][1], int(common) + 1) > common:
                titled = []  # a title made of common words ("Diffusion Models: ...") names nothing
            owners = self._owners(key, found) if key in distinct_keys and not titled else set()
            for pid, in_title, _ in found:
                if allowed is not None and pid not in allowed:
                    continue
                if (in_title and titled) or pid in owners:
                    best[pid].named = True
                    score[pid] += 2.0
                elif distinctive:
                    score[pid] += 1.0
        return [p for p in sorted(score, key=lambda p: score[p], reverse=True)][: self.settings.candidates]
