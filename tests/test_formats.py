"""Bring your own papers: PDF (made here with fpdf2), arXiv metadata JSONL, Daily Papers API
JSON, BibTeX, a directory; metadata in citations; filters; delete and re-add; fetching from a
local HTTP server that serves the real formats. Real store, real models."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rag import Assistant, CorpusError, Settings
from rag.corpus import read_path
from rag.settings import BUNDLED_CORPUS
from rag.text import fold
from tests.conftest import cli_env, jsonl, run_cli

BUNDLED = {p.title.split(":")[0]: p for p in read_path(BUNDLED_CORPUS, Settings()).papers}
FIVE = [BUNDLED[k] for k in ("Tree-Planner", "SequenceMatch", "NeuroBack", "CounterBench",
                             "Reward-Consistent Dynamics Models are Strongly Generalizable for Offline Reinforcement Learning")]
QUESTIONS = [
    ("How much does Tree-Planner reduce token consumption?", "92.2%"),
    ("How does SequenceMatch incorporate backtracking?", "backspace"),
    ("On which SAT solver is NeuroBack implemented?", "Kissat"),
    ("How many questions does CounterBench comprise?", "1K"),
    ("What does MOREC learn from offline data?", "dynamics reward"),
]
META = [{"authors": ["Ada Lovelace", "Alan Turing"], "year": 2023}, {"authors": ["Grace Hopper"], "year": 2023},
        {"authors": ["Edsger Dijkstra"], "year": 2024}, {"authors": ["Barbara Liskov"], "year": 2024},
        {"authors": ["Donald Knuth", "Ada Lovelace"], "year": 2024}]


def ascii(text: str) -> str:
    return fold(text).encode("latin-1", "replace").decode("latin-1")


def make_pdf(path: Path, title: str, abstract: str, pages: list[str] | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 8, ascii(title))
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 6, "Abstract", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(0, 5, ascii(abstract))
    for body in pages or []:
        pdf.add_page()
        pdf.multi_cell(0, 5, ascii(body))
    pdf.output(str(path))
    return path


def write_formats(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    out["txt"] = folder / "five.txt"
    out["txt"].write_text("".join(f"{p.title}\n\n{p.abstract}\n\n" for p in FIVE))
    out["jsonl"] = jsonl(folder / "five.jsonl", [{"title": p.title, "abstract": p.abstract, **m} for p, m in zip(FIVE, META)])
    out["arxiv"] = jsonl(folder / "arxiv.jsonl", [
        {"id": f"2401.0000{i}", "submitter": "x", "authors": ", ".join(m["authors"]), "title": p.title, "comments": None,
         "journal-ref": None, "doi": None, "categories": "cs.LG", "abstract": p.abstract,
         "versions": [{"version": "v1", "created": f"Mon, 1 Jan {m['year']} 10:00:00 GMT"}],
         "update_date": f"{m['year']}-01-02", "authors_parsed": []} for i, (p, m) in enumerate(zip(FIVE, META))])
    out["json"] = folder / "daily.json"
    out["json"].write_text(json.dumps([{"paper": {"id": f"2401.0000{i}", "title": p.title, "summary": p.abstract,
                                                   "authors": [{"name": a} for a in m["authors"]]},
                                        "publishedAt": f"{m['year']}-08-19T00:00:00.000Z"}
                                       for i, (p, m) in enumerate(zip(FIVE, META))]))
    bib = []
    for i, (p, m) in enumerate(zip(FIVE, META)):
        authors = " and ".join(f"{a.split()[-1]}, {a.split()[0]}" for a in m["authors"])
        bib.append(f"@article{{paper{i},\n  title={{{p.title}}},\n  author={{{authors}}},\n  year={{{m['year']}}},\n"
                   f"  abstract={{{p.abstract}}},\n  doi={{10.1234/p{i}}}\n}}\n")
    bib.append("@misc{nobody,\n  title={A Note Without an Abstract},\n  year={2020}\n}\n")
    out["bib"] = folder / "library.bib"
    out["bib"].write_text("\n".join(bib))
    pdfs = folder / "pdfs"
    pdfs.mkdir(exist_ok=True)
    for i, p in enumerate(FIVE):
        make_pdf(pdfs / f"paper{i}.pdf", p.title, p.abstract)
    out["pdf"] = pdfs
    return out


@pytest.fixture(scope="module")
def formats(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_formats(tmp_path_factory.mktemp("formats"))


@pytest.fixture
def store(tmp_path: Path, embedder: Any, base_settings: Callable[..., Settings]) -> Callable[..., Assistant]:
    def make(name: str = "s", **kw: Any) -> Assistant:
        return Assistant.open(base_settings(data_dir=tmp_path / name, auto_ingest=False, engine="extractive", **kw),
                              progress=False, embedder=embedder)

    return make


def test_each_format_gives_the_same_answers(formats: dict[str, Path], store: Callable[..., Assistant]) -> None:
    answers: dict[str, list[str]] = {}
    for name, path in formats.items():
        a = store(name)
        report = a.ingest(path)
        assert report.papers_added == 5, (name, str(report))
        if name == "bib":
            assert any("nobody" in s and "no abstract" in s for s in report.skipped)
        answers[name] = []
        for q, fact in QUESTIONS:
            ans = a.ask(q)
            assert not ans.refused and fact in ans.text, (name, q, ans.text)
            answers[name].append(ans.text)
        a.close()
    first = answers.pop("txt")
    for name, texts in answers.items():
        assert texts == first, name


def test_metadata_reaches_citations_and_the_papers_table(formats: dict[str, Path], store: Callable[..., Assistant],
                                                          model_cache: Path, tmp_path: Path) -> None:
    a = store()
    a.ingest(formats["bib"])
    c = a.ask(QUESTIONS[0][0]).to_json_dict()["citations"][0]
    assert c["authors"] == ["Ada Lovelace", "Alan Turing"] and c["year"] == 2023
    assert c["url"] == "https://doi.org/10.1234/p0" and c["source"] == "library.bib" and c["page"] is None
    a.close()
    env = cli_env(tmp_path / "s", model_cache, RAG_AUTO_INGEST="false")
    table = run_cli(["papers"], env).stdout
    assert "Ada Lovelace" in table and "2023" in table and "library.bib" in table and "(5 of 5 papers)" in table


def test_pdf_body_page_is_cited_with_its_page(tmp_path: Path, store: Callable[..., Assistant]) -> None:
    p = FIVE[0]
    body = [
        "Section 2 describes the household simulator used in every experiment and its action space. " * 3,
        "Section 3 reports the deployment study. Tree-Planner was deployed on a fleet of 37 kitchen robots "
        "for eleven weeks. The kitchen fleet completed 4,812 cooking tasks during the deployment study.",
        "Section 4 discusses limitations of plan sampling and future work on grounding. " * 3,
        "Appendix A lists the prompts used for plan sampling and grounded deciding. " * 3,
    ]
    pdf = make_pdf(tmp_path / "tree.pdf", p.title, p.abstract, body)
    a = store()
    report = a.ingest(pdf)
    assert report.papers_added == 1
    ans = a.ask("How many kitchen robots were in the Tree-Planner deployment fleet?")
    assert not ans.refused and "37 kitchen robots" in ans.text, ans.text
    assert "p. 3]" in ans.text
    cite = next(c for c in ans.citations if c.page)
    assert cite.page == 3 and cite.passage and cite.quote in cite.passage and "37" in cite.quote
    assert ans.to_json_dict()["citations"][0]["page"] == 3
    abs_ans = a.ask("How much does Tree-Planner reduce token consumption?")
    fact = next(s for s in abs_ans.text.split("] ") if "92.2%" in s)  # the abstract's fact cites the abstract, no page
    assert abs_ans.citations[0].page is None and fact.endswith("[1") and "p." not in fact, abs_ans.text


def test_scanned_and_encrypted_pdfs_are_refused(tmp_path: Path, store: Callable[..., Assistant]) -> None:
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    scan = FPDF()
    scan.add_page()
    scan.rect(20, 20, 150, 200, style="F")  # an "image" of a page: no text layer
    scan.output(str(tmp_path / "scan.pdf"))
    plain = make_pdf(tmp_path / "plain.pdf", FIVE[1].title, FIVE[1].abstract)
    writer = PdfWriter(clone_from=PdfReader(str(plain)))
    writer.encrypt("secret")
    writer.write(str(tmp_path / "locked.pdf"))
    a = store()
    with pytest.raises(CorpusError, match=r"scan.pdf: has no text layer.*OCR"):
        a.ingest(tmp_path / "scan.pdf")
    with pytest.raises(CorpusError, match=r"locked.pdf: is encrypted"):
        a.ingest(tmp_path / "locked.pdf")
    assert a.store.paper_count() == 0


def test_a_directory_is_read_recursively(formats: dict[str, Path], store: Callable[..., Assistant], tmp_path: Path) -> None:
    d = tmp_path / "lib"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "a.pdf").write_bytes((formats["pdf"] / "paper0.pdf").read_bytes())
    (d / "b.bib").write_text(formats["bib"].read_text())
    (d / "notes.docx").write_text("not a paper")
    a = store()
    report = a.ingest(d)
    assert report.papers_read == 6  # 5 from the BibTeX, 1 PDF (the same Tree-Planner under another id)
    assert any("notes.docx" in s and "not a supported format" in s for s in report.skipped)


def test_filters_in_api_and_cli(formats: dict[str, Path], store: Callable[..., Assistant], model_cache: Path,
                                tmp_path: Path) -> None:
    a = store()
    a.ingest(formats["jsonl"])
    q = QUESTIONS[0][0]  # Tree-Planner: 2023, Lovelace and Turing
    assert "92.2%" in a.ask(q, filters={"years": [2023, 2023]}).text
    assert "92.2%" in a.ask(q, filters={"authors": ["turing"]}).text
    out = a.ask(q, filters={"years": [2024, 2024]})
    assert out.refused and out.text == "None of the selected papers (year 2024) answers this question."
    assert all(s.paper.year == 2024 for s in out.sources)
    only = a.ask(q, filters={"authors": ["Knuth"]})
    assert only.refused and "author Knuth" in only.text
    assert {s.paper.id for s in a.retrieve(q, filters={"authors": ["Lovelace"]})} <= {
        p.id for p in a.papers() if "Ada Lovelace" in p.authors}
    a.close()
    env = cli_env(tmp_path / "s", model_cache, RAG_AUTO_INGEST="false")
    ok = json.loads(run_cli(["ask", "--json", "--year", "2022..2023", q], env).stdout)
    assert "92.2%" in ok["answer"] and ok["filters"] == "years 2022–2023"
    no = json.loads(run_cli(["ask", "--json", "--author", "Liskov", q], env).stdout)
    assert no["refused"] and "author Liskov" in no["answer"]
    bad = run_cli(["ask", "--year", "2025..2020", q], env)
    assert bad.returncode == 2 and "earlier year first" in bad.stderr


def test_delete_removes_everywhere_and_readding_restores(formats: dict[str, Path], store: Callable[..., Assistant]) -> None:
    a = store()
    a.ingest(formats["jsonl"])
    before = [a.ask(q).text for q, _ in QUESTIONS]
    chunks, sentences = a.store.count(), a.store.sentences.count()
    tree = next(p.id for p in a.papers() if p.title.startswith("Tree-Planner"))
    assert a.remove([tree]) == [tree]
    assert tree not in {p.id for p in a.papers()} and a.store.paper_count() == 4
    assert a.store.count() < chunks and a.store.sentences.count() < sentences
    assert not list(a.store.paged(a.store.chunks, where={"paper_id": tree}))
    assert not list(a.store.paged(a.store.sentences, where={"paper_id": tree}))
    assert a.lexical.counts()[0] == 4 and all(pid != tree for _, pid, _ in a.lexical.search("Tree-Planner token", 10))
    assert tree not in {s.paper.id for s in a.retrieve(QUESTIONS[0][0])}
    assert a.ask(QUESTIONS[0][0]).refused or "92.2%" not in a.ask(QUESTIONS[0][0]).text
    a.ingest(formats["jsonl"])
    assert [a.ask(q).text for q, _ in QUESTIONS] == before
    assert (a.store.count(), a.store.sentences.count()) == (chunks, sentences)


class _Feeds(http.server.BaseHTTPRequestHandler):
    """Serves a Daily Papers API body and an arXiv Atom body, as the real services do."""

    daily = b""
    atom = b""

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/api/daily_papers?date=2024-08-19"):
            body, kind = self.daily, "application/json"
        elif self.path.startswith("/api/query?id_list="):
            body, kind = self.atom, "application/atom+xml"
        else:
            self.send_response(404)
            self.end_headers()
            return
        assert "paper-rag" in self.headers.get("User-Agent", "")
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def feeds() -> Iterator[str]:
    _Feeds.daily = json.dumps([{"paper": {"id": "2310.08582", "title": FIVE[0].title, "summary": FIVE[0].abstract,
                                          "authors": [{"name": "Mengkang Hu"}]}, "publishedAt": "2023-10-12T00:00:00Z"}]).encode()
    p = FIVE[1]
    _Feeds.atom = f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>arXiv Query</title>
<entry><id>http://arxiv.org/abs/2306.05426v3</id><published>2023-06-08T17:59:58Z</published>
<title>{p.title}</title><summary>{p.abstract}</summary>
<author><name>Chris Cundy</name></author><author><name>Stefano Ermon</name></author></entry></feed>""".encode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Feeds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_fetch_daily_and_arxiv_from_a_local_server(feeds: str, model_cache: Path, tmp_path: Path) -> None:
    env = cli_env(tmp_path / "s", model_cache, RAG_AUTO_INGEST="false", RAG_HF_BASE_URL=feeds, RAG_ARXIV_BASE_URL=feeds)
    out = run_cli(["fetch", "daily", "2024-08-19", "--quiet"], env)
    assert out.returncode == 0 and "1 added" in out.stdout, out.stderr
    out = run_cli(["fetch", "arxiv", "2306.05426", "--quiet"], env)
    assert out.returncode == 0 and "1 added" in out.stdout, out.stderr
    ans = json.loads(run_cli(["ask", "--json", "What action does SequenceMatch add to generation?"], env).stdout)
    cite = ans["citations"][0]
    assert cite["paper_id"] == "arxiv:2306.05426" and cite["authors"] == ["Chris Cundy", "Stefano Ermon"]
    assert cite["url"] == "https://arxiv.org/abs/2306.05426" and cite["year"] == 2023
    assert (tmp_path / "s" / "fetch-cache" / "daily-2024-08-19.json").is_file()  # raw responses cached
    again = run_cli(["fetch", "daily", "2024-08-19", "--quiet"], dict(env, RAG_HF_BASE_URL="http://127.0.0.1:9"))
    assert again.returncode == 0 and "0 added" in again.stdout  # from the cache, no network needed


