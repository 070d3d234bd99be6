"""`rag eval --claims`: the citation check scored as a classifier on labelled claims.

Each row of `evals/claims/{dev,test}.jsonl` is a (question, claim, cited paper, label, kind):
a faithful paraphrase of one abstract, or one with a single subtle error (a number moved to
the wrong subject, a changed condition, flipped polarity, swapped roles, a substituted
entity, an unsupported addition, or the right claim cited to the wrong paper). For each row
the question is retrieved as answers are, the cited paper (and, for wrong-paper rows, the
true one) is made sure to be among the sources, and the claim with its `[n]` marker goes
through the real check (`Assistant.check`). Outcomes:
- a faithful claim is *kept* when it survives citing its paper;
- a wrong claim is *caught* when it is dropped, or re-cited to the paper that really says it.
Reported: precision and recall of "supported", the share caught per error kind, the share of
faithful claims kept, the check's cost per sentence, and every miss. The gate is on test.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rag import Settings

from .metrics import percentile, read_rows, regressions

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "baseline.json"
KEYS = {"id", "question", "claim", "paper_id", "label", "kind", "evidence", "true_paper_id", "note"}
TARGETS = {"caught": 0.95, "caught_per_kind": 0.90, "faithful_kept": 0.90, "p50_ms_per_sentence": 30.0}


def load_claims(split: str) -> list[dict[str, Any]]:
    return read_rows(HERE / "claims" / f"{split}.jsonl", KEYS)


def judge(a: Any, row: dict[str, Any]) -> dict[str, Any]:
    """Run one claim through the check; return its outcome."""
    retrieved = [s.paper.id for s in a.retrieve(row["question"])]
    needed = [row["paper_id"]] + ([row["true_paper_id"]] if row.get("true_paper_id") else [])
    ids = list(dict.fromkeys(retrieved + [p for p in needed if p not in retrieved]))
    sources = a.sources_for(ids)
    n = next(i for i, s in enumerate(sources, start=1) if s.paper.id == row["paper_id"])
    t0 = time.perf_counter()
    segments, report, notes = a.check(f"{row['claim'].rstrip('.')} [{n}].", sources)
    ms = (time.perf_counter() - t0) * 1000
    cited = [sources[i].paper.id for seg in segments for i, *_ in seg.evidence]
    if report.kept:
        outcome = "kept"
    elif report.recited:
        outcome = "recited"
    else:
        outcome = "dropped"
    supported = outcome != "dropped"
    if row["label"] == "supported":
        correct = outcome == "kept"
    else:
        correct = outcome == "dropped" or (row["kind"] == "wrong_paper" and bool(cited) and set(cited) <= {row["true_paper_id"]})
    return {"id": row["id"], "kind": row["kind"], "label": row["label"], "outcome": outcome, "cited": cited,
            "supported": supported, "correct": bool(correct), "ms": ms, "sentences": max(report.sentences, 1),
            "notes": notes, "claim": row["claim"], "paper_id": row["paper_id"]}


def score(results: list[dict[str, Any]]) -> dict[str, Any]:
    faithful = [r for r in results if r["label"] == "supported"]
    wrong = [r for r in results if r["label"] != "supported"]
    tp = sum(1 for r in faithful if r["outcome"] == "kept")
    fp = sum(1 for r in wrong if not r["correct"])
    kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in wrong:
        kinds[r["kind"]].append(r)
    per_kind = {k: sum(r["correct"] for r in v) / len(v) for k, v in sorted(kinds.items())}
    return {
        "claims": len(results),
        "faithful_kept": tp / len(faithful) if faithful else 0.0,
        "caught": sum(r["correct"] for r in wrong) / len(wrong) if wrong else 0.0,
        "supported_precision": tp / (tp + fp) if tp + fp else 0.0,
        "supported_recall": tp / len(faithful) if faithful else 0.0,
        "caught_per_kind": per_kind,
        "min_caught_per_kind": min(per_kind.values()) if per_kind else 0.0,
        "p50_ms_per_sentence": percentile([r["ms"] / r["sentences"] for r in results], 0.5),
    }


def report_md(scores: dict[str, dict[str, Any]], results: dict[str, list[dict[str, Any]]] | None, base: dict[str, Any] | None,
              failed: list[str]) -> str:
    """The Markdown report; with `results`, every miss is listed (the console copy leaves them out)."""
    splits = list(scores)
    lines = ["# Claim-check eval", "",
             "Each labelled claim goes through the real citation check with its `[n]` marker; a faithful claim should be "
             "kept, a wrong one dropped (or, for a wrong paper, re-cited to the right one).", "",
             "| metric | " + " | ".join(splits) + " | target | baseline (test) |", "| --- |" + " --- |" * len(splits) + " --- | --- |"]
    for name in ("claims", "faithful_kept", "caught", "min_caught_per_kind", "supported_precision", "supported_recall",
                 "p50_ms_per_sentence"):
        cells = [f"{scores[s][name]:.3f}" if isinstance(scores[s][name], float) else str(scores[s][name]) for s in splits]
        t = TARGETS.get(name if name != "min_caught_per_kind" else "caught_per_kind")
        tgt = "" if t is None else (f"≤ {t}" if name.startswith("p50") else f"≥ {t}")
        b = (base or {}).get(name)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {tgt} | {'' if b is None else round(b, 3)} |")
    lines += ["", "## Caught per error kind", "", "| kind | " + " | ".join(splits) + " |", "| --- |" + " --- |" * len(splits)]
    for kind in sorted({k for s in splits for k in scores[s]["caught_per_kind"]}):
        lines.append(f"| {kind} | " + " | ".join(f"{scores[s]['caught_per_kind'].get(kind, 0):.2f}" for s in splits) + " |")
    for s in splits if results is not None else ():
        misses = [r for r in (results or {}).get(s, []) if not r["correct"]]
        lines += ["", f"## Misses on {s} ({len(misses)})", "", "| id | kind | outcome | claim | why |", "| --- | --- | --- | --- | --- |"]
        for r in misses:
            why = "; ".join(r["notes"])[:160].replace("|", "/")
            lines.append(f"| {r['id']} | {r['kind']} | {r['outcome']} | {r['claim'][:140].replace('|', '/')} | {why} |")
    lines += ["", "## Regression check (test split)", "", "\n".join(f"- {f}" for f in failed) or "No test figure fell below its baseline."]
    return "\n".join(lines) + "\n"


def run_claims(settings: Settings, *, out: Path, split: str, update_baseline: bool, tolerance: float) -> int:
    from .run import open_eval_store

    a = open_eval_store(settings, progress=False)
    splits = ("dev", "test") if split == "all" else (split,)
    results = {s: [judge(a, row) for row in load_claims(s)] for s in splits}
    scores = {s: score(results[s]) for s in splits}
    baselines = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    base = (baselines.get("claims") or {}).get("test")
    failed = regressions(scores["test"], base, tolerance, ("faithful_kept", "caught", "min_caught_per_kind",
                                                            "supported_precision")) if base and "test" in scores else []
    out.mkdir(parents=True, exist_ok=True)
    (out / "report-claims.md").write_text(report_md(scores, results, base, failed), encoding="utf-8")
    with open(out / "claims.jsonl", "w", encoding="utf-8") as fh:
        for s in splits:
            for r in results[s]:
                fh.write(json.dumps({"split": s, **r}, ensure_ascii=False) + "\n")
    print(report_md(scores, None, base, failed))
    print(f"Wrote {out}/report-claims.md (with every miss) and claims.jsonl")
    if update_baseline:
        baselines["claims"] = {s: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in scores[s].items()
                                   if k != "caught_per_kind"} for s in splits}
        BASELINE.write_text(json.dumps(baselines, indent=2, sort_keys=True) + "\n")
        return 0
    return 1 if failed else 0
