"""Ingest into a real embedded Chroma with the real bundled embedding model."""

import json
from pathlib import Path

import pytest

from rag import Assistant, Settings
from rag.errors import CorpusError, StoreError
from rag.settings import BUNDLED_CORPUS


def jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


PAPER = {
    "id": "quokka-2025",
    "title": "Quokka: Counting Marsupials from Drone Imagery",
    "abstract": "We present Quokka, a detector that counts marsupials in drone images. "
    "Quokka reaches 97.1% counting accuracy on the new RooCount benchmark. "
    "It runs at 41 frames per second on a single laptop GPU.",
}


def test_reingest_adds_nothing_and_new_file_adds_only_new(assistant: Assistant, tmp_path: Path) -> None:
    before = assistant.store.count()
    assert before > 78  # auto-ingested on first use: several chunks per paper
    again = assistant.ingest(BUNDLED_CORPUS, progress=False)
    assert (again.papers_added, again.chunks_added, again.papers_unchanged) == (0, 0, 78)
    assert assistant.store.count() == before


def test_new_changed_and_bad_files(empty_assistant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a: Assistant = empty_assistant()
    first = a.ingest(jsonl(tmp_path / "a.jsonl", [PAPER]), progress=False)
    assert (first.papers_added, first.chunks_added) == (1, 1)
    other = dict(PAPER, id="other", title="Another Paper on Sorting", abstract="We sort lists quickly with SortNet. " * 5)
    second = a.ingest(jsonl(tmp_path / "b.jsonl", [PAPER, other]), progress=False)
    assert (second.papers_added, second.papers_unchanged) == (1, 1)
    changed = dict(PAPER, abstract=PAPER["abstract"] + " Code is released.")
    third = a.ingest(jsonl(tmp_path / "c.jsonl", [changed]), progress=False)
    assert third.papers_updated == 1 and a.store.count() == 2
    assert "Code is released." in a.paper("quokka-2025").abstract
    count = a.store.count()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(dict(PAPER, id="new-one")) + "\n{not json}\n")
    with pytest.raises(CorpusError, match=r"bad.jsonl:2"):
        a.ingest(bad, progress=False)
    assert a.store.count() == count  # the good first line was not written either
    assert "new-one" not in {p.id for p in a.papers()}


def test_chunks_fit_the_embedding_model_and_read_back_as_llama_index_nodes(assistant: Assistant) -> None:
    from llama_index.core.schema import MetadataMode

    from rag.store import distance_space

    nodes = assistant.store.vector_store.get_nodes(None)
    assert len(nodes) == assistant.store.count() > 78
    for n in nodes:
        text = n.get_content(metadata_mode=MetadataMode.EMBED)
        assert assistant.embedder.count_tokens(text) + 2 <= 256
        assert text.startswith("title: ")
        assert "abstract" not in n.metadata  # the abstract is held once, by the paper's row
    assert {distance_space(c) for c in (assistant.store.chunks, assistant.store.sentences)} == {"cosine"}
    assert assistant.store.sentences.count() > 600  # every abstract sentence, embedded on its own


def test_other_chunk_settings_are_refused(data_dir: Path, assistant: Assistant, embedder) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StoreError, match="built with other settings.*rag_chunk_size"):
        Assistant.open(assistant.settings.model_copy(update={"chunk_size": 128}), progress=False, embedder=embedder)


def test_l2_collection_is_refused(tmp_path: Path, embedder, model_cache) -> None:  # type: ignore[no-untyped-def]
    import chromadb

    from rag.store import collection_signature

    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"))
    for name in ("papers", "papers__sentences", "papers__papers"):
        client.create_collection(name, metadata=collection_signature(Settings(), embedder.signature()))
    with pytest.raises(StoreError, match="uses 'l2' distance"):
        Assistant.open(Settings(data_dir=tmp_path, auto_ingest=False, model_cache_dir=model_cache), progress=False,
                       embedder=embedder)


def test_answers_after_a_paper_changes_quote_the_new_text(empty_assistant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a: Assistant = empty_assistant()
    a.ingest(jsonl(tmp_path / "v1.jsonl", [PAPER]), progress=False)
    first = a.ask("What counting accuracy does Quokka reach on RooCount?")
    assert "97.1%" in first.text
    v2 = dict(PAPER, abstract="Quokka is a new detector for marsupials. Quokka now reaches 98.4% counting accuracy on RooCount. "
              "It runs at 41 frames per second on a single laptop GPU.")
    assert a.ingest(jsonl(tmp_path / "v2.jsonl", [v2]), progress=False).papers_updated == 1
    second = a.ask("What counting accuracy does Quokka reach on RooCount?")
    assert "98.4%" in second.text and "97.1%" not in second.text
    for c in second.citations:
        assert c.quote in c.abstract and all(c.abstract[x:y] in c.abstract for x, y in c.spans)
        assert c.abstract == v2["abstract"]
    assert a.store.sentences.count() == 3  # the old sentence rows were replaced, not kept
    assert a.lexical.counts() == (1, 1)


def test_same_id_for_different_papers_across_files(empty_assistant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a: Assistant = empty_assistant()
    other = dict(PAPER, title="A Different Paper", abstract="Something else entirely, at length. " * 4)
    with pytest.raises(CorpusError, match="also names a different paper at .*a.jsonl:1"):
        a.ingest(jsonl(tmp_path / "a.jsonl", [PAPER]), jsonl(tmp_path / "b.jsonl", [other]), progress=False)
    assert a.store.count() == 0
