"""Eval metrics: pure functions over ids, strings and per-question records.

Paper-level retrieval (recall@k, MRR, nDCG@10), citation precision/recall, fact recall
on `must_include`, answered precision and accuracy (as PaperQA2 reports on LitQA2),
refusal accuracy and false-refusal rate, checked-sentence counts, latency percentiles.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.errors import UsageError


def recall_at_k(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    return len(set(ranked[:k]) & set(gold)) / len(set(gold)) if gold else 0.0


def mrr(ranked: Sequence[str], gold: Sequence[str]) -> float:
    for i, pid in enumerate(ranked, start=1):
        if pid in gold:
            return 1.0 / i
    return 0.0


def ndcg_at_k(ranked: Sequence[str], gold: Sequence[str], k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(i + 1) for i, pid in enumerate(ranked[:k], start=1) if pid in gold)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(set(gold)), k) + 1))
    return dcg / ideal if ideal else 0.0


def citation_precision(cited: Sequence[str], gold: Sequence[str]) -> float | None:
    """Share of cited papers that are gold (None when nothing is cited)."""
    return len([c for c in set(cited) if c in gold]) / len(set(cited)) if cited else None


def citation_recall(cited: Sequence[str], gold: Sequence[str]) -> float:
    return len(set(cited) & set(gold)) / len(set(gold)) if gold else 0.0


def fact_recall(answer: str, must_include: Sequence[Sequence[str]]) -> float:
    """Share of facts present; a fact is a list of alternatives, matched case-insensitively."""
    if not must_include:
        return 1.0
    low = answer.lower()
    return sum(any(alt.lower() in low for alt in fact) for fact in must_include) / len(must_include)


def is_correct(row: dict[str, Any], pred: dict[str, Any]) -> bool:
    """Answerable: answered, every fact present and a gold paper cited. Else: refused."""
    if not row["answerable"]:
        return bool(pred["refused"])
    cited = [c["paper_id"] for c in pred["citations"]]
    return (not pred["refused"] and fact_recall(pred["answer"], row["must_include"]) == 1.0
            and bool(set(cited) & set(row["gold_paper_ids"])))


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def score_rows(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Aggregate metrics over per-question records ({row, pred, ranked})."""
    answerable = [r for r in records if r["row"]["answerable"]]
    unanswerable = [r for r in records if not r["row"]["answerable"]]
    answered = [r for r in records if not r["pred"]["refused"]]
    correct = [r for r in records if is_correct(r["row"], r["pred"])]
    precisions = [
        p for r in answerable if not r["pred"]["refused"]
        if (p := citation_precision([c["paper_id"] for c in r["pred"]["citations"]], r["row"]["gold_paper_ids"])) is not None
    ]
    out = {
        "questions": float(len(records)),
        "recall@5": _mean([recall_at_k(r["ranked"], r["row"]["gold_paper_ids"], 5) for r in answerable]),
        "mrr": _mean([mrr(r["ranked"], r["row"]["gold_paper_ids"]) for r in answerable]),
        "ndcg@5": _mean([ndcg_at_k(r["ranked"], r["row"]["gold_paper_ids"], 5) for r in answerable]),
        "citation_precision": _mean(precisions),
        "citation_recall": _mean([citation_recall([c["paper_id"] for c in r["pred"]["citations"]], r["row"]["gold_paper_ids"]) for r in answerable]),
        "fact_recall": _mean([fact_recall(r["pred"]["answer"], r["row"]["must_include"]) for r in answerable]),
        "answered_precision": len([r for r in correct if not r["pred"]["refused"]]) / len(answered) if answered else 0.0,
        "accuracy": len([r for r in correct if r["row"]["answerable"]]) / len(answerable) if answerable else 0.0,
        "refusal_accuracy": _mean([1.0 if r["pred"]["refused"] else 0.0 for r in unanswerable]),
        "false_refusal_rate": _mean([1.0 if r["pred"]["refused"] else 0.0 for r in answerable]),
        "latency_p50_ms": percentile([r["pred"]["timings_ms"]["total"] for r in records], 0.5),
        "latency_p95_ms": percentile([r["pred"]["timings_ms"]["total"] for r in records], 0.95),
    }
    rechecked = [r["recheck"] for r in records if "recheck" in r]
    if rechecked and sum(n for n, _ in rechecked):
        out["returned_sentences_supported"] = sum(k for _, k in rechecked) / sum(n for n, _ in rechecked)
    checks = [r["pred"]["timings_ms"]["check"] for r in records if "check" in r["pred"]["timings_ms"]]
    if checks:
        out["check_p50_ms"] = percentile(checks, 0.5)
    fallbacks = [r for r in records if "→" in r["pred"]["engine"]]
    if any(r["pred"].get("checked") for r in records):
        out["fallback_rate"] = len(fallbacks) / len(records)
    checked = [r["pred"]["checked"] for r in records if r["pred"].get("checked")]
    if checked:
        for key in ("sentences", "kept", "recited", "dropped", "unmarked"):
            out[f"checked_{key}"] = float(sum(c.get(key, 0) for c in checked))
    return out


# Direction of each metric: +1 higher is better, -1 lower is better, 0 informational.
DIRECTION = {
    "recall@5": 1, "mrr": 1, "ndcg@5": 1, "citation_precision": 1, "citation_recall": 1, "fact_recall": 1,
    "answered_precision": 1, "accuracy": 1, "refusal_accuracy": 1, "false_refusal_rate": -1,
}

TARGETS = {
    "recall@5": 0.97, "mrr": 0.90, "citation_precision": 0.95, "fact_recall": 0.85,
    "answered_precision": 0.90, "refusal_accuracy": 0.90, "false_refusal_rate": 0.05,
}


def risk_coverage(records: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """Answered precision against coverage when only questions whose gate score (`confidence`)
    reaches a threshold are answered; one point per threshold, from strict to lenient.
    A question the pipeline refused counts as unanswered at every threshold: the gate's other
    rules (missing names, instructions) refuse whatever the score."""
    scored = sorted(((r["pred"].get("confidence") or 0.0, r) for r in records if not r["pred"]["refused"]),
                    key=lambda t: t[0], reverse=True)
    total = len(records) or 1
    points, right = [], 0
    for n, (score, r) in enumerate(scored, start=1):
        right += is_correct(r["row"], r["pred"])
        points.append({"threshold": score, "coverage": n / total, "precision": right / n})
    return points


def regressions(current: dict[str, float], baseline: dict[str, float], tolerance: float,
                higher_better: Sequence[str] | None = None) -> list[str]:
    """Metrics that got worse than the baseline by more than `tolerance` (absolute); by default
    those of `DIRECTION`, else the named ones, all higher-is-better."""
    out = []
    directions = DIRECTION if higher_better is None else {name: 1 for name in higher_better}
    for name, sign in directions.items():
        if name in current and name in baseline and sign * (current[name] - baseline[name]) < -tolerance:
            out.append(f"{name}: {current[name]:.3f} vs baseline {baseline[name]:.3f} (tolerance {tolerance})")
    return out


def read_rows(path: Path, keys: set[str]) -> list[dict[str, Any]]:
    """The JSON lines of an eval file, each with exactly `keys`; a bad line is a one-line error."""
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UsageError(f"{path}:{i}: bad JSON ({e.msg}).") from None
        if set(row) != keys:
            raise UsageError(f"{path}:{i}: expected keys {sorted(keys)}, found {sorted(row)}.")
        rows.append(row)
    return rows
