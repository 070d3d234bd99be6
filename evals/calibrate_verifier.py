"""Two-fold cross-validation of the claim verifier on the dev claims: `python -m evals.calibrate_verifier`.

Trains the verifier twice, each time on the synthetic pairs plus half of the dev claims, and
scores the other half (claims the model never saw, about the same abstracts, as the test claims
are). It prints, for thresholds from 0.05 to 0.95, the share of held-out faithful claims kept
and of wrong claims caught (overall and for the worst kind), from which `verifier_threshold`
is chosen. The test claims are never read. Slow: two trainings.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from rag import Settings
from rag.models import Embedder, verifier_data
from rag.verifier import Verifier, training_pairs

from .run import open_eval_store


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Cross-validate the claim verifier's threshold on the dev claims.")
    ap.add_argument("--folds", type=int, default=2, help="how many of the two folds to train (1 halves the time)")
    args = ap.parse_args(argv)
    settings = Settings()
    abstracts, claims = verifier_data(settings)
    emb = Embedder(settings)
    a = open_eval_store(settings, progress=False)
    held: list[tuple[dict, float]] = []  # type: ignore[type-arg]
    for fold in range(min(2, max(1, args.folds))):
        part = [c for c in claims if int(hashlib.sha1(c["id"].encode()).hexdigest(), 16) % 2 != fold]
        rest = [c for c in claims if c not in part]
        v = Verifier(settings, emb.model.path, emb.model.fingerprint)
        with tempfile.TemporaryDirectory() as tmp:
            v.train_to(Path(tmp) / "model", training_pairs(abstracts, part))
            for c in rest:
                src = a.sources_for([c["paper_id"]])
                hits = a.index.score(a.embedder.encode([c["claim"]])[0], c["claim"], src)
                cands = [h.text for h in hits[:2]]
                held.append((c, float(v.score([(c["claim"], x) for x in cands]).max())))
    out = []
    for t in np.arange(0.05, 0.96, 0.05):
        kept = np.mean([p >= t for c, p in held if c["label"] == "supported"])
        by: dict[str, list[bool]] = defaultdict(list)
        for c, p in held:
            if c["label"] != "supported":
                by[c["kind"]].append(p < t)
        caught = np.mean([x for v_ in by.values() for x in v_])
        out.append({"threshold": round(float(t), 2), "faithful_kept": round(float(kept), 3), "caught": round(float(caught), 3),
                    "worst_kind": min((round(float(np.mean(v_)), 3), k) for k, v_ in by.items())})
    print("\n".join(json.dumps(o) for o in out))


if __name__ == "__main__":
    main()
