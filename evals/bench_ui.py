"""Web-app latency: `python -m evals.bench_ui` (after `make install`; needs Debian chromium).

Starts `rag serve` as `make run` does (index already built), and prints
- start-up: seconds from launching the process to the first answered `/ask` call;
- in a real browser (chromium via Playwright), per engine (extractive; the local llama.cpp
  model on the first questions): the time from pressing Ask to the first visible status line,
  to the first checked sentence on screen, and to the full answer (its Copy button);
- for the local model, the time from pressing Stop to "Stopped" on screen.
Figures, not assertions.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gradio_client import Client

QUESTIONS = [
    "How much does Tree-Planner reduce token consumption?",
    "Which method lets a model reason in a continuous latent space?",
    "How can language models backtrack during generation?",
    "What is SequenceMatch?",
    "What does SPaR use to improve instruction following?",
]


ENGINES = [("Extractive quotes (no model)", "extractive", len(QUESTIONS)),
           ("Local model (Gemma 3 270M, slow)", "llama-cpp", 3)]


def choose_engine(page: Any, label: str) -> None:
    page.get_by_label("Engine").click()
    page.get_by_role("option", name=label).click()


def timed_answer(page: Any, question: str) -> tuple[float, float, float]:
    """(first status, first checked sentence, full answer) in ms after pressing Ask, in a new chat."""
    page.locator("#new-chat").click()
    page.wait_for_function("document.querySelectorAll('#chat .answer').length === 0")
    page.locator("#question textarea").fill(question)
    t = time.perf_counter()
    page.locator("#send").click()
    page.wait_for_selector("#status .stage", timeout=60_000)
    first = (time.perf_counter() - t) * 1000
    page.wait_for_selector("#chat .answer:not(.pending) .lead", timeout=600_000)
    sentence = (time.perf_counter() - t) * 1000
    page.wait_for_selector("#chat .copy-md", timeout=600_000)
    return first, sentence, (time.perf_counter() - t) * 1000


def stop_time(page: Any) -> float:
    """ms from pressing Stop while the local model writes to "Stopped" on screen."""
    page.locator("#new-chat").click()
    page.locator("#question textarea").fill("How can language models backtrack during generation?")
    page.locator("#send").click()
    page.wait_for_function("document.querySelector('#status').innerText.includes('Writing')", timeout=120_000)
    t = time.perf_counter()
    page.locator("#stop").click()
    page.wait_for_function("document.body.innerText.includes('Stopped')", timeout=30_000)
    return (time.perf_counter() - t) * 1000


def main() -> None:
    port = int(os.environ.get("BENCH_PORT", "7871"))
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                Client(url, verbose=False).predict(QUESTIONS[0], "auto", 0, api_name="/ask")
                break
            except Exception:
                if proc.poll() is not None:
                    raise SystemExit("rag serve exited") from None
                time.sleep(0.25)
        print(f"start-up to first answer      {time.perf_counter() - t0:6.1f} s")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.wait_for_selector("#question textarea")
            for label, name, n in ENGINES:
                choose_engine(page, label)
                times = [timed_answer(page, q) for q in QUESTIONS[:n]]
                for i, what in enumerate(("first status", "first checked sentence", "full answer")):
                    xs = [t[i] for t in times]
                    print(f"{name:11s} {what:24s} p50 {statistics.median(xs):7.0f} ms  max {max(xs):7.0f} ms  (n={len(xs)})")
            print(f"llama-cpp   Stop to 'Stopped' on screen   {stop_time(page):7.0f} ms")
            shot = Path("evals/reports/ui/bench-1400.png")
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
        print(f"screenshot                    {shot}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
