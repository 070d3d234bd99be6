"""`rag eval`: the regression eval, offline, on the bundled corpus.

Runs the questions of `evals/questions/{dev,test}.jsonl` through our pipeline and through a
plain llama-index peer (dense retrieval over the same Chroma collection; with `llama-cpp`,
llama-index's `CitationQueryEngine` on the same local model). Dev is for tuning, test is the
gate: a test metric that falls more than the tolerance below `evals/baseline.json` fails the
run. The report shows dev and test side by side, per question kind, a retriever ablation
(what each ranker adds) and a risk-coverage curve (answered precision against the share
answered, sweeping the refusal gate's score). Multi-turn rows carry their earlier questions
in `history`; they are asked first and passed as the conversation.
`--claims` scores the citation check on the labelled claims instead (evals/claims.py);
`--distractors FILE --n N` runs inside a collection padded with N distractor documents.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rag import Assistant, Settings, StoreError
from rag.citations import parse_markers
from rag.errors import UsageError
from rag.retrieve import RANKERS
from rag.store import paper_from_row
from rag.text import sentence_spans

from .metrics import (
    DIRECTION,
    TARGETS,
    fact_recall,
    is_correct,
    mrr,
    read_rows,
    recall_at_k,
    regressions,
    risk_coverage,
    score_rows,
)

HERE = Path(__file__).resolve().parent
SPLITS = ("dev", "test")
BASELINE = HERE / "baseline.json"
KEYS = {"id", "question", "kind", "gold_paper_ids", "must_include", "answerable", "history"}


def load_questions(split: str) -> list[dict[str, Any]]:
    return read_rows(HERE / "questions" / f"{split}.jsonl", KEYS)


def open_eval_store(settings: Settings, *, distractors: str | None = None, n: int = 0, progress: bool = True) -> Assistant:
    """The eval's own index of the bundled corpus (plus distractors), rebuilt when stale."""
    name = f"eval-{n}" if distractors else "eval"
    eval_settings = settings.model_copy(update={
        "data_dir": Path(settings.data_dir) / name, "collection": "eval_papers", "auto_ingest": True, "chroma_host": None,
        "model_cache_dir": settings.model_cache(), "min_abstract_chars": 10 if distractors else settings.min_abstract_chars})
    try:
        a = Assistant.open(eval_settings, progress=progress)
    except StoreError as e:
        if "built with other settings" not in str(e):
            raise
        shutil.rmtree(eval_settings.data_dir / "chroma")  # the eval's private cache: rebuild it
        a = Assistant.open(eval_settings, progress=progress)
    if distractors:
        from .distractors import write_distractors

        path = write_distractors(Path(distractors), n, eval_settings.data_dir / f"distractors-{n}.jsonl")
        a.ingest(path, progress=progress)  # unchanged documents are skipped; changed ones are rewritten
    return a


# ---- our pipeline ------------------------------------------------------------------
def recheck(a: Assistant, pred: dict[str, Any]) -> tuple[int, int]:
    """Re-check a returned answer against the papers it cites: (sentences, supported).

    Independent of how the answer was made: every returned sentence must pass the
    citation check against the abstract it cites, with its marker kept."""
    from rag.types import Paper, Source

    if pred["refused"] or not pred["citations"]:
        return 0, 0
    sources = [Source(rank=c["n"], paper=Paper(id=c["paper_id"], title=c["title"], abstract=c["abstract"]), score=0.0)
               for c in sorted(pred["citations"], key=lambda c: c["n"])]
    _, report, _ = a.check(pred["answer"], sources)
    return report.sentences, report.kept


def run_ours(a: Assistant, rows: list[dict[str, Any]], engine: str, k: int | None) -> list[dict[str, Any]]:
    records = []
    for row in rows:
        history = [a.ask(h, engine=engine, k=k) for h in row["history"]]
        ans = a.ask(row["question"], engine=engine, k=k, history=history)
        pred = ans.to_json_dict()
        pred["notes"] = [f"refused: {ans.reason}"] if ans.refused and ans.reason else []
        pred["confidence"] = ans.confidence
        pred["query"] = ans.standalone or ans.question
        rec: dict[str, Any] = {"row": row, "pred": pred, "ranked": [s.paper.id for s in ans.sources]}
        if engine in ("openai", "llama-cpp"):
            rec["recheck"] = recheck(a, pred)
        records.append(rec)
    return records


