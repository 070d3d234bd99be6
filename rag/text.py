"""Small text utilities: sentence spans, content terms, numbers and names.

Pure functions over strings, shared by retrieval, the extractive engine and the
citation check. Not a general NLP library: tuned for English paper abstracts.
"""

from __future__ import annotations

import re

# Abbreviations that end with a period but do not end a sentence.
_ABBREV = {
    "e.g", "i.e", "et al", "al", "etc", "vs", "fig", "figs", "eq", "eqs", "sec", "no",
    "approx", "resp", "cf", "dr", "mr", "ms", "prof", "inc", "ca", "ref", "refs", "tab",
}
_BOUNDARY = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-\.]*[A-Za-z0-9%]|[A-Za-z0-9]%?")
_NUMBER = re.compile(r"(?<![A-Za-z0-9.^_])(\d+(?:[.,]\d+)*)(\s?%|x|×)?")

STOPWORDS = frozenset(
    """a about above across after again against all almost also am an and any are as at be
    because been before being between both but by can could did do does doing done down during
    each either else even ever every few for from further had has have having he her here hers
    him his how however i if in into is it its itself just least less let like made make many
    may me might more most much must my neither no nor not now of off often on once one only or
    other our out over own per perhaps rather same shall she should since so some such than that
    the their them then there these they this those though through thus to too under until up
    upon us use used uses using very via was we were what when where whether which while who whom
    whose why will with within without would yet you your paper papers study work approach
    method methods propose proposed present introduce show shows shown result results based new
    novel model models large language llm llms tell say says said describe described explain
    does compare compared according give given find found report reported mention mentioned""".split()
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, whitespace trimmed."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.start() + 1
        # Keep closing quotes/brackets with the sentence they end.
        while end < len(text) and text[end] in "\"'”’)]":
            end += 1
        before = text[start:end].rstrip(".!?\"'”’)]").split()
        last = before[-1].lower().rstrip(".") if before else ""
        if last in _ABBREV or (len(last) == 1 and last.isalpha()):
            continue
        spans.append(_trim(text, start, end))
        start = m.end()
    if start < len(text) and text[start:].strip():
        spans.append(_trim(text, start, len(text)))
    return [s for s in spans if s[1] > s[0]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def words(text: str) -> list[str]:
    """Lower-cased word tokens (keeps hyphenated names, decimals and percentages)."""
    return [w.lower() for w in _WORD.findall(text)]


def _stem(w: str) -> str:
    for suf in ("ations", "ation", "ings", "ing", "ies", "es", "s", "ed", "ly"):
        if w.endswith(suf) and len(w) - len(suf) >= 4:
            return w[: -len(suf)] + ("y" if suf == "ies" else "")
    return w


def content_terms(text: str) -> set[str]:
    """Stemmed words that carry meaning (no stopwords, no 1-letter tokens)."""
    out: set[str] = set()
    for w in words(text):
        if w in STOPWORDS or len(w) < 2:
            continue
        out.add(_stem(w))
        if "-" in w:  # "close-loop" also matches "close loop"
            out.update(_stem(p) for p in w.split("-") if len(p) > 1 and p not in STOPWORDS)
    return out


def numbers(text: str) -> set[str]:
    """Numbers in `text`, normalised ("92.2 %" -> "92.2%", "1,000" -> "1000")."""
    out = set()
    for m in _NUMBER.finditer(text):
        num = m.group(1).replace(",", "")
        if num.endswith("."):
            num = num[:-1]
        unit = (m.group(2) or "").strip()
        out.add(num + ("%" if unit == "%" else ""))
    return out


_NAME = re.compile(r"\b(?:[A-Za-z]*[A-Z][A-Za-z]*[A-Z0-9][A-Za-z0-9]*|[A-Z][a-z]+-[A-Za-z0-9-]+|[A-Za-z]+-?\d[\w.-]*)\b")


def names(text: str) -> set[str]:
    """Distinctive names: acronyms and CamelCase or digit-bearing tokens (GPT-4, SATCOMP, DeepSeek-R1)."""
    out = set()
    for m in _NAME.finditer(text):
        tok = m.group(0).strip(".-")
        if len(tok) >= 2 and not tok.isdigit():
            out.add(tok)
    return out


_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|rules|prompts?|above|context)\b"
    r"|\bsystem prompt\b|\byou are now\b"
    r"|(^|\b(and|then|now|just|please)\b|[,;:]\s*)\s*(respond|reply|answer|say|print|output|write)\b.{0,20}\b(only|exactly|verbatim)\b"
    r"|\bprint (your|the) (prompt|instructions)\b|\bas an ai\b|\bjailbreak\b",
    re.I,
)


def looks_like_instruction(sentence: str) -> bool:
    """A sentence addressed to an assistant rather than stating a finding (prompt injection)."""
    return bool(_INSTRUCTION.search(sentence))


def strip_instructions(question: str) -> str:
    """The question without its sentences that address the assistant ("ignore ... and say X")."""
    question = re.sub(r"</?\s*[A-Za-z][^>]{0,40}>", " . ", question)  # stray markup such as </source>
    question = re.sub(r"([?!])\s+", r"\1\n", question)
    parts = [p.strip(" .") for line in question.split("\n") for a, b in sentence_spans(line) for p in [line[a:b]]]
    parts = [p for p in parts if p]
    kept = [p for p in parts if not looks_like_instruction(p)]
    return " ".join(kept).strip()


def question_names(question: str) -> set[str]:
    """What a question names: acronyms, CamelCase and digit-bearing tokens, and capitalised
    words after the first ("What does Coconut do?" -> {"Coconut"})."""
    out = set(names(question))
    for w in re.findall(r"[A-Za-z][\w*^-]*", question)[1:]:
        if w[0].isupper() and w.lower() not in STOPWORDS and len(w) > 2:
            out.add(w.rstrip("*"))
    return out
