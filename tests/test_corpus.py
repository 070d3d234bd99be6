from pathlib import Path

import pytest

from rag.corpus import paper_id_for, read_path
from rag.errors import CorpusError
from rag.settings import BUNDLED_CORPUS, Settings
from rag.types import Paper


def read_corpus(path: Path) -> list[Paper]:
    return read_path(path, Settings()).papers

ABSTRACT = "We study a thing. " * 10


def test_bundled_corpus_has_78_papers_with_unique_stable_ids() -> None:
    papers = read_corpus(BUNDLED_CORPUS)
    assert len(papers) == 78
    assert len({p.id for p in papers}) == 78
    assert papers[0].title.startswith("SequenceMatch")
    assert all(len(p.abstract) > 500 for p in papers)
    tree = next(p for p in papers if p.title.startswith("Tree-Planner"))
    assert tree.id == "tree-planner-efficient-close-loop-task-planning-c7e2cf"
    assert paper_id_for("  tree-planner: EFFICIENT close-loop task planning with large language models ") == paper_id_for(tree.title)


def test_bundled_copy_matches_shared_corpus() -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "hf_daily_papers_aug19.txt"
    if not shared.exists():
        pytest.skip("no ../shared checkout beside the project")
    assert shared.read_bytes() == BUNDLED_CORPUS.read_bytes()


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return p


def test_title_without_abstract_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "papers.txt", f"First Paper\n\n{ABSTRACT}\n\nSecond Paper\n\nThird Paper\n\n{ABSTRACT}\n")
    with pytest.raises(CorpusError) as e:
        read_corpus(p)
    assert f"{p}:7" in str(e.value)  # "Third Paper" sits where an abstract should
    assert "abstract" in str(e.value)


def test_trailing_title_without_abstract(tmp_path: Path) -> None:
    p = write(tmp_path, "papers.txt", f"First Paper\n\n{ABSTRACT}\n\nDangling Title\n")
    with pytest.raises(CorpusError, match=r"papers.txt:5: the title 'Dangling Title' has no abstract"):
        read_corpus(p)


def test_missing_blank_line(tmp_path: Path) -> None:
    p = write(tmp_path, "papers.txt", f"First Paper\n{ABSTRACT}\n")
    with pytest.raises(CorpusError, match=r":2: expected a blank line"):
        read_corpus(p)


def test_empty_and_wrong_encoding(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="is empty"):
        read_corpus(write(tmp_path, "empty.txt", "\n  \n"))
    with pytest.raises(CorpusError, match="is empty"):
        read_corpus(write(tmp_path, "zero.jsonl", ""))
    with pytest.raises(CorpusError, match=r"bad.txt:3: .*not UTF-8"):
        read_corpus(write(tmp_path, "bad.txt", b"Title\n\n" + "Caf\u00e9 ".encode("latin-1") * 40 + b"\n"))
    with pytest.raises(CorpusError, match="no such file"):
        read_corpus(tmp_path / "missing.jsonl")


def test_jsonl_reader_and_errors(tmp_path: Path) -> None:
    good = write(
        tmp_path,
        "ok.jsonl",
        f'{{"id": "p1", "title": "A Paper", "abstract": "{ABSTRACT}", "authors": ["A. B"], "year": 2024}}\n\n'
        f'{{"title": "B Paper", "abstract": "{ABSTRACT}"}}\n',
    )
    papers = read_corpus(good)
    assert [p.id for p in papers] == ["p1", paper_id_for("B Paper")]
    assert papers[0].authors == ["A. B"] and papers[0].year == 2024
    bad = write(tmp_path, "bad.jsonl", f'{{"title": "A", "abstract": "{ABSTRACT}"}}\n{{"title": "B", abstract: 1}}\n')
    with pytest.raises(CorpusError, match=r"bad.jsonl:2: bad JSON"):
        read_corpus(bad)
    no_abs = write(tmp_path, "noabs.jsonl", '{"title": "A"}\n')
    with pytest.raises(CorpusError, match=r'noabs.jsonl:1: field "abstract" must be a non-empty string'):
        read_corpus(no_abs)
    dup = write(tmp_path, "dup.jsonl", '{{"id": "x", "title": "A", "abstract": "{}"}}\n{{"id": "x", "title": "B", "abstract": "{}"}}\n'.format(ABSTRACT, ABSTRACT + "More."))
    with pytest.raises(CorpusError, match="share the id 'x'"):
        read_corpus(dup)
    year = write(tmp_path, "year.jsonl", f'{{"title": "A", "abstract": "{ABSTRACT}", "year": "soon"}}\n')
    with pytest.raises(CorpusError, match=r'year.jsonl:1: "year" must be a whole number'):
        read_corpus(year)