def ablation(a: Assistant, records: list[dict[str, Any]], k: int) -> dict[str, dict[str, float]]:
    """recall@k and MRR of the fused retrieval, of each ranker alone, and without each ranker,
    on the queries the answers searched (follow-ups already rewritten)."""
    variants: dict[str, tuple[str, ...]] = {"all four": RANKERS}
    variants |= {f"only {r}": (r,) for r in RANKERS}
    variants |= {f"without {r}": tuple(x for x in RANKERS if x != r) for r in RANKERS}
    answerable = [r for r in records if r["row"]["answerable"]]
    out = {}
    for name, rankers in variants.items():
        rec, rr = [], []
        for r in answerable:
            ranked = [s.paper.id for s in a.retriever.retrieve(r["pred"]["query"], k=k, rankers=rankers)]
            rec.append(recall_at_k(ranked, r["row"]["gold_paper_ids"], k))
            rr.append(mrr(ranked, r["row"]["gold_paper_ids"]))
        out[name] = {f"recall@{k}": sum(rec) / max(len(rec), 1), "mrr": sum(rr) / max(len(rr), 1)}
    return out


# ---- the plain llama-index peer ------------------------------------------------------
class _LlamaCppLLM:
    """A llama-index CustomLLM over our loaded llama.cpp engine (built lazily)."""

    @staticmethod
    def build(a: Assistant) -> Any:
        from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
        from llama_index.core.llms.callbacks import llm_completion_callback

        engine = a.engine("llama-cpp")

        class LlamaCppLLM(CustomLLM):
            @property
            def metadata(self) -> LLMMetadata:
                return LLMMetadata(context_window=a.settings.llama_n_ctx, num_output=a.settings.max_new_tokens,
                                   model_name="gemma-3-270m")

            @llm_completion_callback()
            def complete(self, prompt: str, formatted: bool = False, **kw: Any) -> CompletionResponse:
                return CompletionResponse(text=engine.complete(prompt, stop=["\n\n"]))  # type: ignore[attr-defined]

            @llm_completion_callback()
            def stream_complete(self, prompt: str, formatted: bool = False, **kw: Any) -> Any:
                yield self.complete(prompt)

        return LlamaCppLLM()


