"""`rag eval`: the regression eval, offline, on the bundled corpus.

Runs every question of `evals/questions.jsonl` through our pipeline and through a
plain llama-index peer (dense retrieval over the same Chroma collection; with the
`llama-cpp` engine, llama-index's `CitationQueryEngine` on the same local model),
writes per-question JSON, a Markdown report and a PNG plot, and compares our metrics
with `evals/baseline.json`: a metric that falls more than the tolerance below its
baseline makes the run fail. `--update-baseline` rewrites the baseline deliberately.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rag import Assistant, Settings
from rag.errors import UsageError
from rag.store import paper_from_metadata
from rag.text import sentence_spans

from .metrics import TARGETS, fact_recall, is_correct, regressions, score_rows

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE / "questions.jsonl"
BASELINE = HERE / "baseline.json"
KEYS = {"id", "question", "kind", "gold_paper_ids", "must_include", "answerable"}


def load_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UsageError(f"{path}:{i}: bad JSON ({e.msg}).") from None
        if set(row) != KEYS:
            raise UsageError(f"{path}:{i}: expected keys {sorted(KEYS)}, found {sorted(row)}.")
        rows.append(row)
    return rows


# ---- our pipeline ------------------------------------------------------------------
def recheck(a: Assistant, pred: dict[str, Any]) -> tuple[int, int]:
    """Re-check a returned answer against the papers it cites: (sentences, supported).

    Independent of how the answer was made: every returned sentence must pass the
    citation check against the abstract it cites, with its marker kept."""
    from rag.citations import check_answer
    from rag.types import Paper, Source

    if pred["refused"] or not pred["citations"]:
        return 0, 0
    sources = [Source(rank=c["n"], paper=Paper(id=c["paper_id"], title=c["title"], abstract=c["abstract"]),
                      score=0.0, dense=0.0, bm25=0.0, chunks=[]) for c in sorted(pred["citations"], key=lambda c: c["n"])]
    _, report, _ = check_answer(pred["answer"], sources, a.pipeline.index)
    return report.sentences, report.kept


def run_ours(a: Assistant, rows: list[dict[str, Any]], engine: str, k: int | None) -> list[dict[str, Any]]:
    records = []
    for row in rows:
        ans = a.ask(row["question"], engine=engine, k=k)
        pred = ans.to_json_dict()
        pred["notes"] = [n for n in ans.notes if n.startswith("refused")]
        ranked = [s.paper.id for s in a.retrieve(row["question"], k=10)]
        rec: dict[str, Any] = {"row": row, "pred": pred, "ranked": ranked}
        if engine in ("openai", "llama-cpp"):
            rec["recheck"] = recheck(a, pred)
        records.append(rec)
    return records


# ---- the plain llama-index peer ------------------------------------------------------
class _LlamaCppLLM:
    """A llama-index CustomLLM over our loaded llama.cpp model (built lazily)."""

    @staticmethod
    def build(a: Assistant) -> Any:
        from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
        from llama_index.core.llms.callbacks import llm_completion_callback

        pipeline = a.pipeline

        class LlamaCppLLM(CustomLLM):
            @property
            def metadata(self) -> LLMMetadata:
                return LLMMetadata(context_window=a.settings.llama_n_ctx, num_output=a.settings.max_new_tokens,
                                   model_name="gemma-3-270m")

            @llm_completion_callback()
            def complete(self, prompt: str, formatted: bool = False, **kw: Any) -> CompletionResponse:
                return CompletionResponse(text=pipeline.complete(prompt, stop=["\n\n"]))

            @llm_completion_callback()
            def stream_complete(self, prompt: str, formatted: bool = False, **kw: Any) -> Any:
                yield self.complete(prompt)

        return LlamaCppLLM()


def run_peer(a: Assistant, rows: list[dict[str, Any]], engine: str, k: int) -> list[dict[str, Any]]:
    """Dense-only llama-index retrieval; the answer is the top chunk's opening sentences
    (extractive) or llama-index's CitationQueryEngine on the same local model (llama-cpp).
    It never refuses and nothing checks its citations: that is what a plain pipeline does."""
    from llama_index.core import VectorStoreIndex

    index = VectorStoreIndex.from_vector_store(a.store.vector_store, embed_model=a.embedder)
    retriever = index.as_retriever(similarity_top_k=20)
    cqe = None
    if engine == "llama-cpp":
        from llama_index.core.query_engine import CitationQueryEngine

        cqe = CitationQueryEngine.from_args(index, llm=_LlamaCppLLM.build(a), similarity_top_k=k, citation_chunk_size=512)
    records = []
    for row in rows:
        t0 = time.perf_counter()
        nodes = retriever.retrieve(row["question"])
        ranked = list(dict.fromkeys(str(n.node.metadata["paper_id"]) for n in nodes))[:10]
        if cqe is None:
            top = nodes[0].node
            text = top.get_content()
            spans = sentence_spans(text)[:2]
            answer = (text[spans[0][0] : spans[-1][1]] if spans else text) + " [1]"
            cited = [top]
        else:
            resp = cqe.query(row["question"])
            answer = str(getattr(resp, "response", "") or "")
            nums = [int(n) for n in re.findall(r"\[(\d+)\]", answer)]
            cited = [resp.source_nodes[n - 1].node for n in dict.fromkeys(nums) if 0 < n <= len(resp.source_nodes)]
        citations = []
        for n, node in enumerate(cited, start=1):
            paper = paper_from_metadata(node.metadata)
            citations.append({"n": n, "paper_id": paper.id, "title": paper.title, "quote": node.get_content()[:300],
                              "abstract": paper.abstract, "spans": []})
        ms = (time.perf_counter() - t0) * 1000
        pred = {"question": row["question"], "answer": answer, "refused": False, "engine": f"llama-index/{engine}",
                "citations": citations, "timings_ms": {"total": ms}}
        records.append({"row": row, "pred": pred, "ranked": ranked})
    return records


# ---- reporting ----------------------------------------------------------------------
def what_went_wrong(rec: dict[str, Any]) -> str:
    row, pred = rec["row"], rec["pred"]
    cited = [c["paper_id"] for c in pred["citations"]]
    if not row["answerable"]:
        return "" if pred["refused"] else "answered a question it should refuse"
    if pred["refused"]:
        gold_rank = next((i for i, p in enumerate(rec["ranked"], 1) if p in row["gold_paper_ids"]), None)
        return f"refused (gold paper at retrieval rank {gold_rank})" + "".join(f"; {n}" for n in pred.get("notes", []))
    problems = []
    if not set(cited) & set(row["gold_paper_ids"]):
        problems.append("cites no gold paper")
    elif set(cited) - set(row["gold_paper_ids"]):
        problems.append("also cites a non-gold paper")
    missing = [f[0] for f in row["must_include"] if not any(alt.lower() in pred["answer"].lower() for alt in f)]
    if missing:
        problems.append("missing " + ", ".join(repr(m) for m in missing))
    return "; ".join(problems)


def by_kind(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[r["row"]["kind"]].append(r)
    out = {}
    for kind, recs in sorted(groups.items()):
        m = score_rows(recs)
        out[kind] = {"n": float(len(recs)), "correct": sum(is_correct(r["row"], r["pred"]) for r in recs) / len(recs),
                     "fact_recall": m["fact_recall"], "citation_precision": m["citation_precision"],
                     "recall@5": m["recall@5"], "refused": sum(r["pred"]["refused"] for r in recs) / len(recs)}
    return out


def markdown_report(engine: str, ours: dict[str, float], peer: dict[str, float] | None, baseline: dict[str, float] | None,
                    kinds: dict[str, dict[str, float]], peer_kinds: dict[str, dict[str, float]] | None,
                    worst: list[dict[str, Any]], failed: list[str]) -> str:
    lines = [f"# Eval report: engine `{engine}`", "",
             f"{int(ours['questions'])} questions from `evals/questions.jsonl` on the bundled corpus. "
             "Ours = hybrid retrieval + refusal gate + checked citations; peer = plain llama-index dense "
             "retrieval over the same Chroma collection" + (" with CitationQueryEngine on the same model." if engine == "llama-cpp" else " answering with the top chunk's opening sentences."),
             "", "| metric | ours | llama-index peer | target | baseline |", "| --- | --- | --- | --- | --- |"]
    for name, value in ours.items():
        if name == "questions":
            continue
        p = f"{peer[name]:.3f}" if peer and name in peer else "–"
        t = TARGETS.get(name)
        tgt = "" if t is None else (f"≤ {t}" if name == "false_refusal_rate" else f"≥ {t}")
        b = f"{baseline[name]:.3f}" if baseline and name in baseline else "–"
        lines.append(f"| {name} | {value:.3f} | {p} | {tgt} | {b} |")
    lines += ["", "## By question kind", "", "| kind | n | correct (ours / peer) | fact recall | citation precision | recall@5 | refused |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for kind, m in kinds.items():
        pk = (peer_kinds or {}).get(kind)
        pc = f" / {pk['correct']:.2f}" if pk else ""
        lines.append(f"| {kind} | {int(m['n'])} | {m['correct']:.2f}{pc} | {m['fact_recall']:.2f} | {m['citation_precision']:.2f} | {m['recall@5']:.2f} | {m['refused']:.2f} |")
    missed = [f"{n} {ours[n]:.3f}" for n, t in TARGETS.items() if n in ours and (ours[n] > t if n == "false_refusal_rate" else ours[n] < t)]
    lines += ["", "## Targets missed", "", ", ".join(missed) if missed else "none"]
    lines += ["", "## Worst questions", "", "| id | kind | question | what went wrong |", "| --- | --- | --- | --- |"]
    for rec in worst:
        q = rec["row"]["question"].replace("|", "\\|")[:110]
        lines.append(f"| {rec['row']['id']} | {rec['row']['kind']} | {q} | {what_went_wrong(rec).replace('|', '/')[:200]} |")
    lines += ["", "## Regression check", "", "\n".join(f"- {f}" for f in failed) if failed else "No metric fell below the baseline tolerance."]
    return "\n".join(lines) + "\n"


def plot(path: Path, engine: str, ours: dict[str, float], peer: dict[str, float] | None, baseline: dict[str, float] | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in ("recall@5", "mrr", "ndcg@10", "citation_precision", "citation_recall", "fact_recall",
                         "answered_precision", "accuracy", "refusal_accuracy", "false_refusal_rate") if n in ours]
    series = [("ours", ours)] + ([("llama-index peer", peer)] if peer else []) + ([("baseline", baseline)] if baseline else [])
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(12, 4.5))
    for i, (label, data) in enumerate(series):
        ax.bar([x + i * width for x in range(len(names))], [data.get(n, 0) for n in names], width, label=label)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(names))], names, rotation=25, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"rag eval: engine {engine}")
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(settings: Settings, *, engine: str, k: int | None, out: Path, peer: bool = True, update_baseline: bool = False,
        tolerance: float = 0.02, limit: int | None = None, progress: bool = True) -> int:
    """Run the eval; write the report under `out`; return the exit status (1 on regression)."""
    if limit and update_baseline:
        raise UsageError("--update-baseline needs the whole question set; drop --limit.")
    rows = load_questions()[:limit] if limit else load_questions()
    eval_settings = settings.model_copy(update={"data_dir": Path(settings.data_dir) / "eval", "collection": "eval_papers",
                                                "auto_ingest": True, "chroma_host": None})
    a = Assistant.open(eval_settings, progress=progress)
    engine = a.resolve_engine(engine)
    k = k or settings.top_k
    ours_records = run_ours(a, rows, engine, k)
    peer_records = run_peer(a, rows, engine, k) if peer else None
    ours = score_rows(ours_records)
    peer_m = score_rows(peer_records) if peer_records else None
    baselines = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    base = baselines.get(engine)
    failed = regressions(ours, base, tolerance) if base and not limit else []
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"questions-{engine}.jsonl", "w", encoding="utf-8") as fh:
        for rec in ours_records:
            fh.write(json.dumps({"id": rec["row"]["id"], "kind": rec["row"]["kind"], "correct": is_correct(rec["row"], rec["pred"]),
                                 "fact_recall": fact_recall(rec["pred"]["answer"], rec["row"]["must_include"]),
                                 "problem": what_went_wrong(rec), "ranked": rec["ranked"], **rec["pred"]}, ensure_ascii=False) + "\n")
    worst = sorted((r for r in ours_records if what_went_wrong(r)), key=lambda r: fact_recall(r["pred"]["answer"], r["row"]["must_include"]))[:15]
    report = markdown_report(engine, ours, peer_m, base, by_kind(ours_records), by_kind(peer_records) if peer_records else None, worst, failed)
    (out / f"report-{engine}.md").write_text(report, encoding="utf-8")
    (out / f"metrics-{engine}.json").write_text(json.dumps({"ours": ours, "peer": peer_m}, indent=2))
    plot(out / f"metrics-{engine}.png", engine, ours, peer_m, base)
    print(report)
    print(f"Wrote {out}/report-{engine}.md, metrics-{engine}.png, questions-{engine}.jsonl")
    if update_baseline:
        keep = {n: round(v, 4) for n, v in ours.items() if n in TARGETS or n in ("ndcg@10", "citation_recall", "accuracy")}
        baselines[engine] = keep
        BASELINE.write_text(json.dumps(baselines, indent=2, sort_keys=True) + "\n")
        print(f"Baseline for {engine} rewritten in {BASELINE}.")
        return 0
    if failed:
        print("REGRESSION: " + "; ".join(failed))
        return 1
    return 0
