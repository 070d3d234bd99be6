"""Papers -> sentence-aware chunks -> embeddings -> the Chroma store.

Idempotent: chunk ids are `<paper_id>::<n>` and each paper records a content hash,
so re-ingesting the same papers adds nothing, a new file adds only its new papers,
and a paper whose text changed is replaced whole. Every file is read and validated
before anything is written, and a paper's chunks are embedded before any is stored,
so a bad file or an interrupted embedding leaves the store as it was.
Not here: reading formats (corpus.py), retrieval (retrieve.py).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import MetadataMode, TextNode
from tqdm import tqdm

from .corpus import read_corpus
from .errors import CorpusError
from .models import Embedder
from .settings import Settings
from .store import Store
from .text import sentence_spans
from .types import IngestReport, Paper

# Stored with every chunk but never embedded or shown to an LLM as metadata.
_HIDDEN_KEYS = ["paper_id", "chunk", "paper_hash", "abstract", "authors", "year", "url", "source"]


def paper_hash(paper: Paper) -> str:
    payload = "\x1f".join([paper.title, paper.abstract, ";".join(paper.authors), str(paper.year), paper.url or ""])
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def chunk_paper(paper: Paper, splitter: SentenceSplitter, *, source: str, path: str = "") -> list[TextNode]:
    """Split one paper's abstract into nodes whose embedded text starts with the title."""
    doc = Document(
        id_=paper.id,
        text=paper.abstract,
        metadata={
            "title": paper.title,
            "paper_id": paper.id,
            "paper_hash": paper_hash(paper),
            "abstract": paper.abstract,
            "authors": "; ".join(paper.authors),
            "year": paper.year or 0,
            "url": paper.url or "",
            "source": source,
            "chunk": 0,
        },
        excluded_embed_metadata_keys=list(_HIDDEN_KEYS),
        excluded_llm_metadata_keys=list(_HIDDEN_KEYS),
    )
    try:
        nodes = splitter.get_nodes_from_documents([doc])
    except ValueError as e:  # e.g. a title longer than a whole chunk
        raise CorpusError(path or source, f"paper {paper.id!r} cannot be chunked: {e}. Shorten its title.") from None
    out: list[TextNode] = []
    for i, node in enumerate(nodes):
        assert isinstance(node, TextNode)
        node.id_ = f"{paper.id}::{i}"
        node.metadata["chunk"] = i
        out.append(node)
    return out


def _pool_sentences(
    node: TextNode, embed_text: str, token_vecs: np.ndarray, token_offsets: np.ndarray
) -> list[tuple[str, int, int, list[float]]]:
    """Mean-pool the chunk's token vectors over each whole sentence it contains.

    Offsets are abstract offsets. A sentence cut by a chunk boundary is skipped here
    and embedded on its own at query time (citations.SentenceIndex).
    """
    start = node.start_char_idx
    if start is None or not len(token_vecs):
        return []
    abstract = str(node.metadata["abstract"])
    prefix = len(embed_text) - len(node.text)  # the embedded text ends with the chunk text
    end = start + len(node.text)
    rows = []
    for a, b in sentence_spans(abstract):
        if a < start or b > end:
            continue
        lo, hi = prefix + a - start, prefix + b - start
        sel = (token_offsets[:, 0] >= lo) & (token_offsets[:, 1] <= hi)
        if sel.sum() < 2:
            continue
        v = token_vecs[sel].mean(axis=0)
        v = v / (np.linalg.norm(v) or 1.0)
        rows.append((str(node.metadata["paper_id"]), a, b, v.tolist()))
    return rows


def _first_per_sentence(rows: list[tuple[str, int, int, list[float]]]) -> list[tuple[str, int, int, list[float]]]:
    seen: dict[tuple[str, int, int], tuple[str, int, int, list[float]]] = {}
    for r in rows:
        seen.setdefault((r[0], r[1], r[2]), r)
    return list(seen.values())


def make_splitter(settings: Settings, embedder: Embedder) -> SentenceSplitter:
    # Count in the embedding model's own word pieces, so no chunk is truncated.
    return SentenceSplitter(
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        tokenizer=embedder.tokenizer.tokenize,
        include_prev_next_rel=False,
    )


def ingest_files(
    paths: Iterable[str | Path],
    *,
    settings: Settings,
    store: Store,
    embedder: Embedder,
    progress: bool = True,
) -> IngestReport:
    """Read, validate, chunk, embed and store the papers of `paths`."""
    t0 = time.perf_counter()
    files = [str(p) for p in paths]
    # 1. Read and validate everything first: a bad file writes nothing.
    per_file = [(f, read_corpus(f)) for f in files]
    report = IngestReport(files=files)
    papers: dict[str, tuple[Paper, str]] = {}
    for f, ps in per_file:
        report.papers_read += len(ps)
        for p in ps:
            prev = papers.get(p.id)
            if prev is not None and paper_hash(prev[0]) != paper_hash(p):
                raise CorpusError(
                    f, f"paper id {p.id!r} also names a different paper in {prev[1]}; give each paper a unique id."
                )
            papers[p.id] = (p, Path(f).name)
    files_of = {p.id: f for f, ps in per_file for p in ps}
    # 2. Decide what is new, changed or already there.
    stored = store.paper_hashes(list(papers))
    todo: list[tuple[Paper, str]] = []
    changed: list[str] = []
    for pid, (p, src) in papers.items():
        h = stored.get(pid)
        if h is None:
            todo.append((p, src))
            report.papers_added += 1
        elif h != paper_hash(p):
            todo.append((p, src))
            changed.append(pid)
            report.papers_updated += 1
        else:
            report.papers_unchanged += 1
    # 3. Chunk and embed, then write.
    if todo:
        splitter = make_splitter(settings, embedder)
        nodes = [n for p, src in todo for n in chunk_paper(p, splitter, source=src, path=files_of[p.id])]
        texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
        sentence_rows: list[tuple[str, int, int, list[float]]] = []
        bar = tqdm(total=len(texts), desc="Embedding chunks", unit="chunk", disable=not progress)
        step = settings.embed_batch_size * 4
        for i in range(0, len(texts), step):
            vecs, toks, offs = embedder.encode_with_tokens(texts[i : i + step])
            for n, text, v, t, o in zip(nodes[i : i + step], texts[i : i + step], vecs, toks, offs):
                n.embedding = v.tolist()
                sentence_rows.extend(_pool_sentences(n, text, t, o))
            bar.update(len(texts[i : i + step]))
        bar.close()
        sentence_rows = _first_per_sentence(sentence_rows)
        # Write before deleting anything: ids are stable, so upserts replace a changed paper's
        # rows in place and only its rows that no longer exist are removed afterwards. The
        # sentences go first: a paper counts as stored once its chunks are.
        store.add_sentences(sentence_rows)
        store.upsert_nodes(nodes)
        store.delete_stale(changed, keep_chunks={n.node_id for n in nodes},
                           keep_sentences={f"{pid}::{a}-{b}" for pid, a, b, _ in sentence_rows})
        report.chunks_added = len(nodes)
    report.chunks_total = store.count()
    report.seconds = time.perf_counter() - t0
    return report