def run_peer(a: Assistant, rows: list[dict[str, Any]], engine: str, k: int) -> list[dict[str, Any]]:
    """Dense-only llama-index retrieval; the answer is the top chunk's opening sentences
    (extractive) or llama-index's CitationQueryEngine on the same local model (llama-cpp).
    It never refuses and nothing checks its citations: that is what a plain pipeline does.
    It has no conversation: a follow-up is searched as asked."""
    from llama_index.core import VectorStoreIndex

    from rag.models import as_llama_index

    index = VectorStoreIndex.from_vector_store(a.store.vector_store, embed_model=as_llama_index(a.embedder))
    retriever = index.as_retriever(similarity_top_k=20)
    cqe = None
    if engine == "llama-cpp":
        from llama_index.core.query_engine import CitationQueryEngine

        cqe = CitationQueryEngine.from_args(index, llm=_LlamaCppLLM.build(a), similarity_top_k=k, citation_chunk_size=512)
    records = []
    for row in rows:
        t0 = time.perf_counter()
        nodes = retriever.retrieve(row["question"])
        ranked = list(dict.fromkeys(str(n.node.metadata["paper_id"]) for n in nodes))[:k]
        if cqe is None:
            top = nodes[0].node
            text = top.get_content()
            spans = sentence_spans(text)[:2]
            answer = (text[spans[0][0] : spans[-1][1]] if spans else text) + " [1]"
            cited = [top]
        else:
            resp = cqe.query(row["question"])
            answer = str(getattr(resp, "response", "") or "")
            nums = parse_markers(answer)
            cited = [resp.source_nodes[n - 1].node for n in dict.fromkeys(nums) if 0 < n <= len(resp.source_nodes)]
        records_ = a.store.get_papers([str(node.metadata["paper_id"]) for node in cited])
        citations = []
        for n, node in enumerate(cited, start=1):
            pid = str(node.metadata["paper_id"])
            paper = records_.get(pid) or paper_from_row(pid, node.metadata, "")
            citations.append({"n": n, "paper_id": paper.id, "title": paper.title, "quote": node.get_content()[:300],
                              "abstract": paper.abstract, "spans": []})
        pred = {"question": row["question"], "answer": answer, "refused": False, "engine": f"llama-index/{engine}",
                "citations": citations, "timings_ms": {"total": (time.perf_counter() - t0) * 1000}}
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


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def markdown_report(engine: str, results: dict[str, dict[str, Any]], baseline: dict[str, Any] | None,
                    failed: list[str], extra: str = "") -> str:
    splits = [s for s in SPLITS if s in results]
    lines = [f"# Eval report: engine `{engine}`", "",
             "Questions from `evals/questions/{dev,test}.jsonl` on the bundled corpus" + extra + ". Dev is tuned on; "
             "test is the gate. Ours = four-ranker hybrid retrieval + refusal gate + checked citations; peer = plain "
             "llama-index dense retrieval over the same Chroma collection"
             + (" with CitationQueryEngine on the same model." if engine == "llama-cpp" else " answering with the top chunk's opening sentences."),
             "", "| metric | " + " | ".join(f"ours {s} | peer {s}" for s in splits) + " | target | baseline (test) |",
             "| --- |" + " --- | --- |" * len(splits) + " --- | --- |"]
    names = [n for n in results[splits[0]]["ours"] if n != "questions"]
    for name in names:
        cells = []
        for s in splits:
            peer = results[s].get("peer") or {}
            cells += [_fmt(results[s]["ours"].get(name)), _fmt(peer.get(name))]
        t = TARGETS.get(name)
        tgt = "" if t is None else (f"≤ {t}" if DIRECTION.get(name) == -1 else f"≥ {t}")
        b = (baseline or {}).get(name)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {tgt} | {_fmt(b)} |")
    lines += ["", "## By question kind (correct = answered right, or refused when it should be)", "",
              "| kind | " + " | ".join(f"n {s} | correct {s} | recall@5 {s} | refused {s}" for s in splits) + " |",
              "| --- |" + " --- | --- | --- | --- |" * len(splits)]
    kinds = sorted({k for s in splits for k in results[s]["kinds"]})
    for kind in kinds:
        cells = []
        for s in splits:
            m = results[s]["kinds"].get(kind)
            cells += [f"{int(m['n'])}", f"{m['correct']:.2f}", f"{m['recall@5']:.2f}", f"{m['refused']:.2f}"] if m else ["–"] * 4
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    if all("ablation" in results[s] for s in splits):
        lines += ["", "## Retriever ablation (answerable questions, the queries as searched)", "",
                  "| rankers | " + " | ".join(f"recall@5 {s} | MRR {s}" for s in splits) + " |",
                  "| --- |" + " --- | --- |" * len(splits)]
        for variant in results[splits[0]]["ablation"]:
            cells = []
            for s in splits:
                m = results[s]["ablation"][variant]
                cells += [f"{m['recall@5']:.3f}", f"{m['mrr']:.3f}"]
            lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    lines += ["", "## Risk and coverage", "",
              "Sweeping the refusal gate's score: the share of questions answered against the share of those answers that "
              "are correct (see `risk-coverage-*.png`). The gate's own threshold is marked in the plot.", ""]
    for s in splits:
        curve = results[s]["risk_coverage"]
        pts = [p for p in curve if p["coverage"] > 0][:: max(1, len(curve) // 8)]
        lines.append(f"- {s}: " + ", ".join(f"{p['coverage']:.2f} answered → {p['precision']:.2f} right" for p in pts))
    for s in ("dev",):  # only dev failures are printed: test failures are not for tuning
        if s in results:
            worst = [r for r in results[s]["records"] if what_went_wrong(r)][:25]
            lines += ["", f"## What went wrong ({s} only; test failures are not shown, so they cannot be tuned on)", "",
                      "| id | kind | question | what went wrong |", "| --- | --- | --- | --- |"]
            for rec in worst:
                q = rec["row"]["question"].replace("|", "\\|")[:110]
                lines.append(f"| {rec['row']['id']} | {rec['row']['kind']} | {q} | {what_went_wrong(rec).replace('|', '/')[:200]} |")
    lines += ["", "## Regression check (test split)", "",
              "\n".join(f"- {f}" for f in failed) if failed else "No test metric fell below the baseline tolerance."]
    return "\n".join(lines) + "\n"


def plot(out: Path, engine: str, results: dict[str, dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["recall@5", "mrr", "citation_precision", "fact_recall", "answered_precision", "accuracy",
             "refusal_accuracy", "false_refusal_rate"]
    series = [(f"{who} {s}", results[s][who]) for s in SPLITS if s in results for who in ("ours", "peer")
              if results[s].get(who)]
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(12, 4.5))
    for i, (label, data) in enumerate(series):
        ax.bar([x + i * width for x in range(len(names))], [data.get(n, 0) for n in names], width, label=label)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(names))], names, rotation=25, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"rag eval: engine {engine}")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / f"metrics-{engine}.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for s in SPLITS:
        if s in results:
            curve = results[s]["risk_coverage"]
            ax.plot([p["coverage"] for p in curve], [p["precision"] for p in curve], label=s)
            gate = results[s]["ours"]
            answered = 1 - (gate["questions"] and sum(r["pred"]["refused"] for r in results[s]["records"]) / gate["questions"])
            ax.scatter([answered], [gate["answered_precision"]], marker="o", zorder=3)
    ax.set_xlabel("coverage (share of questions answered)")
    ax.set_ylabel("answered precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"risk-coverage, engine {engine} (dots: the gate as configured)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"risk-coverage-{engine}.png", dpi=110)
    plt.close(fig)


