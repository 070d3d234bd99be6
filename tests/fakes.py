"""Test doubles that plug in through the real interfaces.

`ScriptedEngine` replays drafts through the real `Assistant`, the real check and the real
store (like simonw/llm's MockModel): a draft may be a string or a function of the
`DraftContext`, so a script can cite "the Tree-Planner paper" whatever number retrieval
gave it. `HashEmbedder` is a cheap deterministic embedder used only where the issue asks for
one (tens of thousands of chunks in seconds); it still tells texts apart.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from rag.engines import Cancelled, DraftContext
from rag.settings import Settings

Draft = str | Callable[[DraftContext], str]


def cite(ctx: DraftContext, paper_id: str) -> int:
    """The [n] retrieval gave `paper_id` in this context."""
    for n, s in enumerate(ctx.sources, start=1):
        if s.paper.id == paper_id:
            return n
    raise AssertionError(f"{paper_id} was not retrieved: {[s.paper.id for s in ctx.sources]}")


class ScriptedEngine:
    """A generative engine whose drafts (and follow-up rewrites) are given in advance."""

    generative = True

    def __init__(self, *drafts: Draft, rewrites: tuple[str, ...] = (), name: str = "scripted",
                 delay: float = 0.0) -> None:
        self.name = name
        self._drafts = list(drafts)
        self._rewrites = list(rewrites)
        self.delay = delay
        self.calls: list[DraftContext] = []
        self.prompts: list[str] = []
        self.stopped = threading.Event()

    def enqueue(self, *drafts: Draft) -> ScriptedEngine:
        self._drafts.extend(drafts)
        return self

    def draft(self, ctx: DraftContext, on_text: Callable[[str], None] | None = None) -> str:
        self.calls.append(ctx)
        if not self._drafts:
            raise AssertionError("ScriptedEngine: no draft left for " + repr(ctx.question))
        d = self._drafts.pop(0)
        text = d(ctx) if callable(d) else d
        out = ""
        for word in text.split(" "):  # stream word by word, as a model would
            if ctx.cancel is not None and ctx.cancel.is_set():
                self.stopped.set()
                raise Cancelled()
            out = f"{out} {word}" if out else word
            if on_text is not None:
                on_text(out)
            if self.delay:
                threading.Event().wait(self.delay)
        return text

    def rewrite(self, prompt: str) -> str | None:
        self.prompts.append(prompt)
        return self._rewrites.pop(0) if self._rewrites else None


class HashEmbedder:
    """Deterministic bag-of-words vectors (hashed words), normalised: fast, and texts that
    share words are close. Same interface as `rag.models.Embedder`."""

    def __init__(self, settings: Settings, dim: int = 64) -> None:
        self.settings = settings
        self.dim = dim
        self.max_tokens = 256
        self.precision = "hash"

    def tokenize(self, text: str) -> list[str]:
        return text.split()

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def signature(self) -> dict[str, Any]:
        return {"rag_embed_model": "hash", "rag_embed_fingerprint": "hash-v1", "rag_embed_dim": self.dim,
                "rag_embed_precision": "hash"}

    def encode(self, texts: list[str], *, bulk: bool = False, progress: Any = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0
            out[i] /= np.linalg.norm(out[i]) or 1.0
        return out