def test_fetch_without_network_is_one_line(model_cache: Path, tmp_path: Path) -> None:
    env = cli_env(tmp_path / "s", model_cache, RAG_HF_BASE_URL="http://127.0.0.1:9", RAG_FETCH_RETRIES="1",
                  RAG_FETCH_BACKOFF="0.1", RAG_FETCH_TIMEOUT="2")
    out = run_cli(["fetch", "daily", "2024-08-19"], env)
    assert out.returncode == 1 and "Could not reach 127.0.0.1:9" in out.stderr and "rag ingest FILE" in out.stderr
    assert out.stderr.strip().count("\n") == 0
    bad = run_cli(["fetch", "arxiv", "not-an-id"], env)
    assert bad.returncode == 2 and "Bad arXiv id" in bad.stderr


def test_papers_tab_shows_a_bounded_page_of_a_large_library(formats: dict[str, Path], store: Callable[..., Assistant]) -> None:
    """At 100K papers the whole table made every page load a 7.7 MB config: the tab shows
    `library_rows` rows and says how to find the others."""
    from ui.app import build_app

    a = store(library_rows=2)
    a.ingest(formats["jsonl"])
    config = build_app(a).get_config_file()
    table = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "library")
    notes = [c["props"].get("value", "") for c in config["components"] if c.get("type") == "html"]
    assert len(table["props"]["value"]["data"]) == 2
    assert any("Showing the first 2 of 5 papers" in str(n) for n in notes), notes
    first, total = a.library("", limit=2)
    assert total == 5 and [p.title for p in first] == sorted(p.title for p in a.papers())[:2]
    hit, n = a.library(FIVE[3].title[:12].upper(), limit=2)  # search ignores case
    assert n >= 1 and hit[0].title == FIVE[3].title and not hit[0].abstract
    a.close()