def run(settings: Settings, *, engine: str, k: int | None, out: Path, peer: bool = True, update_baseline: bool = False,
        tolerance: float = 0.02, limit: int | None = None, progress: bool = True, split: str = "all",
        claims: bool = False, distractors: str | None = None, n_distractors: int = 2000) -> int:
    """Run the eval; write the report under `out`; return the exit status (1 on regression)."""
    if claims:
        from .claims import run_claims

        return run_claims(settings, out=out, split=split, update_baseline=update_baseline, tolerance=tolerance)
    if limit and update_baseline:
        raise UsageError("--update-baseline needs the whole question set; drop --limit.")
    a = open_eval_store(settings, distractors=distractors, n=n_distractors if distractors else 0, progress=progress)
    engine = a.engine(engine).name
    k = k or settings.top_k
    splits = SPLITS if split == "all" else (split,)
    results: dict[str, dict[str, Any]] = {}
    for s in splits:
        rows = load_questions(s)[:limit] if limit else load_questions(s)
        ours = run_ours(a, rows, engine, k)
        peer_records = run_peer(a, rows, engine, k) if peer else None
        results[s] = {"records": ours, "ours": score_rows(ours), "peer": score_rows(peer_records) if peer_records else None,
                      "kinds": by_kind(ours), "risk_coverage": risk_coverage(ours)}
        if engine == "extractive":
            results[s]["ablation"] = ablation(a, ours, k)
    suite = "extractive" if engine == "extractive" else engine
    key = f"{suite}+distractors-{n_distractors}" if distractors else suite
    baselines = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    base = (baselines.get(key) or {}).get("test")
    failed = regressions(results["test"]["ours"], base, tolerance) if base and "test" in results and not limit else []
    out.mkdir(parents=True, exist_ok=True)
    tag = key.replace("+", "-")
    with open(out / f"questions-{tag}.jsonl", "w", encoding="utf-8") as fh:
        for s in splits:
            for rec in results[s]["records"]:
                fh.write(json.dumps({"split": s, "id": rec["row"]["id"], "kind": rec["row"]["kind"],
                                     "correct": is_correct(rec["row"], rec["pred"]),
                                     "fact_recall": fact_recall(rec["pred"]["answer"], rec["row"]["must_include"]),
                                     "problem": what_went_wrong(rec) if s == "dev" else "(test: not shown)",
                                     "ranked": rec["ranked"], **rec["pred"]}, ensure_ascii=False) + "\n")
    extra = f", inside {n_distractors} distractor documents" if distractors else ""
    report = markdown_report(engine, results, base, failed, extra)
    (out / f"report-{tag}.md").write_text(report, encoding="utf-8")
    (out / f"metrics-{tag}.json").write_text(json.dumps(
        {s: {k2: v for k2, v in results[s].items() if k2 != "records"} for s in splits}, indent=2))
    plot(out, tag, results)
    print(report)
    print(f"Wrote {out}/report-{tag}.md, metrics-{tag}.png, risk-coverage-{tag}.png, questions-{tag}.jsonl")
    if update_baseline:
        keep_names = set(TARGETS) | {"ndcg@5", "citation_recall", "accuracy"}
        baselines[key] = {s: {n: round(v, 4) for n, v in results[s]["ours"].items() if n in keep_names} for s in splits}
        BASELINE.write_text(json.dumps(baselines, indent=2, sort_keys=True) + "\n")
        print(f"Baseline for {key} rewritten in {BASELINE}.")
        return 0
    if failed:
        print("REGRESSION: " + "; ".join(failed))
        return 1
    return 0

