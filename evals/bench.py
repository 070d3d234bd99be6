"""Speed and memory benchmark: `make bench` or `python -m evals.bench`.

Prints cold ingest time of the bundled corpus (chunks/s), retrieval latency p50/p95,
`ask` latency p50/p95 per engine and peak memory (RSS). Figures, not assertions: the
targets on 2 cores are retrieval p50 < 30 ms, extractive ask p50 < 150 ms, ingest
>= 25 chunks/s. Runs in a fresh temporary store, so it never touches `.rag/`.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from rag import Assistant, Settings

from .metrics import percentile

QUESTIONS = [
    "How much does Tree-Planner reduce token consumption?",
    "What is SequenceMatch?",
    "Which method lets a model reason in a continuous latent space?",
    "How does Tree-Planner reduce error corrections?",
    "What does SPaR use to refine instruction following?",
    "How does ReST-MCTS* collect process rewards?",
    "How can language models backtrack during generation?",
    "How do attention chains help quantify the uncertainty of a language model?",
    "What does distribution backtracking do for one-step diffusion distillation?",
    "How much supervised fine-tuning and reinforcement learning is needed for backtracking?",
    "What is the factual recall mechanism in language models?",
    "Can language models falsify algorithmic solutions with counterexamples?",
    "What makes dynamics models generalize in offline reinforcement learning?",
    "Who won the 2022 FIFA World Cup?",
    "How do you bake sourdough bread?",
    "What is the capital of France?",
]


def line(name: str, ms: list[float]) -> str:
    return f"{name:<28} p50 {statistics.median(ms):8.1f} ms   p95 {percentile(ms, 0.95):8.1f} ms   (n={len(ms)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--engines", default="extractive,llama-cpp", help="comma-separated engines to time")
    ap.add_argument("--repeat", type=int, default=3, help="passes over the questions for the extractive engine")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        a = Assistant.open(Settings(data_dir=Path(tmp), auto_ingest=False), progress=False)
        print(f"{'open (load models)':<28} {time.perf_counter() - t0:8.2f} s")
        report = a.ingest(progress=False)
        print(f"{'cold ingest':<28} {report.seconds:8.2f} s   {report.chunks_added} chunks, "
              f"{report.chunks_added / report.seconds:.1f} chunks/s, {report.papers_added} papers")
        a.retrieve("warm up")
        ms = []
        for _ in range(args.repeat):
            for q in QUESTIONS:
                t = time.perf_counter()
                a.retrieve(q)
                ms.append((time.perf_counter() - t) * 1000)
        print(line("retrieve", ms))
        for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
            a.ask(QUESTIONS[0], engine=engine)  # loads the engine's model once
            ms, first_pass = [], []
            passes = args.repeat if engine == "extractive" else 1
            for i in range(passes):
                for q in QUESTIONS:
                    ans = a.ask(q, engine=engine)
                    ms.append(ans.timings_ms["total"])
                    if i == 0:
                        first_pass.append(ans.timings_ms["total"])
            print(line(f"ask {engine}", ms))
            if engine == "extractive":
                print(line("ask extractive (1st pass)", first_pass))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'peak memory (RSS)':<28} {peak:8.0f} MB")


if __name__ == "__main__":
    main()
