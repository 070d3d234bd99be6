"""ui/render.py without Gradio: highlighting, links and escaping."""

import re

from rag.types import Answer, CheckReport, Citation, Paper, Source
from ui.render import answer_text, highlight, render_answer

ABSTRACT = "We propose X. It cuts cost by 92.2%. <script>alert(1)</script> Code & data are public."


def citation(**kw: object) -> Citation:
    base = dict(n=1, paper_id="p1", title="X <b>bold</b> title", quote="It cuts cost by 92.2%.", abstract=ABSTRACT, spans=[(14, 36)])
    base.update(kw)
    return Citation(**base)  # type: ignore[arg-type]


def test_highlight_offsets_and_merging() -> None:
    assert ABSTRACT[14:36] == "It cuts cost by 92.2%."
    out = highlight(ABSTRACT, [(14, 36)])
    assert "<mark>It cuts cost by 92.2%.</mark>" in out
    assert out.startswith("We propose X. <mark>")
    merged = highlight("abcdef", [(0, 3), (2, 5)])
    assert merged == "<mark>abcde</mark>f"
    assert highlight("abc", [(5, 9), (2, 1)]) == "abc"  # out-of-range and empty spans ignored


def test_paper_text_cannot_inject_html() -> None:
    out = highlight(ABSTRACT, [(0, 5)])
    assert "<script>" not in out and "&lt;script&gt;" in out and "&amp;" in out
    ans = Answer(question="q", text="It cuts cost <img src=x onerror=alert(1)> [1]", citations=[citation()], engine="extractive")
    page = render_answer(ans)
    assert "<img" not in page and "<script>" not in page and "<b>bold</b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


def test_markers_link_to_sources_and_unknown_markers_vanish() -> None:
    ans = Answer(question="q", text="Claim [1]. Other [3].", citations=[citation()], engine="extractive")
    text = answer_text(ans, anchor="t0")
    assert 'class="chip" value="t0-src-1"' in text and "[3]" not in text and "[1]" not in text
    # Gradio's sanitizer drops data-* and aria-* attributes: nothing may depend on them.
    assert "data-" not in render_answer(ans, anchor="t0") and "aria-" not in render_answer(ans, anchor="t0")
    page = render_answer(ans, anchor="t0")
    assert 'id="t0-src-1"' in page and "Sources" in page and "<details>" in page
    assert "<details>" not in render_answer(ans, anchor="t0", show_abstracts=False)


def test_refusal_shows_closest_matches_and_engine() -> None:
    src = Source(rank=1, paper=Paper(id="p", title="Near <Miss>", abstract="..."), score=0.1, dense=0.1, bm25=0, chunks=[])
    ans = Answer(question="q", text="The indexed papers do not answer this question.", refused=True,
                 engine="llama-cpp", sources=[src], checked=CheckReport())
    page = render_answer(ans)
    assert "do not answer this question" in page and "Closest matches" in page and "Near &lt;Miss&gt;" in page
    assert "engine: llama-cpp" in page and "Sources" not in page


def test_partial_answers_say_so() -> None:
    ans = Answer(question="q", text="Claim [1]", citations=[citation()], engine="llama-cpp", partial=True,
                 checked=CheckReport(sentences=1, kept=1))
    assert "only sentences already checked" in render_answer(ans)


def test_each_chip_card_shows_the_evidence_for_its_own_sentence() -> None:
    c = citation(quote="We propose X.", spans=[(0, 13), (14, 36)])
    ans = Answer(question="q", text="The authors propose X [1]. Cost falls by 92.2% [1].", citations=[c], engine="openai")
    cards = re.findall(r'<span class="card-quote"><mark>(.*?)</mark>', answer_text(ans, anchor="t0"))
    assert cards == ["We propose X.", "It cuts cost by 92.2%."]
