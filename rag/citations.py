"""Citations as a checked contract.

Sources are numbered by the code ([1]..[n] in retrieval order). This module
- parses `[n]` markers (and `[n, p. 4]`) out of generated text and drops those that match no source;
- checks every sentence of a draft against the sentences of the source it cites: a verbatim
  sentence of that source is supported as it is; otherwise every number and distinctive name
  of the claim must occur in the source, and then the **claim judge** decides on the claim's
  evidence (the source sentence, or adjacent pair, covering most of its words): a logistic
  model over what subtle errors change (closeness in meaning and words, content words the
  evidence or the whole source lacks, polarity cues, a number of the source that is not in
  this evidence, reversed word order, antonyms), fitted on the dev claims
  (`python -m evals.calibrate_claims`; weights in `Scoring.claim_*`). A claim is kept,
  re-cited to the retrieved source that does support it, or dropped. A claim about a paper the
  question names (its title's own name as the claim's subject) can only be supported by that
  paper: it is never re-cited elsewhere;

  Measured on the hand-written test claims (`rag eval --claims`): the judge catches 0.69 of
  wrong claims and keeps 0.79 of faithful ones at ~7 ms per sentence; the older thresholds
  (`claim_check="rules"`) caught 0.54 and kept 0.78. A MiniLM cross-encoder fine-tuned here on
  perturbations of the abstracts (rag/verifier.py, `RAG_VERIFIER=true`) caught more but kept
  only 0.08 of held-out faithful paraphrases in 2-fold cross-validation on dev: perturbations
  teach it that any rewording is an error. It is off by default;
- builds the final `Citation` list (renumbered 1..m by first use) from the stored records,
  never from model text.
Not here: calling models (engines.py), deciding to refuse (answer.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .evidence import SentenceHit, SentenceIndex, owners
from .settings import Scoring
from .text import (
    OPPOSITE,
    STOPWORDS,
    content_terms,
    fold,
    is_name,
    mentions,
    name_key,
    names,
    numbers,
    sentence_spans,
    stem,
    title_name,
    words,
)
from .types import CheckReport, Citation, Source

MARKER = re.compile(r"\[(\d+(?:\s*[,;–-]\s*\d+)*)(?:\s*,\s*p(?:p)?\.\s*\d+)?\]")


def parse_markers(text: str) -> list[int]:
    """Source numbers cited in `text`, in order, expanding [1, 2] and [1-3]."""
    out: list[int] = []
    for m in MARKER.finditer(text):
        for part in re.split(r"\s*[,;]\s*", m.group(1)):
            if re.search(r"[–-]", part):
                a, b = (int(x) for x in re.split(r"\s*[–-]\s*", part))
                if 0 < b - a < 20:
                    out.extend(range(a, b + 1))
                    continue
            out.extend(int(x) for x in re.findall(r"\d+", part))
    return out


def strip_markers(text: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub("", text)).strip()


def keep_known_markers(text: str, n_sources: int) -> tuple[str, list[int]]:
    """Remove markers that cite no source; return the text and the unknown numbers."""
    unknown: list[int] = []

    def fix(m: re.Match[str]) -> str:
        nums = parse_markers(m.group(0))
        unknown.extend(n for n in nums if not 1 <= n <= n_sources)
        return "".join(f"[{n}]" for n in dict.fromkeys(n for n in nums if 1 <= n <= n_sources))

    return re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub(fix, text)).strip(), unknown


def attach_markers(text: str) -> str:
    """"Claim. [1] Next claim." -> "Claim [1]. Next claim.": a marker belongs to what precedes it."""
    return re.sub(
        r"([.!?][\"'”’)\]]*)\s*((?:\[\d+\]\s*)+)", lambda m: " " + m.group(2).strip() + m.group(1) + " ", text
    ).strip()


@dataclass
class Segment:
    """An answer sentence and the evidence it rests on: (source index, section, start, end) spans."""

    text: str
    evidence: list[tuple[int, str, int, int]] = field(default_factory=list)
    priority: int = 0  # lower = stronger; a citation quotes its strongest segment's evidence
    note: bool = False  # a line built by the code from stored records (no claim about a paper's content): no marker


def source_text(source: Source) -> str:
    """All a source says: title, abstract and any retrieved body passages."""
    return f"{source.paper.title}\n{source.paper.abstract}\n" + "\n".join(c.text for c in source.chunks if c.page)


def consistent(claim: str, source: Source) -> tuple[bool, str]:
    """Every number and distinctive name of the claim occurs in the source."""
    src = source_text(source)
    missing_nums = numbers(claim) - numbers(src)
    if missing_nums:
        return False, f"number(s) {', '.join(sorted(missing_nums))} not in the source"
    missing_names = [n for n in names(claim) if not mentions(src, n)]
    if missing_names:
        return False, f"name(s) {', '.join(sorted(missing_names))} not in the source"
    return True, ""


# Polarity cues, each a kind: a claim and its evidence must carry the same kinds.
_CUES = {"not": r"\b(not|no|never|cannot|neither|nor)\b|n't\b", "without": r"\bwithout\b|\bfree of\b|\babsence of\b",
         "rather": r"\brather than\b|\binstead of\b|\bunlike\b", "fail": r"\bfail(s|ed)? to\b|\black(s|ed)?\b",
         "only": r"\bonly\b|\bsolely\b|\bpurely\b"}
_CUE_RES = {k: re.compile(v, re.I) for k, v in _CUES.items()}
_NEGATION = re.compile(_CUES["not"] + r"|\bwithout\b", re.I)  # the rules' single negation cue


def supports(hit: SentenceHit | None, claim: str, sc: Scoring) -> bool:
    if hit is None:
        return False
    if _norm(claim) == _norm(hit.text):
        return True  # a verbatim quote of the source
    if bool(_NEGATION.search(claim)) != bool(_NEGATION.search(hit.text)):
        return False  # "X does not reduce ..." is not supported by "X reduces ..."
    return any(hit.cos >= cos and hit.lex >= lex for cos, lex in (sc.support_close, sc.support_loose, sc.support_copy))


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


# ---- the claim judge: a logistic model over what a subtle error changes ---------------------------
CLAIM_FEATURES = ("cos", "lex", "uncovered", "novel", "polarity", "moved_number", "order", "antonym")


def _terms_in_order(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


def claim_features(claim: str, evidence: list[SentenceHit], source_text: str, own: frozenset[str] = frozenset(),
                   window: int = 4) -> np.ndarray:
    """What a subtle error changes, for a claim against its evidence (one sentence or two
    adjacent ones of the cited source):
    - cos, lex: closeness in meaning and in words (the best sentence's);
    - uncovered: share of the claim's content words the evidence lacks (an addition, a condition
      or entity taken from elsewhere);
    - novel: share of them the whole source lacks (a substituted entity, an invented detail);
    - polarity: the claim and the evidence differ in negation, "without", "rather than",
      "fails to" or "only" cues;
    - moved_number: a number of the claim is in the source but not in this evidence (a number
      attached to another subject or condition);
    - order: share of the shared content words' pairs, at most `window` content words apart in
      the evidence, whose order the claim reverses (swapped roles: "X over Y" -> "Y over X";
      a clause moved as a whole keeps its words' local order);
    - antonym: the claim uses a word whose opposite the evidence uses instead.
    `own` are the terms of the paper's own name ("Tree-Planner"): every sentence of the paper is
    about it, so a claim naming it is not adding anything ("it reduces" -> "Tree-Planner reduces")."""
    ev = " ".join(h.text for h in evidence)
    c_terms, e_terms, s_terms = content_terms(claim) - own, content_terms(ev), content_terms(source_text)
    n = max(1, len(c_terms))
    uncovered = len(c_terms - e_terms) / n
    novel = len(c_terms - s_terms) / n
    polarity = float(any(bool(r.search(claim)) != bool(r.search(ev)) for r in _CUE_RES.values()))
    moved = float(bool((numbers(claim) & numbers(source_text)) - numbers(ev)))
    e_pos: dict[str, int] = {}
    for i, t in enumerate(_terms_in_order(ev)):
        e_pos.setdefault(t, i)
    c_seq = [t for t in dict.fromkeys(_terms_in_order(claim)) if t in e_pos]
    pairs = [(a, b) for i, a in enumerate(c_seq) for b in c_seq[i + 1:] if abs(e_pos[a] - e_pos[b]) <= window]
    order = sum(1 for a, b in pairs if e_pos[a] > e_pos[b]) / len(pairs) if pairs else 0.0
    c_words, e_words = set(words(claim)), set(words(ev))
    antonym = float(any(w not in e_words and OPPOSITE[w] in e_words for w in c_words if w in OPPOSITE))
    return np.array([max(h.cos for h in evidence), max(h.lex for h in evidence), uncovered, novel, polarity, moved,
                     order, antonym], dtype=np.float64)


def evidence_candidates(hits: list[SentenceHit], k: int) -> list[list[SentenceHit]]:
    """The evidence a claim may rest on: the `k` sentences closest to it, and the closest one
    with each neighbour (claims often merge two sentences)."""
    if not hits:
        return []
    top = hits[0]
    order = sorted(hits, key=lambda h: (h.section, h.start))
    out: list[list[SentenceHit]] = [[h] for h in hits[:k]]
    at = order.index(top)
    for j in (at - 1, at + 1):
        if 0 <= j < len(order) and order[j].section == top.section:
            out.append(sorted([top, order[j]], key=lambda h: h.start))
    return out


def best_evidence(claim: str, candidates: list[list[SentenceHit]]) -> list[SentenceHit]:
    """The candidate that covers most of the claim's content words (then the closest)."""
    terms = content_terms(claim)
    return max(candidates, key=lambda c: (len(terms & content_terms(" ".join(h.text for h in c))) / max(1, len(terms)) - 0.01 * (len(c) - 1),
                                          max(h.cos for h in c)))


def unnamed(claim: str, sources: list[Source]) -> str:
    """The claim with the names the sources' titles give their methods replaced by "it", for
    embedding: every sentence of a paper is about its method, often without naming it, so
    "Tree-Planner reduces X" should sit next to "As a result, X is reduced" (cosine 0.58 with
    the name, 0.92 without), not next to any sentence that names Tree-Planner."""
    out = claim
    for s in sources:
        n = title_name(s.paper.title)
        if n and len(n) >= 3:
            out = re.sub(rf"(?<![\w-]){re.escape(n)}(?![\w-])", "it", out, flags=re.I)
    return out


def own_terms(source: Source) -> frozenset[str]:
    """The terms of the name the paper's title gives its method (empty when it has none)."""
    return content_terms(title_name(source.paper.title) or "")


def claim_probability(x: np.ndarray, sc: Scoring) -> float:
    """P(supported) from the judge's weights in `Scoring` (fitted on the dev claims by
    `python -m evals.calibrate_claims`)."""
    w = np.array([getattr(sc, f"claim_{f}") for f in CLAIM_FEATURES])
    return float(1.0 / (1.0 + np.exp(-(sc.claim_bias + float(w @ x)))))


def check_answer(
    text: str, sources: list[Source], index: SentenceIndex, embed: object, sc: Scoring, verifier: Any = None
) -> tuple[list[Segment], CheckReport, list[str]]:
    """Check each sentence of a draft against the sources it cites.

    `embed` turns a list of claims into vectors (the embedder's `encode`); `verifier` (the
    cross-encoder of rag/verifier.py, or None for the claim judge) judges claim and evidence."""
    text, unknown = keep_known_markers(" ".join(text.split()), len(sources))
    text = attach_markers(text)
    notes = [f"removed marker [{n}]: no such source" for n in dict.fromkeys(unknown)]
    report = CheckReport(method="verifier" if verifier is not None else "judge")
    segments: list[Segment] = []
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    claims = [strip_markers(s) for s in sentences]
    todo = [c for c in claims if c and len(c.split()) >= 3 and re.search(r"[A-Za-z]", c)]
    vecs = iter(embed([unnamed(c, sources) for c in todo]) if todo else np.zeros((0, 1)))  # type: ignore[operator]
    seen: set[str] = set()
    for sent, claim in zip(sentences, claims):
        if claim not in todo:
            continue  # fragments such as "Answer:" are not claims
        vec = next(vecs)
        key = _norm(claim)
        if key in seen:  # small models repeat themselves; a repeat is not a new claim
            continue
        seen.add(key)
        report.sentences += 1
        cited = [n - 1 for n in dict.fromkeys(parse_markers(sent))]
        if not cited:
            report.unmarked += 1
        by_source: dict[int, list[SentenceHit]] = {}
        for h in index.score(vec, claim, sources):
            by_source.setdefault(h.source, []).append(h)
        allowed = owners(claim, sources) or list(range(len(sources)))

        def judged(i: int, claim: str = claim, by_source: dict[int, list[SentenceHit]] = by_source) -> list[tuple[int, str, int, int]] | None:
            return _support(claim, i, by_source.get(i, []), sources, sc, verifier)

        ok = {i: ev for i in cited if i in allowed and (ev := judged(i))}
        if ok:
            report.kept += 1
            segments.append(Segment(claim, [span for ev in ok.values() for span in ev]))
            continue
        # Re-citing reads only sources whose best sentence is already close by similarity and overlap.
        others = sorted((i for i in allowed if i not in cited and by_source.get(i) and supports(by_source[i][0], claim, sc)),
                        key=lambda j: by_source[j][0].score, reverse=True)
        found = next(((i, ev) for i in others if (ev := judged(i))), None)
        if found is not None:
            report.recited += 1
            segments.append(Segment(claim, found[1]))
            if cited:
                notes.append(f"re-cited {claim[:60]!r} from [{cited[0] + 1}] to [{found[0] + 1}]")
            continue
        report.dropped += 1
        why = (consistent(claim, sources[cited[0]])[1] or "no supporting sentence in the cited source") if cited \
            else "no retrieved source supports it"
        notes.append(f"dropped {claim[:60]!r}: {why}")
    return segments, report, notes


def _support(claim: str, i: int, hits: list[SentenceHit], sources: list[Source], sc: Scoring,
             verifier: Any) -> list[tuple[int, str, int, int]] | None:
    """The evidence spans in source `i` that support `claim`, or None. Evidence is one sentence
    or two adjacent ones; numbers and names must occur in the source, and then the claim judge
    (or the verifier, when one is given; or the older thresholds with `claim_check="rules"`) decides."""
    settled, candidates = claim_evidence(claim, hits, sources[i], sc)
    if settled is not None:
        return [_span(candidates[0][0])] if settled else None
    if verifier is None and sc.claim_check == "rules":
        return [_span(hits[0])] if supports(hits[0], claim, sc) else None
    if verifier is None:
        ev, refuted = judged_evidence(claim, candidates)
        if refuted:
            return None
        return [_span(h) for h in ev] if claim_probability(judge_features(claim, ev, sources[i], sc), sc) >= sc.claim_threshold else None
    probs = verifier.score([(claim, " ".join(h.text for h in c)) for c in candidates])
    best = int(np.argmax(probs))
    return [_span(h) for h in candidates[best]] if probs[best] >= sc.verifier_threshold else None


_CONTRASTS = [re.compile(p, re.I) for p in (r"\brather than\b", r"\binstead of\b", r"\bunlike\b", r"\bversus\b|\bvs\.?",
                                            r"\bthan\b", r"\bover\b")]
_FROM_TO = re.compile(r"\bfrom\b(.{1,60}?)\bto\b(.{1,60}?)(?=[,.;]|\band\b|$)", re.I)


def _contrast_sides(text: str) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """For each contrast the text makes ("A rather than B", "A over B", "from A to B"): the content
    words of its clause before and after the cue."""
    out = {}
    for cue in _CONTRASTS:
        m = cue.search(text)
        if m:
            out[cue.pattern] = (content_terms(re.split(r"[,;:()]", text[: m.start()].rstrip(" ,;:"))[-1]),
                                content_terms(re.split(r"[,;:()]", text[m.end():].lstrip(" ,;:"))[0]))
    m = _FROM_TO.search(text)
    if m:
        out["from-to"] = (content_terms(m.group(1)), content_terms(m.group(2)))
    return out


def swapped_sides(claim: str, evidence: str) -> bool:
    """The claim makes the evidence's contrast with its sides swapped: "it addresses model inaccuracy
    rather than the edge-of-reach problem" on "it addresses the edge-of-reach problem, rather than
    model inaccuracy"; "from generalization to memorization" on "from memorization to generalization".
    Words that cross sides must outnumber half of those that stay, so a reworded side is not a swap."""
    ev = _contrast_sides(evidence)
    for cue, (lc, rc) in _contrast_sides(claim).items():
        if cue not in ev:
            continue
        le, re_ = ev[cue]
        to_right, to_left = (lc & re_) - le - rc, (rc & le) - re_ - lc
        stay = ((lc & le) - re_ - rc) | ((rc & re_) - le - lc)
        if to_right and to_left and 2 * (len(to_right) + len(to_left)) >= len(stay):
            return True
    return False


def _anchored_numbers(text: str, before: int = 8) -> dict[str, str]:
    """Each figure of the text and the name it belongs to: the nearest name before it in its
    clause ("Qwen2.5-32B-Instruct scores 59.1%" -> {"59.1%": "qwen2532binstruct"})."""
    toks = fold(text).split()
    out: dict[str, str] = {}
    for i, w in enumerate(toks):
        if any(c.isalpha() for c in w.replace("%", "").rstrip(".,;:)")):
            continue  # a digit inside a name ("Qwen2.5-32B") is not a figure
        for num in numbers(w):
            for j in range(i - 1, max(-1, i - 1 - before), -1):
                prev = toks[j]
                if j < i - 1 and prev.endswith((",", ";", ":")):
                    break  # another clause
                cand = prev.strip(",;:()'\"").removesuffix("'s")
                if is_name(cand):
                    out.setdefault(num, name_key(cand))
                    break
    return out


def moved_number(claim: str, evidence: str) -> bool:
    """A figure of the evidence given to another of its names: "X reaches 50.1%" on "Y reaches
    50.1% while X reaches 45.2%". Only when both names are in the evidence, each next to a figure."""
    c, e = _anchored_numbers(claim), _anchored_numbers(evidence)
    owners = set(e.values())
    return any(n in e and e[n] != k and k in owners for n, k in c.items())


def judged_evidence(claim: str, candidates: list[list[SentenceHit]]) -> tuple[list[SentenceHit], bool]:
    """The evidence the claim judge reads, and whether a rule already refutes the claim on it
    (its sides of a contrast swapped, a figure moved to another name). The check and
    `evals.calibrate_claims` both take this step."""
    ev = best_evidence(claim, candidates)
    text = " ".join(h.text for h in ev)
    return ev, swapped_sides(claim, text) or moved_number(claim, text)


def claim_evidence(claim: str, hits: list[SentenceHit], source: Source, sc: Scoring) -> tuple[bool | None, list[list[SentenceHit]]]:
    """What the check settles before judging, and the evidence it would judge on: (True: a
    verbatim quote of the first hit; False: no sentence, or a number or name the source lacks;
    None: to be judged) and the evidence candidates. The claim judge is fitted on exactly this
    (evals/calibrate_claims.py)."""
    if not hits:
        return False, []
    if _norm(claim) == _norm(hits[0].text):
        return True, [[hits[0]]]
    if not consistent(claim, source)[0]:
        return False, []
    return None, evidence_candidates(hits, sc.verifier_candidates)


def judge_features(claim: str, evidence: list[SentenceHit], source: Source, sc: Scoring) -> np.ndarray:
    """The claim judge's inputs for a claim on this evidence of `source`."""
    return claim_features(claim, evidence, source_text(source), own_terms(source), sc.claim_order_window)


def _span(h: SentenceHit) -> tuple[int, str, int, int]:
    return (h.source, h.section, h.start, h.end)


def build_citations(segments: list[Segment], sources: list[Source]) -> tuple[str, list[Citation]]:
    """Answer text with markers renumbered 1..m by first use, and the citation list."""
    number: dict[int, int] = {}
    spans: dict[int, list[tuple[str, int, int]]] = {}
    quote: dict[int, tuple[int, str, int, int]] = {}  # source -> (priority, section, start, end)
    parts = []
    for seg in segments:
        for i, sec, a, b in seg.evidence:
            if i not in quote or seg.priority < quote[i][0]:
                quote[i] = (seg.priority, sec, a, b)
        marks: list[str] = []
        for i, sec, a, b in seg.evidence:
            if i not in number:
                number[i] = len(number) + 1
                spans[i] = []
            if (sec, a, b) not in spans[i]:
                spans[i].append((sec, a, b))
            page = _page(sources[i], sec)
            mark = f"[{number[i]}, p. {page}]" if page else f"[{number[i]}]"
            if mark not in marks:
                marks.append(mark)
        if seg.note:
            parts.append(seg.text)
        else:
            parts.append(seg.text.rstrip() + " " + "".join(marks))
    citations = []
    for i, n in sorted(number.items(), key=lambda t: t[1]):
        p = sources[i].paper
        _, sec, qa, qb = quote[i]
        page = _page(sources[i], sec)
        body = p.abstract if not page else next(c.text for c in sources[i].chunks if c.chunk_id == sec)
        citations.append(Citation(
            n=n, paper_id=p.id, title=p.title, quote=body[qa:qb], abstract=p.abstract,
            spans=sorted((a, b) for s, a, b in spans[i] if s == sec), page=page or None,
            passage=body if page else None, authors=p.authors, year=p.year, url=p.url, source=p.source,
        ))
    return " ".join(parts), citations


def _page(source: Source, section: str) -> int:
    if section == "abstract":
        return 0
    return next((c.page or 0 for c in source.chunks if c.chunk_id == section), 0)
