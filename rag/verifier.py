"""The claim verifier: the bundled MiniLM fine-tuned as a cross-encoder that reads a claim
and a piece of evidence together and says whether the evidence supports the claim.

A bi-encoder compares two meanings from afar; "requires tuning" and "does not require
tuning" sit close together in its space, as do "from lazy to rich" and "from rich to lazy".
A cross-encoder attends across both texts, so a flipped polarity, a swapped role, a number
moved to another subject or a substituted entity changes its output.

It is trained locally, once, from what ships with the project (nothing is downloaded):
- positives: each abstract sentence (and adjacent pair) against itself, lightly shortened
  and reordered, and the hand-written faithful paraphrases of `evals/claims/dev.jsonl`;
- negatives: automatic perturbations of the same sentences (a number swapped for another of
  the abstract, a negation or antonym flipped, two names or the sides of "than/rather than/
  from .. to" swapped, a name or content word replaced by one from another abstract, a
  clause from another abstract added) and the hand-written wrong claims of the dev split.
The test claims are never read. The weights are cached in the model cache, keyed by the
base model and the training data, so every machine trains the same model (fixed seed).
Not here: choosing evidence and deciding to keep, re-cite or drop (citations.py).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EngineError
from .models import native_bf16
from .settings import Settings
from .text import OPPOSITE, fold, names, numbers, sentences

VERSION = "3"
_NEGATABLE = re.compile(r"\b(is|are|was|were|can|does|do|did|has|have|will|could|would|should)\b")
_DIRECTION = re.compile(r"\b(from)\s+(.{3,40}?)\s+(to|into)\s+(.{3,40}?)([,.;]|$)|(.{3,40}?)\s+(rather than|instead of|than)\s+(.{3,40}?)([,.;]|$)")


# ---- training pairs --------------------------------------------------------------------------
def _perturb(sent: str, abstract: str, others: list[str], rng: random.Random) -> list[str]:
    """Wrong versions of `sent`, each with one subtle change."""
    out: list[str] = []
    own = sorted(numbers(abstract) - numbers(sent))
    for n in sorted(numbers(sent))[:2]:  # a number from elsewhere in the abstract
        if own:
            out.append(sent.replace(n.rstrip("%"), rng.choice(own).rstrip("%"), 1))
    words = sent.split()
    flips = [i for i, w in enumerate(words) if w.lower().strip(",.;:") in OPPOSITE]
    if flips:  # an antonym
        i = rng.choice(flips)
        core = words[i].lower().strip(",.;:")
        words2 = list(words)
        words2[i] = words[i].lower().replace(core, OPPOSITE[core])
        out.append(" ".join(words2))
    m = _NEGATABLE.search(sent)
    if m and " not " not in sent:  # a negation
        out.append(sent[: m.end()] + " not" + sent[m.end():])
    elif " not " in sent:
        out.append(sent.replace(" not ", " ", 1))
    d = _DIRECTION.search(sent)
    if d:  # swapped roles around from..to / than / rather than
        if d.group(1):
            a, b = d.group(2), d.group(4)
            out.append(sent.replace(f"{a} {d.group(3)} {b}", f"{b} {d.group(3)} {a}", 1))
        elif d.group(6) and len(d.group(8).split()) <= 6 and len(d.group(6).split()) <= 6:
            a, b = d.group(6), d.group(8)
            out.append(sent.replace(f"{a} {d.group(7)} {b}", f"{b} {d.group(7)} {a}", 1))
    mine = sorted(names(sent))
    if len(mine) >= 2:  # two names swapped
        a, b = rng.sample(mine, 2)
        out.append(sent.replace(a, "\x00").replace(b, a).replace("\x00", b))
    foreign = sorted({n for o in others for n in names(o)} - names(abstract))
    if mine and foreign:  # a name from another abstract
        out.append(sent.replace(rng.choice(mine), rng.choice(foreign), 1))
    nouns = [w for w in re.findall(r"[a-z][a-z-]{5,}", sent) if w not in OPPOSITE]
    pool = [w for o in others for w in re.findall(r"[a-z][a-z-]{5,}", o) if w not in abstract]
    if nouns and pool:  # a content word from another abstract
        out.append(re.sub(rf"\b{re.escape(rng.choice(nouns))}\b", rng.choice(pool), sent, count=1))
    if others:  # an added detail from elsewhere
        extra = rng.choice(others).rstrip(".").split(",")[-1].strip()
        if 2 < len(extra.split()) < 12:
            out.append(f"{sent.rstrip('.')}, {extra[0].lower() + extra[1:]}.")
    return [o for o in out if o != sent and o.strip()]


def _lighten(sent: str, rng: random.Random) -> list[str]:
    """Faithful variants: a clause dropped, a leading phrase dropped."""
    out = []
    parts = [p.strip() for p in re.split(r",\s+", sent) if p.strip()]
    if len(parts) > 1 and len(parts[0].split()) > 4:
        out.append(parts[0].rstrip(".") + ".")
    m = re.match(r"^(In (this|our) (work|paper|study)|Specifically|Moreover|Furthermore|Notably|Finally|Additionally|"
                 r"As a result|Empirically|Theoretically)[, ]+", sent)
    if m:
        rest = sent[m.end():]
        out.append(rest[:1].upper() + rest[1:])
    return out


def training_pairs(abstracts: list[str], claims: Iterable[dict[str, Any]], seed: int = 0) -> list[tuple[str, str, float]]:
    """(claim, evidence, label) pairs from the abstracts and the labelled dev claims."""
    rng = random.Random(seed)
    pairs: list[tuple[str, str, float]] = []
    for k, abstract in enumerate(abstracts):
        sents = [s for s in sentences(abstract) if len(s.split()) >= 6]
        others = [s for j, a in enumerate(abstracts) if j != k for s in sentences(a)[:6]]
        others = rng.sample(others, min(40, len(others)))
        for i, s in enumerate(sents):
            evidence = s if rng.random() < 0.7 or i + 1 >= len(sents) else f"{s} {sents[i + 1]}"
            pairs.append((s, evidence, 1.0))
            if i + 1 < len(sents) and rng.random() < 0.3:  # a claim merging two adjacent sentences
                pairs.append((f"{s.rstrip('.')}; {sents[i + 1][0].lower() + sents[i + 1][1:]}", f"{s} {sents[i + 1]}", 1.0))
            pairs += [(v, evidence, 1.0) for v in _lighten(s, rng)]
            pairs += [(v, evidence, 0.0) for v in _perturb(s, abstract, others, rng)]
            if others:  # a sentence of another paper is not evidence
                pairs.append((rng.choice(others), evidence, 0.0))
    for c in claims:  # hand-written paraphrases and subtle errors
        pairs.append((c["claim"], c["evidence"], 1.0 if c["label"] == "supported" else 0.0))
    rng.shuffle(pairs)
    return pairs


# ---- the model ----------------------------------------------------------------------------------
def _data_key(abstracts: list[str], claims: list[dict[str, Any]]) -> str:
    h = hashlib.sha1(VERSION.encode())
    for a in abstracts:
        h.update(a.encode())
    h.update(json.dumps(claims, sort_keys=True).encode())
    return h.hexdigest()[:12]


class Verifier:
    """P(the evidence supports the claim) from the fine-tuned cross-encoder (torch, CPU)."""

    def __init__(self, settings: Settings, base: Path, fingerprint: str) -> None:
        self.settings = settings
        self.base = base
        self.fingerprint = fingerprint
        self._model: Any = None
        self._tok: Any = None
        self._lock = threading.Lock()

    def folder(self, key: str) -> Path:
        return Path(self.settings.shared_cache_dir).expanduser() / f"verifier-{self.fingerprint}-{key}"

    def ready(self, abstracts: list[str], claims: list[dict[str, Any]], *, train: bool = True) -> bool:
        """Load the model trained on this data, training it first when missing (and `train`)."""
        if self._model is not None:
            return True
        folder = self.folder(_data_key(abstracts, claims))
        if not (folder / "config.json").is_file():
            if not train:
                return False
            self._train(folder, training_pairs(abstracts, claims))
        self._load(folder)
        return True

    def _load(self, folder: Path) -> None:
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as e:
            raise EngineError("The claim verifier needs torch and transformers: run `make install`.") from e
        torch.set_num_threads(self.settings.torch_threads)
        self._tok = AutoTokenizer.from_pretrained(str(self.base), local_files_only=True)
        self._model = AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True).eval()

    def train_to(self, folder: Path, pairs: list[tuple[str, str, float]]) -> None:
        """Train on `pairs` into `folder` and load the result (evals/calibrate_verifier.py uses it for folds)."""
        self._train(folder, pairs)
        self._load(folder)

    def _train(self, folder: Path, pairs: list[tuple[str, str, float]]) -> None:
        import os
        import sys

        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        torch.manual_seed(0)
        torch.set_num_threads(self.settings.torch_threads)
        tok = AutoTokenizer.from_pretrained(str(self.base), local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(str(self.base), num_labels=1, local_files_only=True)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=self.settings.verifier_lr, weight_decay=0.01)
        bs = 16
        steps = self.settings.verifier_epochs * ((len(pairs) + bs - 1) // bs)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps))
        loss_fn = torch.nn.BCEWithLogitsLoss()
        print(f"Training the claim verifier on {len(pairs)} pairs (once; cached in {folder}) ...", file=sys.stderr)
        for _ in range(self.settings.verifier_epochs):
            for b in range(0, len(pairs), bs):
                batch = pairs[b : b + bs]
                enc = tok([p[0] for p in batch], [p[1] for p in batch], truncation=True, max_length=192,
                          padding=True, return_tensors="pt")
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=native_bf16()):
                    logits = model(**enc).logits.squeeze(-1)
                loss = loss_fn(logits.float(), torch.tensor([p[2] for p in batch]))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                opt.zero_grad()
        tmp = folder.with_name(folder.name + f".partial-{os.getpid()}")
        model.save_pretrained(str(tmp))
        os.replace(tmp, folder)

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """P(supported) for each (claim, evidence) pair."""
        import torch

        if not pairs:
            return np.zeros(0, dtype=np.float32)
        bf16 = native_bf16()
        with self._lock, torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            enc = self._tok([fold(p[0]) for p in pairs], [fold(p[1]) for p in pairs], truncation=True, max_length=192,
                            padding=True, return_tensors="pt")
            logits = self._model(**enc).logits.squeeze(-1).float()
        out: np.ndarray = torch.sigmoid(logits).numpy().astype(np.float32)
        return out

