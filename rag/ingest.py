"""Papers -> chunks and sentences -> embeddings -> the store and the lexical index.

Idempotent: chunk ids are `<paper_id>::<n>` and each paper's row records a content hash,
so re-ingesting the same papers adds nothing, a new file adds only its new papers, and a
changed paper is replaced whole. Papers are embedded and committed in bounded groups
(`ingest_group_chunks`), so memory stays flat as files grow, and a paper's row in the
papers collection is written last: an interrupted ingest leaves incomplete papers that
the next run detects and redoes. An id that already names a paper with another title is
refused unless `replace=True`: an upload cannot silently overwrite someone else's paper.
Not here: reading formats (corpus/), searching (retrieve.py).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .corpus import CorpusRead, paper_hash
from .errors import CorpusError
from .lexical import Lexical
from .models import Embedder
from .settings import Settings
from .store import Store
from .text import fold, looks_like_instruction, sentence_spans
from .types import IngestReport, Paper

# Stored with every chunk but never embedded or shown to an LLM as metadata.
_HIDDEN_KEYS = ["paper_id", "chunk", "year", "page", "section", "start", "end"]


class Chunk:
    """One chunk of a paper: its id, text, embedded text and metadata."""

    def __init__(self, node: Any, paper: Paper, n: int, page: int) -> None:
        from llama_index.core.schema import MetadataMode

        self.node = node
        node.id_ = f"{paper.id}::{n}"
        node.metadata.update({"chunk": n, "page": page, "start": node.start_char_idx or 0,
                              "end": node.end_char_idx or len(node.text)})
        self.id = node.id_
        self.text = node.get_content(metadata_mode=MetadataMode.NONE)
        self.embed_text = node.get_content(metadata_mode=MetadataMode.EMBED)
        self.page = page


def make_splitter(settings: Settings, embedder: Embedder) -> Any:
    from llama_index.core.node_parser import SentenceSplitter

    # Count in the embedding model's own word pieces, so no chunk is truncated.
    return SentenceSplitter(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap,
                            tokenizer=embedder.tokenize, include_prev_next_rel=False)


def chunk_paper(paper: Paper, splitter: Any) -> list[Chunk]:
    """The abstract's chunks, then each body passage's, every embedded text starting with the title."""
    from llama_index.core import Document

    out: list[Chunk] = []
    sections = [(0, paper.abstract)] + [(p.page, p.text) for p in paper.passages]
    for page, text in sections:
        doc = Document(
            text=text,
            metadata={"title": paper.title, "paper_id": paper.id, "year": paper.year or 0, "page": page,
                      "section": "body" if page else "abstract"},
            excluded_embed_metadata_keys=list(_HIDDEN_KEYS) + ["section"],
            excluded_llm_metadata_keys=list(_HIDDEN_KEYS) + ["section"],
        )
        try:
            nodes = splitter.get_nodes_from_documents([doc])
        except ValueError as e:  # e.g. a title longer than a whole chunk
            raise CorpusError(paper.location or paper.source, f"paper {paper.id!r} cannot be chunked: {e}. Shorten its title.") from None
        out.extend(Chunk(node, paper, len(out), page) for node in nodes)
    return out


class Sentence:
    """A sentence row: its id, text, and where it sits (abstract offsets, or offsets in a body chunk)."""

    def __init__(self, paper: Paper, section: str, page: int, start: int, end: int, text: str) -> None:
        tag = "a" if section == "abstract" else section.rsplit("::", 1)[-1]
        self.id = f"{paper.id}::s{tag}::{start}-{end}"
        self.meta = {"paper_id": paper.id, "section": section, "page": page, "start": start, "end": end,
                     "year": paper.year or 0}
        self.text = text


def paper_sentences(paper: Paper, chunks: list[Chunk]) -> list[Sentence]:
    """Every sentence that can be evidence: the abstract's, and each body chunk's.
    Instruction-like sentences and markup are left out: they are never evidence."""
    out = [Sentence(paper, "abstract", 0, a, b, paper.abstract[a:b]) for a, b in sentence_spans(paper.abstract)]
    seen = {_norm(s.text) for s in out}  # a PDF's first page repeats the abstract: cite the abstract, once
    for c in chunks:
        if c.page:
            out += [Sentence(paper, c.id, c.page, a, b, c.text[a:b]) for a, b in sentence_spans(c.text)
                    if _norm(c.text[a:b]) not in seen]
    return [s for s in out if len(s.text.split()) >= 3 and not looks_like_instruction(s.text)]


def _norm(text: str) -> str:
    return " ".join(fold(text).lower().split())


def same_title(a: str, b: str) -> bool:
    return " ".join(fold(a).lower().split()) == " ".join(fold(b).lower().split())


def ingest(
    read: CorpusRead,
    *,
    settings: Settings,
    store: Store,
    lexical: Lexical,
    embedder: Embedder,
    replace: bool = False,
    prune: bool = False,
    progress: bool = True,
    on_progress: Callable[[float, str], None] | None = None,
) -> IngestReport:
    """Chunk, embed and store the papers of `read`."""
    t0 = time.perf_counter()
    report = IngestReport(files=read.files, skipped=list(read.skipped), notes=list(read.notes))
    papers: dict[str, Paper] = {}
    for p in read.papers:
        prev = papers.get(p.id)
        if prev is not None and paper_hash(prev) != paper_hash(p):
            raise CorpusError(p.location or p.source, f"paper id {p.id!r} also names a different paper at "
                              f"{prev.location}; give each paper a unique id.")
        papers[p.id] = p
    report.papers_read = len(papers)
    with store.writing():
        stored = store.stored_hashes(list(papers))
        changed = [pid for pid, h in stored.items() if h != paper_hash(papers[pid])]
        _refuse_hijacks([papers[pid] for pid in changed], store, replace)
        todo = [p for pid, p in papers.items() if pid not in stored or pid in changed]
        report.papers_added = sum(1 for p in todo if p.id not in stored)
        report.papers_updated = len(changed)
        report.papers_unchanged = len(papers) - len(todo)
        if todo:
            report.chunks_added = _write(todo, settings, store, lexical, embedder, progress, on_progress)
        gone = _not_in_files(read, papers, store)
        if gone and prune:
            store.remove_papers(gone)
            lexical.remove(gone)
            report.papers_removed = len(gone)
        elif gone:
            report.notes.append(f"{len(gone)} stored paper(s) from these files are no longer in them; "
                                "pass --prune to remove them")
        if todo or report.papers_removed:
            _bump(store, lexical)
    report.chunks_total = store.count()
    report.seconds = time.perf_counter() - t0
    return report


def _refuse_hijacks(changed: list[Paper], store: Store, replace: bool) -> None:
    if replace or not changed:
        return
    stored = store.get_papers([p.id for p in changed])
    for p in changed:
        old = stored.get(p.id)
        if old is not None and not same_title(old.title, p.title):
            raise CorpusError(
                p.location or p.source,
                f"id {p.id!r} already names {old.title[:80]!r}; give this paper another id, "
                "or pass --replace to overwrite the stored one. Nothing was written.",
            )


def _not_in_files(read: CorpusRead, papers: dict[str, Paper], store: Store) -> list[str]:
    """Stored papers that came from one of these files but are no longer in it."""
    names = sorted({p.source for p in papers.values() if p.source})
    return [pid for pid in store.papers_from(names) if pid not in papers] if names else []


def _bump(store: Store, lexical: Lexical) -> None:
    """Change the version stamp; the local lexical index is current when nobody else wrote meanwhile."""
    before = store.version()
    stamp = store.bump_version()
    if lexical.meta("version") in (before, None, ""):
        lexical.set_meta("version", stamp)


def _write(todo: list[Paper], settings: Settings, store: Store, lexical: Lexical, embedder: Embedder,
           progress: bool, on_progress: Callable[[float, str], None] | None) -> int:
    from tqdm import tqdm

    splitter = make_splitter(settings, embedder)
    bar = tqdm(total=len(todo), desc="Embedding papers", unit="paper", disable=not progress)
    group: list[tuple[Paper, list[Chunk]]] = []
    size = written = done = 0
    for p in todo:
        chunks = chunk_paper(p, splitter)
        group.append((p, chunks))
        size += len(chunks)
        if size >= settings.ingest_group_chunks:
            written += _commit(group, store, lexical, embedder)
            done += len(group)
            bar.update(len(group))
            if on_progress:
                on_progress(done / len(todo), f"{done} of {len(todo)} papers")
            group, size = [], 0
    if group:
        written += _commit(group, store, lexical, embedder)
        bar.update(len(group))
    bar.close()
    return written


def _commit(group: list[tuple[Paper, list[Chunk]]], store: Store, lexical: Lexical, embedder: Embedder) -> int:
    """Embed and write one group of papers; each paper's row goes last."""
    from llama_index.core.vector_stores.utils import node_to_metadata_dict

    ids = [p.id for p, _ in group]
    store.mark_incomplete(ids)  # a changed paper stops counting as complete before any of its rows change
    chunks = [c for _, cs in group for c in cs]
    sents = [s for p, cs in group for s in paper_sentences(p, cs)]
    vecs = embedder.encode([c.embed_text for c in chunks] + [s.text for s in sents], bulk=True)
    cvecs, svecs = vecs[: len(chunks)], vecs[len(chunks) :]
    centroid: dict[str, np.ndarray] = {}
    for c, v in zip(chunks, cvecs):
        pid = c.id.rsplit("::", 1)[0]
        if not c.page or pid not in centroid:
            centroid[pid] = centroid.get(pid, 0) + v
    for pid in centroid:
        centroid[pid] = centroid[pid] / (np.linalg.norm(centroid[pid]) or 1.0)
    for s, v in zip(sents, svecs):
        # How well the sentence fits its own paper: a planted off-topic sentence fits badly.
        s.meta["fit"] = round(float(v @ centroid[str(s.meta["paper_id"])]), 4)
    store.upsert(store.sentences, [s.id for s in sents], svecs, [s.meta for s in sents], [s.text for s in sents])
    for c, v in zip(chunks, cvecs):
        c.node.embedding = v.tolist()
    store.upsert(store.chunks, [c.id for c in chunks], cvecs,
                 [node_to_metadata_dict(c.node, remove_text=True, flat_metadata=True) for c in chunks],
                 [c.text for c in chunks])
    store.delete_stale(ids, keep={c.id for c in chunks} | {s.id for s in sents})
    lexical.remove(ids)
    papers = [p for p, _ in group]
    lexical.add([(p, paper_hash(p)) for p in papers], [(c.id, p.id, p.title, c.text) for p, cs in group for c in cs])
    today = dt.date.today().isoformat()
    store.upsert(store.paper_rows, ids, np.stack([centroid[p.id] for p in papers]),
                 [_paper_meta(p, today, sum(1 for c in cs)) for p, cs in group], [p.abstract for p in papers])
    return len(chunks)


def _paper_meta(p: Paper, added: str, chunks: int) -> dict[str, Any]:
    return {"title": p.title, "authors": "; ".join(p.authors), "year": p.year or 0, "url": p.url or "",
            "source": p.source, "hash": paper_hash(p), "chunks": chunks, "added": p.added or added}
