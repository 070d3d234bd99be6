"""Scale benchmark: `make bench-scale` or `python -m evals.bench_scale`.

Builds (once, cached under `--cache`, default `.rag/bench-scale`) collections of the 78
bundled papers alone and inside 10K and 100K distractor documents (evals/distractors.py), and
prints one table row per size:
documents, chunks, ingest chunks/s, `rag ask` cold start, peak RSS of `rag ask` and of
`rag serve`, retrieval p50/p95, extractive ask p50/p95, and the eval with distractors
(recall@5, answered precision, refusal of unanswerable questions, over dev and test).
`--server` also serves the largest collection from `chroma run` to two `rag serve`
processes, measures 16 concurrent gradio_client callers (p50/p95, errors), ingests from a
third process and checks that both servers see the new paper without a restart.
Figures, not assertions: the targets are in the issue and the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .distractors import FORMAT, default_source, write_distractors
from .metrics import percentile, score_rows

QUESTIONS = [
    "How much does Tree-Planner reduce token consumption?",
    "Which method lets a model reason in a continuous latent space?",
    "What is SequenceMatch?",
    "How does ReST-MCTS* collect process rewards?",
    "What accuracy does the 1.5B model reach on MATH500 with Speculative Thinking?",
    "How many samples does LR^2Bench comprise?",
    "Who won the 2022 FIFA World Cup?",
    "How do you bake sourdough bread?",
]
# VmHWM, not ru_maxrss: Linux carries the forking parent's peak over exec into ru_maxrss.
RSS_PROBE = ("import sys\nfrom rag.cli import main\nrc = main(sys.argv[1:])\n"
             "print('PEAK_RSS_KB', next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')), "
             "file=sys.stderr)\nsys.exit(rc)\n")


def env_for(store: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(RAG_DATA_DIR=str(store), RAG_COLLECTION="scale", RAG_MIN_ABSTRACT_CHARS="10", **extra)
    return env


def build(store: Path, n: int, cache: Path) -> dict[str, Any]:
    """The collection of the bundled papers plus `n` distractors, built once (timings kept)."""
    done = store / "built.json"
    if done.is_file():
        info = dict(json.loads(done.read_text()))
        if info.get("format") == FORMAT:
            return info
        shutil.rmtree(store)  # built from distractors of another format: its timings and answers are not comparable
    store.mkdir(parents=True, exist_ok=True)
    from rag.settings import BUNDLED_CORPUS

    files = [str(BUNDLED_CORPUS)]
    if n:
        files.append(str(write_distractors(default_source(), n, cache / f"distractors-{n}.jsonl")))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", RSS_PROBE, "ingest", "--quiet", *files], env=env_for(store),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"ingest failed: {out.stderr[-2000:]}")
    seconds = time.perf_counter() - t0
    report = out.stdout.strip().splitlines()[0]
    chunks = int(report.split(" chunks added (")[1].split(" in the")[0])
    info = {"documents": 78 + n, "chunks": chunks, "ingest_seconds": seconds,
            "ingest_rss_mb": _rss(out.stderr) / 1024, "report": report, "format": FORMAT}
    done.write_text(json.dumps(info))
    return info


def _rss(stderr: str) -> float:
    return float(stderr.split("PEAK_RSS_KB")[-1].split()[0]) if "PEAK_RSS_KB" in stderr else 0.0


def cold_ask(store: Path) -> tuple[float, float, float, float]:
    """Seconds from starting `rag ask` to its answer and its peak RSS in MB (best and worst of 3),
    after one first ask that is timed apart: in a fresh data dir it exports the ONNX model (once,
    with torch), which no later start repeats. Returns (cold s, RSS MB, first s, first RSS MB)."""
    runs = []
    for _ in range(4):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", RSS_PROBE, "ask", "--json", QUESTIONS[0]], env=env_for(store),
                             capture_output=True, text=True)
        runs.append((time.perf_counter() - t0, _rss(out.stderr) / 1024))
        assert out.returncode == 0, out.stderr[-2000:]
    first, rest = runs[0], runs[1:]
    return min(r[0] for r in rest), max(r[1] for r in rest), first[0], first[1]


def in_process(store: Path) -> dict[str, Any]:
    """Retrieval and extractive ask latency, and the eval with distractors."""
    from rag import Assistant, Settings

    from .run import load_questions, run_ours

    settings = Settings(data_dir=store, collection="scale", min_abstract_chars=10, engine="extractive", auto_ingest=False)
    a = Assistant.open(settings, progress=False)
    a.ask(QUESTIONS[0])
    ret, ask = [], []
    for _ in range(3):
        for q in QUESTIONS:
            t = time.perf_counter()
            a.retrieve(q)
            ret.append((time.perf_counter() - t) * 1000)
            ask.append(a.ask(q).timings_ms["total"])
    records = run_ours(a, load_questions("dev") + load_questions("test"), "extractive", None)
    m = score_rows(records)
    oos = [r["pred"]["refused"] for r in records if r["row"].get("kind") == "oos"]
    a.close()
    return {"retrieve_p50": statistics.median(ret), "retrieve_p95": percentile(ret, 0.95),
            "ask_p50": statistics.median(ask), "ask_p95": percentile(ask, 0.95), "recall@5": m["recall@5"],
            "answered_precision": m["answered_precision"], "refusal": m["refusal_accuracy"],
            "false_refusals": m["false_refusal_rate"],
            "oos_refused": sum(oos) / len(oos) if oos else 0.0}


def concurrent_asks(urls: list[str], callers: int, calls: int) -> tuple[list[float], list[str]]:
    """`calls` extractive `/ask` calls from `callers` threads, spread over `urls`: the latency of
    each that answered (ms) and why each other one failed."""
    from gradio_client import Client

    latencies: list[float] = []
    failures: list[str] = []

    def call(i: int) -> None:
        t = time.perf_counter()
        try:
            Client(urls[i % len(urls)], verbose=False).predict(QUESTIONS[i % len(QUESTIONS)], "extractive", 5, api_name="/ask")
            latencies.append((time.perf_counter() - t) * 1000)
        except Exception as e:
            failures.append(f"{type(e).__name__}: {str(e)[:200]}")

    with ThreadPoolExecutor(callers) as pool:
        list(pool.map(call, range(calls)))
    return latencies, failures


def serve_rss(store: Path, port: int, env: dict[str, str] | None = None, callers: int = 16) -> dict[str, Any]:
    """Start `rag serve`, send `callers` concurrent questions twice over, report latency and peak RSS."""
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], env=env or env_for(store),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait(url, proc)
        latencies, failures = concurrent_asks([url], callers, 2 * callers)
        peak = _vmhwm(proc.pid)
        return {"p50": statistics.median(latencies) if latencies else 0.0, "p95": percentile(latencies, 0.95),
                "errors": len(failures), "calls": 2 * callers, "rss_mb": peak / 1024, "proc": None}
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 600) -> None:
    import urllib.request

    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"{url} did not start")


def _vmhwm(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1])
    return 0.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_mode(store: Path, out: list[str]) -> None:
    """chroma run over the largest collection; two servers; an ingest from a third process."""
    from gradio_client import Client

    port = free_port()
    chroma = str(Path(sys.executable).with_name("chroma"))
    srv = subprocess.Popen([chroma, "run", "--path", str(store / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(5)
        shared = store.parent / "server-client"
        cache = shared / "cache" / f"127.0.0.1_{port}"
        cache.mkdir(parents=True, exist_ok=True)  # the embedded lexical index, so the servers need not re-read 100K papers
        shutil.copy(store / "chroma" / "lexical-scale.sqlite3", cache / "lexical-scale.sqlite3")
        env = env_for(shared, RAG_CHROMA_HOST="127.0.0.1", RAG_CHROMA_PORT=str(port),
                      RAG_MODEL_CACHE_DIR=str(store / "models"))  # the exported ONNX model, not a second export
        ports = [free_port(), free_port()]
        servers = [subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(p)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p in ports]
        try:
            for p, s in zip(ports, servers):
                _wait(f"http://127.0.0.1:{p}/", s)
            lat, failures = concurrent_asks([f"http://127.0.0.1:{p}/" for p in ports], 16, 64)
            if not lat:
                out.append(f"server mode: every call failed, e.g. {failures[:1]}")
                return
            out.append(f"server mode (chroma run, 2 x rag serve, 16 concurrent callers, 64 calls): "
                       f"p50 {statistics.median(lat):.0f} ms, p95 {percentile(lat, 0.95):.0f} ms, errors {len(failures)}; "
                       f"peak RSS of each rag serve {_vmhwm(servers[0].pid) / 1024:.0f} / {_vmhwm(servers[1].pid) / 1024:.0f} MB")
            paper = shared / "new.jsonl"
            paper.write_text(json.dumps({"id": "wombat-scale", "title": "WombatNet: Burrow Mapping with Ground Radar",
                                         "abstract": "We introduce WombatNet, which maps wombat burrows from ground-penetrating "
                                         "radar. WombatNet finds 88.8% of burrows in the Outback survey."}) + "\n")
            t0 = time.perf_counter()
            ing = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", "--quiet", str(paper)],
                                 env=env_for(store.parent / "third", RAG_CHROMA_HOST="127.0.0.1", RAG_CHROMA_PORT=str(port)),
                                 capture_output=True, text=True)
            seen = []
            for p in ports:
                r = Client(f"http://127.0.0.1:{p}/", verbose=False).predict("What share of burrows does WombatNet find?",
                                                                            "extractive", 5, api_name="/ask")
                seen.append("88.8%" in r["answer"])
            out.append(f"ingest from a third process ({ing.returncode == 0 and 'ok' or ing.stderr[-200:]}, "
                       f"{time.perf_counter() - t0:.1f} s): seen by both servers without a restart: {all(seen)} {seen}")
        finally:
            for s in servers:
                s.terminate()
                s.wait(timeout=60)
    finally:
        srv.terminate()
        srv.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="0,10000,99900", help="distractor documents per row (the file has 99,926 lines)")
    ap.add_argument("--cache", default=".rag/bench-scale", help="where the collections are built and kept")
    ap.add_argument("--server", action="store_true", help="also measure server mode on the largest collection")
    args = ap.parse_args()
    cache = Path(args.cache).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    head = ("| documents | chunks | ingest chunks/s | ask cold start | ask peak RSS | serve peak RSS | retrieval p50/p95 | "
            "ask p50/p95 | recall@5 | answered precision | refusal | out-of-scope refused | false refusals |")
    rows = [head, "|" + " --- |" * 13]
    notes: list[str] = []
    for n in sizes:
        store = cache / f"scale-{n}"
        info = build(store, n, cache)
        cold, ask_rss, first, first_rss = cold_ask(store)
        serve = serve_rss(store, free_port())
        m = in_process(store)
        rows.append(f"| {info['documents']:,} | {info['chunks']:,} | {info['chunks'] / info['ingest_seconds']:.1f} | "
                    f"{cold:.1f} s | {ask_rss:.0f} MB | {serve['rss_mb']:.0f} MB | {m['retrieve_p50']:.0f} / "
                    f"{m['retrieve_p95']:.0f} ms | {m['ask_p50']:.0f} / {m['ask_p95']:.0f} ms | {m['recall@5']:.3f} | "
                    f"{m['answered_precision']:.3f} | {m['refusal']:.3f} | {m['oos_refused']:.3f} | {m['false_refusals']:.3f} |")
        notes.append(f"{info['documents']:,} documents: {info['report']}; ingest peak RSS {info['ingest_rss_mb']:.0f} MB; "
                     f"first `rag ask` in this data dir {first:.1f} s, {first_rss:.0f} MB (ONNX export when not yet cached); "
                     f"16 concurrent callers on rag serve: p50 {serve['p50']:.0f} ms, p95 {serve['p95']:.0f} ms, "
                     f"errors {serve['errors']}/{serve['calls']}")
        print("\n".join(rows[-1:]), flush=True)
    print("\n".join(f"- {n}" for n in notes), flush=True)
    notes = []
    if args.server:
        server_mode(cache / f"scale-{max(sizes)}", notes)
    print("\n".join(rows))
    print()
    print("\n".join(f"- {n}" for n in notes))


if __name__ == "__main__":
    main()