def test_the_paper_that_introduces_a_name_answers_for_it(store: Callable[..., Assistant], tmp_path: Path) -> None:
    """'What is DoF?': documents that merely use the word ('dof tools') must not outrank the paper
    that introduces the name ('Dichotomy of Foo (DoF)'), nor supply the answer."""
    rows = [{"title": "Separating Luck from Skill in Sequential Decisions",
             "abstract": "Return-conditioned learning confuses luck with skill. We propose Dichotomy of Foo (DoF), which "
             "separates what a policy controls from what it does not by a mutual information constraint. DoF gives "
             "consistent policies on stochastic games."}]
    rows += [{"title": f"dof-kit-{i}", "abstract": f"Dof kit {i} is a small library of dof helpers: what is dof, dof "
              f"parsing and dof conversion tools for robot arms with {i + 3} degrees of freedom (dof)."} for i in range(8)]
    path = jsonl(tmp_path / "dof.jsonl", rows)
    a = store()
    a.ingest(path)
    top = a.retrieve("What is DoF?")[0]
    assert top.paper.title.startswith("Separating Luck") and top.named
    ans = a.ask("What is DoF?")
    assert not ans.refused and ans.citations[0].title.startswith("Separating Luck"), ans.text
    a.close()


def test_hnsw_search_breadth_is_set_and_updated(formats: dict[str, Path], store: Callable[..., Assistant]) -> None:
    """ef_search is a search-time setting: new collections get it, and an existing one is updated."""
    a = store()
    a.ingest(formats["jsonl"])
    assert a.store.chunks.configuration["hnsw"]["ef_search"] == a.settings.hnsw_ef_search
    a.close()
    b = store(hnsw_ef_search=300)
    b.close()
    c = store(hnsw_ef_search=300)  # a fresh client reads what was saved
    assert all(coll.configuration["hnsw"]["ef_search"] == 300 for coll in (c.store.chunks, c.store.sentences))
    assert c.ask(QUESTIONS[0][0]).citations  # the index still answers
    c.close()
