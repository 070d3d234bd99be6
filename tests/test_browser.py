"""A real browser (Debian chromium, driven by Playwright) asks a question in the app."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag import Assistant, Settings
from tests.conftest import serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[str]:  # type: ignore[no-untyped-def]
    # A store of its own: the upload test adds a paper.
    settings = Settings(data_dir=tmp_path_factory.mktemp("browser-store"), engine="extractive")
    with serving(Assistant.open(settings, progress=False, embedder=embedder)) as url:
        yield url


@pytest.fixture(scope="module")
def page(app_url: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make test`, which installs Debian's chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        pg = browser.new_page(viewport={"width": 1280, "height": 1400})
        pg.goto(app_url)
        pg.wait_for_selector("#question textarea", timeout=60_000)
        yield pg
        browser.close()


def ask(page, question: str) -> None:  # type: ignore[no-untyped-def]
    box = page.locator("#question textarea")
    box.fill(question)
    page.locator("#ask").click()


def test_question_answer_with_highlighted_evidence(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ask(page, "How much does Tree-Planner reduce token consumption?")
    page.wait_for_selector(".source", timeout=60_000)
    source = page.locator(".source").first
    assert "Tree-Planner: Efficient Close-loop Task Planning" in source.inner_text()
    mark = source.locator("mark").first
    assert "92.2%" in mark.inner_text()
    assert page.locator("a.cite").count() >= 1
    shot = tmp_path / "answer.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")

    ask(page, "and how much does it reduce error corrections?")
    page.wait_for_function("document.querySelectorAll('.source').length >= 2", timeout=60_000)
    page.wait_for_selector(".standalone", timeout=60_000)
    assert "Tree-Planner" in page.locator(".standalone").last.inner_text()
    assert "40.5%" in page.locator(".source").last.inner_text()


def test_refusal_and_empty_question(page) -> None:  # type: ignore[no-untyped-def]
    ask(page, "Who won the 2022 FIFA World Cup?")
    page.wait_for_selector(".closest", timeout=60_000)
    assert "do not answer this question" in page.locator(".closest").last.locator("xpath=..").inner_text()
    ask(page, "   ")
    page.wait_for_selector(".error", timeout=60_000)
    assert "question is empty" in page.locator(".error").last.inner_text()


def test_upload_papers_in_the_papers_tab(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    good = tmp_path / "new_papers.jsonl"
    good.write_text(json.dumps({"id": "wombat-2026", "title": "WombatNet: Burrow Mapping with Ground Radar",
                                "abstract": "We present WombatNet, which maps burrows from ground-penetrating radar. "
                                "WombatNet finds 93.5% of burrows in the new DigSite benchmark."}) + "\n")
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"title": "Fine", "abstract": "A fine abstract that is long enough to pass the length check every abstract must meet, with some words to spare."}\n{oops}\n')
    page.get_by_role("tab", name="Papers").click()
    file_input = page.locator("#paper-file input[type=file]")
    file_input.set_input_files(str(bad))
    page.get_by_role("button", name="Add papers").click()
    page.wait_for_function("document.body.innerText.includes('Nothing was added')", timeout=60_000)
    assert "broken.jsonl:2" in page.inner_text("body")

    page.reload()  # a fresh, empty file picker
    page.get_by_role("tab", name="Papers").click()
    file_input = page.locator("#paper-file input[type=file]")
    file_input.set_input_files(str(good))
    page.get_by_role("button", name="Add papers").click()
    page.wait_for_function("document.body.innerText.includes('new_papers.jsonl: read 1 papers')", timeout=120_000)
    assert "1 added" in page.inner_text("body")
    page.wait_for_function("document.body.innerText.includes('79 papers indexed')", timeout=30_000)  # live count
    import tempfile

    cache = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    assert not list(cache.rglob("new_papers.jsonl")) and not list(cache.rglob("broken.jsonl"))  # uploads not kept
    page.get_by_placeholder("Filter by title or id").fill("Wombat")
    page.wait_for_function("document.body.innerText.includes('wombat-2026')", timeout=30_000)

    page.get_by_role("tab", name="Chat").click()
    ask(page, "What share of burrows does WombatNet find on DigSite?")
    page.wait_for_function("[...document.querySelectorAll('.source')].some(e => e.innerText.includes('WombatNet'))", timeout=60_000)
