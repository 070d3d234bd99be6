"""Fit the claim judge on the dev claims: `python -m evals.calibrate_claims`.

For each dev claim (evals/claims/dev.jsonl) the cited paper's evidence is found as the check
finds it (rag.citations: the closest sentences and the closest one with its neighbours; the
one covering most of the claim's words), its features are computed (`claim_features`), and a
logistic regression is fitted to "supported". Claims the hard rules already settle (a
verbatim quote; a number or name the source lacks) are left out of the fit. The threshold is
chosen from 5-fold out-of-fold probabilities: the point where the share of faithful claims
kept equals the share of wrong claims caught (the hard rules counted as the check counts
them). Prints the `Scoring` fields to paste into rag/settings.py. The test claims are never
read.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from rag import Settings
from rag.citations import CLAIM_FEATURES, claim_evidence, judge_features, judged_evidence, unnamed

from .claims import load_claims
from .run import open_eval_store


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Fit the claim judge on the dev claims.")
    ap.add_argument("--C", type=float, default=10.0,
                    help="inverse L2 strength: 10 kept more faithful claims out of fold than 1, as 100 did")
    C = ap.parse_args(argv).C
    settings = Settings()
    a = open_eval_store(settings, progress=False)
    sc = settings.scoring
    X, y, fixed = [], [], []  # fixed: (label, decided-supported) for claims the hard rules settle
    for row in load_claims("dev"):
        src = a.sources_for([row["paper_id"]])
        label = int(row["label"] == "supported")
        claim = row["claim"]
        hits = a.index.score(a.embedder.encode([unnamed(claim, src)])[0], claim, src)
        settled, candidates = claim_evidence(claim, hits, src[0], sc)
        if settled is not None:
            fixed.append((label, int(settled)))
            continue
        ev, refuted = judged_evidence(claim, candidates)
        if refuted:  # the swapped-contrast rule settles it
            fixed.append((label, 0))
            continue
        X.append(judge_features(claim, ev, src[0], sc))
        y.append(label)
    Xa, ya = np.array(X), np.array(y)
    oof = np.zeros(len(ya))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(Xa, ya):
        oof[test] = LogisticRegression(C=C, max_iter=2000).fit(Xa[train], ya[train]).predict_proba(Xa[test])[:, 1]
    pos_fixed = sum(1 for lab, _ in fixed if lab)
    neg_fixed = sum(1 for lab, _ in fixed if not lab)
    pos_kept = sum(1 for lab, ok in fixed if lab and ok)  # the rules' own decisions
    neg_caught = sum(1 for lab, ok in fixed if not lab and not ok)
    best = (-1.0, 0.5, 0.0, 0.0)
    for t in np.arange(0.05, 0.96, 0.01):
        kept = (np.sum((oof >= t) & (ya == 1)) + pos_kept) / max(1, np.sum(ya == 1) + pos_fixed)
        caught = (np.sum((oof < t) & (ya == 0)) + neg_caught) / max(1, np.sum(ya == 0) + neg_fixed)
        if min(kept, caught) > best[0]:
            best = (min(kept, caught), float(t), float(kept), float(caught))
    print(f"dev out-of-fold at threshold {best[1]:.2f}: faithful kept {best[2]:.3f}, wrong caught {best[3]:.3f} "
          f"({len(ya)} claims fitted, {len(fixed)} settled by the hard rules, {sum(1 for lab, _ in fixed if lab)} of them faithful)")
    model = LogisticRegression(C=C, max_iter=2000).fit(Xa, ya)
    for f, w in zip(CLAIM_FEATURES, model.coef_[0]):
        print(f"claim_{f} = {w:.3f}")
    print(f"claim_bias = {model.intercept_[0]:.3f}")
    print(f"claim_threshold = {best[1]:.2f}")


if __name__ == "__main__":
    main()
