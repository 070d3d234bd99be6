"""evals/metrics.py on small cases computed by hand."""

from __future__ import annotations

import math

import pytest

from evals.metrics import (
    citation_precision,
    citation_recall,
    fact_recall,
    is_correct,
    mrr,
    ndcg_at_k,
    percentile,
    recall_at_k,
    regressions,
    risk_coverage,
    score_rows,
)


def test_ranking_metrics() -> None:
    assert recall_at_k(["a", "b", "c"], ["c", "z"], 2) == 0.0
    assert recall_at_k(["a", "b", "c"], ["c", "z"], 3) == 0.5
    assert mrr(["a", "b", "c"], ["c"]) == pytest.approx(1 / 3)
    assert mrr(["a"], ["z"]) == 0.0
    # gold at ranks 1 and 3 of two gold: (1 + 1/log2(4)) / (1 + 1/log2(3))
    assert ndcg_at_k(["g1", "x", "g2"], ["g1", "g2"], 5) == pytest.approx((1 + 0.5) / (1 + 1 / math.log2(3)))


def test_citation_and_fact_metrics() -> None:
    assert citation_precision(["a", "b", "b"], ["a"]) == 0.5
    assert citation_precision([], ["a"]) is None
    assert citation_recall(["a"], ["a", "b"]) == 0.5
    assert fact_recall("Cuts cost by 92.2%.", [["92.2%"], ["backtracking", "back-tracking"]]) == 0.5
    assert fact_recall("anything", []) == 1.0


def row(answerable: bool = True, gold: tuple[str, ...] = ("p",), facts: tuple[tuple[str, ...], ...] = (("x",),)) -> dict:  # type: ignore[type-arg]
    return {"answerable": answerable, "gold_paper_ids": list(gold), "must_include": [list(f) for f in facts]}


def pred(answer: str = "x", refused: bool = False, cited: tuple[str, ...] = ("p",), confidence: float = 0.0) -> dict:  # type: ignore[type-arg]
    return {"answer": answer, "refused": refused, "citations": [{"paper_id": c} for c in cited],
            "timings_ms": {"total": 10.0}, "confidence": confidence, "engine": "extractive"}


def test_correctness() -> None:
    assert is_correct(row(), pred())
    assert not is_correct(row(), pred(answer="y"))  # fact missing
    assert not is_correct(row(), pred(cited=("q",)))  # no gold paper cited
    assert not is_correct(row(), pred(refused=True))
    assert is_correct(row(answerable=False), pred(refused=True, cited=()))
    assert not is_correct(row(answerable=False), pred())


def test_score_rows_by_hand() -> None:
    recs = [
        {"row": row(), "pred": pred(), "ranked": ["p"]},                          # right
        {"row": row(), "pred": pred(answer="y"), "ranked": ["q", "p"]},           # answered, wrong
        {"row": row(), "pred": pred(answer="(refusal)", refused=True, cited=()), "ranked": ["p"]},  # false refusal
        {"row": row(answerable=False), "pred": pred(refused=True, cited=()), "ranked": []},  # right refusal
        {"row": row(answerable=False), "pred": pred(), "ranked": []},             # wrongly answered
    ]
    m = score_rows(recs)
    assert m["questions"] == 5
    assert m["recall@5"] == 1.0 and m["mrr"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert m["answered_precision"] == pytest.approx(1 / 3)  # 3 answered, 1 right
    assert m["accuracy"] == pytest.approx(1 / 3)  # of 3 answerable, 1 right
    assert m["refusal_accuracy"] == 0.5 and m["false_refusal_rate"] == pytest.approx(1 / 3)
    assert m["fact_recall"] == pytest.approx(1 / 3)


def test_risk_coverage_by_hand() -> None:
    recs = [
        {"row": row(), "pred": pred(confidence=0.9)},                      # right, most confident
        {"row": row(), "pred": pred(answer="y", confidence=0.5)},          # wrong
        {"row": row(), "pred": pred(confidence=0.7)},                      # right
        {"row": row(answerable=False), "pred": pred(refused=True, cited=(), confidence=0.1)},
    ]
    curve = risk_coverage(recs)
    assert [(p["coverage"], round(p["precision"], 3)) for p in curve] == [(0.25, 1.0), (0.5, 1.0), (0.75, 0.667)]


def test_percentile_and_regressions() -> None:
    assert percentile([5, 1, 3], 0.5) == 3 and percentile([], 0.5) == 0.0
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95) == 10
    fails = regressions({"recall@5": 0.90, "false_refusal_rate": 0.10}, {"recall@5": 0.95, "false_refusal_rate": 0.05}, 0.02)
    assert len(fails) == 2
    assert regressions({"recall@5": 0.94}, {"recall@5": 0.95}, 0.02) == []
