"""Fit the refusal gate on the dev questions: `python -m evals.calibrate`.

For every dev question it retrieves, ranks the evidence and computes the gate's signals
(rag.evidence.signals), then fits a small logistic model of "the papers answer this"
(L2-regularised, Newton's method, standardised inputs) and picks the threshold that refuses
the most unanswerable questions while wrongly refusing, together with the rules, at most
`--max-false-refusals` of the answerable ones. It prints the Settings values; the test questions are never read.
With `--distractors FILE --n 10000` (a collection built for the eval) or `--store
DATA_DIR:COLLECTION` (one `make bench-scale` built) the same dev questions are also asked inside
collections padded with distractor documents, and all are fitted together, so the gate sees what a
large collection's near matches look like.
Questions a rule refuses (a name no retrieved paper uses, a number or name or reason that no
evidence sentence carries) are left out: the gate only ever sees the others.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rag import Assistant, Settings
from rag.evidence import FEATURES, rank_for_question

from .run import load_questions, open_eval_store


def features(settings: Settings, split: str = "dev", distractors: str | None = None, n: int = 0,
             store: Assistant | None = None) -> tuple[np.ndarray, np.ndarray, list[dict], int]:  # type: ignore[type-arg]
    """The gate's signals for each question that no refusal rule stops (the gate never sees the
    others), and how many answerable questions the rules refused (they count as false refusals)."""
    a = store or open_eval_store(settings, distractors=distractors, n=n, progress=False)
    xs, ys, rows, ruled = [], [], [], 0
    for row in load_questions(split):
        history = [a.ask(h) for h in row["history"]]
        eng = a.engine()
        _, query = a.prepare(row["question"], [h.to_json_dict() for h in history], eng)
        if not query:
            continue
        qvec = a.embedder.encode([query])[0]
        sources = a.retriever.retrieve(query, query_vec=qvec)
        ranked = rank_for_question(query, qvec, sources, a.index, settings.scoring)
        reason, sig = a.answerer.refusal_rules(query, sources, ranked)
        if reason is not None or sig is None:
            ruled += int(row["answerable"])
            continue
        xs.append(sig.vector())
        ys.append(1.0 if row["answerable"] else 0.0)
        rows.append(row)
    return np.asarray(xs).reshape(len(xs), len(FEATURES)), np.asarray(ys), rows, ruled


def open_store(settings: Settings, spec: str) -> Assistant:
    """An existing collection named by `DATA_DIR:COLLECTION` (one `make bench-scale` built)."""
    folder, _, collection = spec.rpartition(":")
    if not folder or not collection or not (Path(folder) / "chroma").is_dir():
        raise SystemExit(f"--store expects DATA_DIR:COLLECTION with DATA_DIR/chroma present (e.g. "
                         f".rag/bench-scale/scale-10000:scale); found {spec!r}. Run `make bench-scale` to build one.")
    a = Assistant(settings.model_copy(update={"data_dir": Path(folder), "collection": collection,
                                              "min_abstract_chars": 10, "auto_ingest": False}), progress=False)
    if a.store.paper_count() == 0:
        raise SystemExit(f"--store {spec!r}: the collection is empty; check the collection name (bench-scale uses 'scale').")
    return a


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> tuple[np.ndarray, float]:
    """Logistic regression with non-negative weights (every signal can only make an answer more
    likely): fit, drop the features that came out negative, refit. Returns (weights, bias)."""
    keep = list(range(x.shape[1]))
    while True:
        w, b = _fit(x[:, keep], y, l2)
        if (w >= 0).all():
            full = np.zeros(x.shape[1])
            full[keep] = w
            return full, b
        keep = [k for k, v in zip(keep, w) if v >= 0]


def _fit(x: np.ndarray, y: np.ndarray, l2: float, steps: int = 50) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method on standardised inputs; (weights, bias) on the raw inputs."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([np.ones((len(x), 1)), (x - mu) / sd])
    w = np.zeros(z.shape[1])
    reg = np.eye(z.shape[1]) * l2
    reg[0, 0] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        grad = z.T @ (p - y) + reg @ w
        hess = (z * (p * (1 - p))[:, None]).T @ z + reg
        w -= np.linalg.solve(hess, grad)
    weights = w[1:] / sd
    return weights, float(w[0] - (w[1:] * mu / sd).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max-false-refusals", type=float, default=0.03)
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--show", action="store_true", help="print each dev question's signals")
    ap.add_argument("--distractors", help="also fit on the dev questions inside distractor documents (a JSONL file)")
    ap.add_argument("--n", default="10000", help="distractor documents per extra collection, comma-separated")
    ap.add_argument("--store", action="append", default=[], metavar="DATA_DIR:COLLECTION",
                    help="also fit on an existing collection of the bundled papers plus distractors (e.g. one "
                    "`make bench-scale` built: .rag/bench-scale/scale-10000:scale)")
    args = ap.parse_args()
    settings = Settings()
    x, y, rows, ruled = features(settings)
    extra = [features(settings, "dev", args.distractors, int(n)) for n in args.n.split(",")] if args.distractors else []
    extra += [features(settings, "dev", store=open_store(settings, spec)) for spec in args.store]
    for xn, yn, rn, rd in extra:  # the same dev questions in a grown collection: thresholds must not drift with its size
        x, y, rows, ruled = np.vstack([x, xn]), np.concatenate([y, yn]), rows + rn, ruled + rd
    if args.show:
        for r, v in zip(rows, x):
            print(f"{int(r['answerable'])} {r['kind'][:10]:<10} " + " ".join(f"{n[:5]}={val:.2f}" for n, val in zip(FEATURES, v))
                  + f"  {r['question'][:70]}")
    folds = []  # two-fold cross-validation on dev: how stable is the fit?
    idx = np.arange(len(y))
    for k in range(2):
        tr, te = idx % 2 != k, idx % 2 == k
        wk, bk = fit(x[tr], y[tr], args.l2)
        pk = 1 / (1 + np.exp(-(x[te] @ wk + bk)))
        folds.append(f"fold {k}: false refusals {(pk[y[te] == 1] < 0.75).mean():.2f}, unanswerable refused {(pk[y[te] == 0] < 0.75).mean():.2f}")
    w, b = fit(x, y, args.l2)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    pos, neg = p[y == 1], p[y == 0]
    best = None
    for t in sorted(set(np.round(p, 4))):
        fr = float(((pos < t).sum() + ruled) / (len(pos) + ruled))  # the rules' false refusals count too
        if fr <= args.max_false_refusals:
            best = (t, fr, float((neg < t).mean()))
    if best is None:
        raise SystemExit(f"The refusal rules alone wrongly refuse {ruled} answerable dev questions, more than "
                         f"--max-false-refusals {args.max_false_refusals} allows: raise it or loosen the rules.")
    t, fr, caught = best
    print(json.dumps({"weights": dict(zip(FEATURES, np.round(w, 3).tolist())), "bias": round(b, 3),
                      "threshold": round(float(t), 3), "dev_false_refusals": round(fr, 3),
                      "dev_unanswerable_refused_by_model": round(caught, 3), "n": len(y),
                      "answerable": int(y.sum()), "answerable_refused_by_rules": ruled, "cross_validation": folds}, indent=2))


if __name__ == "__main__":
    main()
