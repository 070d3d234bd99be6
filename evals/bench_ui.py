"""Web-app latency: `python -m evals.bench_ui` (after `make install`; needs Debian chromium).

Starts `rag serve` as `make run` does (index already built), and prints
- start-up: seconds from launching the process to the first answered `/ask` call;
- in a real browser (chromium via Playwright), for each question: first feedback (the
  "Searching…" message) and the full answer (its Sources panel) after pressing Ask.
Figures, not assertions.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from gradio_client import Client

QUESTIONS = [
    "How much does Tree-Planner reduce token consumption?",
    "Which method lets a model reason in a continuous latent space?",
    "How can language models backtrack during generation?",
    "What is SequenceMatch?",
    "What does SPaR use to improve instruction following?",
]


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

        first, full = [], []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#question textarea")
            for i, q in enumerate(QUESTIONS):
                page.locator("#question textarea").fill(q)
                t = time.perf_counter()
                page.locator("#ask").click()
                page.wait_for_function(f"document.querySelectorAll('.message').length >= {2 * (i + 1)}", timeout=60_000)
                first.append((time.perf_counter() - t) * 1000)
                page.wait_for_function(f"document.querySelectorAll('.meta').length >= {i + 1}", timeout=120_000)
                full.append((time.perf_counter() - t) * 1000)
            shot = Path("evals/reports/ui.png")
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
        print(f"browser first feedback        p50 {statistics.median(first):6.0f} ms  (n={len(first)})")
        print(f"browser full answer           p50 {statistics.median(full):6.0f} ms  max {max(full):.0f} ms")
        print(f"screenshot                    {shot}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
