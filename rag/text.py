"""Small text utilities: folding, sentence spans, content terms, numbers, names and
question types.

Pure functions over strings, shared by ingest, retrieval, the extractive engine and
the citation check. Not a general NLP library: tuned for English paper abstracts.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

# ---- folding ---------------------------------------------------------------------
_LATEX_ACCENT = re.compile(r"\\[\"'`^~=.uvHckr]\s*\{?([A-Za-z])\}?")
_LATEX_ESCAPE = re.compile(r"\\([%&$#_])")
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"), "-")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def fold(text: str) -> str:
    """Text with one spelling per character: NFKC (full-width -> ASCII), LaTeX accents
    and escapes resolved (T\\"ULU -> TULU), diacritics removed (Ü -> U), every dash a
    hyphen. Length may change; use it for matching, never for offsets into the original."""
    text = _LATEX_ESCAPE.sub(r"\1", _LATEX_ACCENT.sub(r"\1", text))
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.translate(_DASHES)


def clean_text(text: str) -> str:
    """Drop control characters (ANSI escapes, NUL, bidi overrides) and lone surrogates;
    fold whitespace. For anything printed to a terminal or taken from a user."""
    text = text.encode("utf-8", "ignore").decode("utf-8") if _has_surrogate(text) else text
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # ANSI colour/cursor codes, whole
    return " ".join(_CONTROL.sub(" ", text).split())


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# ---- sentences ---------------------------------------------------------------------
# Abbreviations that end with a period but do not end a sentence.
_ABBREV = {
    "e.g", "i.e", "et al", "al", "etc", "vs", "fig", "figs", "eq", "eqs", "sec", "no",
    "approx", "resp", "cf", "dr", "mr", "ms", "prof", "inc", "ca", "ref", "refs", "tab",
}
_BOUNDARY = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
# Markup inside a paper ("</source> <source n=1>") is a boundary that no sentence crosses.
MARKUP = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9_-]*(?:\s[^<>]{0,200})?>")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, whitespace trimmed; markup tags split
    sentences and belong to none."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in MARKUP.finditer(text):
        spans.extend(_spans_between(text, pos, m.start()))
        pos = m.end()
    spans.extend(_spans_between(text, pos, len(text)))
    return spans


def _spans_between(text: str, lo: int, hi: int) -> list[tuple[int, int]]:
    part = text[lo:hi]
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(part):
        end = m.start() + 1
        while end < len(part) and part[end] in "\"'”’)]":  # closing quotes stay with their sentence
            end += 1
        before = part[start:end].rstrip(".!?\"'”’)]").split()
        last = before[-1].lower().rstrip(".") if before else ""
        if last in _ABBREV or (len(last) == 1 and last.isalpha()):
            continue
        spans.append(_trim(part, start, end))
        start = m.end()
    if start < len(part) and part[start:].strip():
        spans.append(_trim(part, start, len(part)))
    return [(a + lo, b + lo) for a, b in spans if b > a]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


# ---- words, terms, numbers -----------------------------------------------------------
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-\.]*[A-Za-z0-9%]|[A-Za-z0-9]%?")
_NUMBER = re.compile(r"(?<![A-Za-z0-9.^_@])(\d+(?:[.,]\d+)*)(\s?%|x|×)?")

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


def words(text: str) -> list[str]:
    """Lower-cased word tokens of the folded text (keeps hyphenated names, decimals, percentages)."""
    return [w.lower() for w in _WORD.findall(fold(text))]


_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=131072)
def stem(w: str) -> str:
    """The Snowball (Porter2) stem of a lower-case word: reduce, reduced, reduces -> reduc
    (and a plain plural s off acronyms: gpus -> gpu)."""
    if not w.isalpha():
        return w
    out = str(_STEMMER.stemWord(w))
    return out[:-1] if out == w and len(w) > 3 and w.endswith("s") and not w.endswith("ss") else out


@lru_cache(maxsize=65536)
def content_terms(text: str) -> frozenset[str]:
    """Stemmed words that carry meaning (no stopwords, no 1-letter tokens)."""
    out: set[str] = set()
    for w in words(text):
        if w in STOPWORDS or len(w) < 2:
            continue
        out.add(stem(w))
        if "-" in w:  # "close-loop" also matches "close loop"
            out.update(stem(p) for p in w.split("-") if len(p) > 1 and p not in STOPWORDS)
    return frozenset(out)


# Word pairs of opposite direction or polarity ("increases" / "decreases"): a claim that uses
# one where its evidence uses the other says the reverse.
ANTONYMS = [
    ("increase", "decrease"), ("increases", "decreases"), ("increased", "decreased"), ("improves", "degrades"),
    ("improve", "degrade"), ("improved", "degraded"), ("more", "fewer"), ("higher", "lower"), ("better", "worse"),
    ("outperforms", "underperforms"), ("faster", "slower"), ("larger", "smaller"), ("reduces", "increases"),
    ("reduce", "increase"), ("reduced", "increased"), ("removes", "preserves"), ("remove", "retain"),
    ("with", "without"), ("before", "after"), ("above", "below"), ("enables", "prevents"), ("succeeds", "fails"),
    ("always", "never"), ("often", "rarely"), ("strong", "weak"), ("early", "late"), ("earlier", "later"),
    ("first", "last"), ("maximize", "minimize"), ("positive", "negative"), ("significantly", "marginally"),
    ("small", "large"), ("low", "high"), ("short", "long"), ("shorter", "longer"), ("slow", "fast"),
    ("deterministic", "stochastic"), ("online", "offline"), ("easy", "hard"), ("easier", "harder"),
    ("simple", "complex"), ("sparse", "dense"), ("supervised", "unsupervised"), ("weaker", "stronger"),
    ("worst", "best"), ("lowest", "highest"), ("helps", "hurts"), ("minimal", "substantial"),
]
OPPOSITE = {a: b for a, b in ANTONYMS} | {b: a for a, b in ANTONYMS}


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


# ---- names -------------------------------------------------------------------------
_NAME_TOKEN = re.compile(r"(?<![\w.-])[A-Za-z0-9]+(?:[-.][A-Za-z0-9]+)*\*?")
_TOKEN = re.compile(r"[a-z0-9]+")


_SIZE = re.compile(r"\d+(\.\d+)?[A-Za-z]{1,2}")  # a model size: "32B", "1.5B"


def is_name(token: str) -> bool:
    """An acronym, CamelCase, a letter-and-digit token, or a capitalised hyphenated compound
    (SATCOMP, SequenceMatch, GPT-4, Qwen2.5-32B-Instruct, Tree-Planner). All-caps stopwords
    ("AT", "OR") are not names."""
    core = token.strip(".-*")
    if len(core) < 2 or core.replace(".", "").isdigit() or core.lower() in STOPWORDS:
        return False
    if core[0].isdigit():  # "32B", "1.5B", "3D" are names of sizes; "3.1-based" is not a name
        return bool(_SIZE.fullmatch(core))
    inner_upper = any(c.isupper() for c in core[1:])
    letters_and_digits = any(c.isdigit() for c in core) and any(c.isalpha() for c in core)
    return inner_upper or letters_and_digits or ("-" in core and core[0].isupper())


def names(text: str) -> set[str]:
    """The distinctive names in the folded text (see `is_name`)."""
    return {m.group(0).rstrip(".-") for m in _NAME_TOKEN.finditer(fold(text)) if is_name(m.group(0))}


def question_names(question: str) -> set[str]:
    """What a question names: acronyms, CamelCase and digit-bearing tokens, and capitalised
    words after the first ("What does Coconut do?" -> {"Coconut"})."""
    out = names(question)
    for m in list(_NAME_TOKEN.finditer(fold(question)))[1:]:
        w = m.group(0).rstrip(".-*")
        if w[:1].isupper() and w.lower() not in STOPWORDS and len(w) > 2:
            out.add(w)
    return out


def name_key(name: str) -> str:
    """How names are compared: folded, lower case, without hyphens, spaces or a plural s
    ("Tree-Planner", "tree planner" and "TreePlanner" all give "treeplanner")."""
    key = "".join(_TOKEN.findall(fold(name).lower()))
    return key[:-1] if len(key) > 3 and key.endswith("s") and not key.endswith("ss") else key


@lru_cache(maxsize=8192)
def name_keys_in(text: str, max_parts: int = 4) -> frozenset[str]:
    """Every key a whole-word name could have in `text`: runs of up to `max_parts`
    consecutive word tokens, joined. A name occurs in a text when its key is here."""
    toks = _TOKEN.findall(fold(text).lower())
    out: set[str] = set()
    for i in range(len(toks)):
        key = ""
        for j in range(i, min(i + max_parts, len(toks))):
            key += toks[j]
            out.add(key[:-1] if len(key) > 3 and key.endswith("s") and not key.endswith("ss") else key)
    return frozenset(out)


def mentions(text: str, name: str) -> bool:
    """`name` occurs in `text` as whole words, ignoring case, accents, hyphens and a plural s."""
    key = name_key(name)
    return bool(key) and key in name_keys_in(text)


def title_name(title: str) -> str | None:
    """The short name a title gives its method ("Tree-Planner: Efficient ..." -> "Tree-Planner"),
    or None when the title has no such head."""
    head = title.split(":")[0].strip()
    if ":" in title and 0 < len(head) <= 40 and len(head.split()) <= 4:
        return head
    return None


# ---- instructions (prompt injection) ---------------------------------------------------
_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|rules|prompts?|above|context|sources?)\b"
    r"|\bsystem prompt\b|\byou are now\b"
    r"|\b(note|message|instructions?)\s+(to|for)\s+(the\s+)?(assistant|model|ai|llm|reader|chatbot|system)\b"
    r"|\b(assistants?|language models?|llms?|chatbots?|ai)\s*(must|should|shall|will)\s+(say|answer|reply|respond|cite|state|report|write)\b"
    r"|(^|\b(and|then|now|just|please|always)\b|[,;:]\s*)\s*(respond|reply|answer|say|print|output|write|state|report)\b"
    r".{0,40}\b(only|exactly|verbatim|instead|that)\b"
    r"|\bcite\b.{0,60}\bas\b.{0,30}\bsource\b"
    r"|\bprint (your|the) (prompt|instructions)\b|\bas an ai\b|\bjailbreak\b",
    re.I,
)


def looks_like_instruction(sentence: str) -> bool:
    """A sentence addressed to an assistant rather than stating a finding (prompt injection),
    or one that carries markup such as a source tag."""
    return bool(_INSTRUCTION.search(fold(sentence)) or MARKUP.search(sentence) or "</" in sentence)


def strip_instructions(question: str) -> str:
    """The question without its sentences that address the assistant ("ignore ... and say X")."""
    question = MARKUP.sub(" . ", question)  # stray markup such as </source>
    question = re.sub(r"([?!])\s+", r"\1\n", question)
    parts = [p.strip(" .") for line in question.split("\n") for p in sentences(line)]
    kept = [p for p in parts if p and not looks_like_instruction(p)]
    return " ".join(kept).strip()


# ---- question types ---------------------------------------------------------------------
_QUANTITY = re.compile(
    r"\b(how (much|many|fast|large|long|big|often)|by how|what (percentage|percent|fraction|proportion|accuracy|"
    r"score|speed-?up|improvement|rate|number))", re.I
)
NUMBER_WORDS = re.compile(
    r"\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|fifty|hundreds?|thousands?|millions?|dozens?)\b",
    re.I,
)
_DEFINE = re.compile(
    r"^\s*(what|who)\s+(is|are|was|were)\b|^\s*what does\b.*\bdo\b|^\s*how does\b.*\bwork\b|^\s*(describe|explain)\b",
    re.I,
)
NAMING = re.compile(
    r"\b((we|and)( (next|also|further|then|first|here|therefore|thus|now))? (propose|introduce|present|develop|call|dub|name|"
    r"term|design)|called|named|dubbed|termed|"
    r"which we (call|name|term|dub))\b", re.I
)
CONTEXT = re.compile(
    r"^(recent(ly)?|however|despite|while|although|in recent years|traditionally|existing|current|prior|previous|"
    r"a (fundamental|central|key|long-standing|major) (question|problem|challenge))\b"
    r"|\b(remains? (an? )?(open|challenge|unclear|elusive)|is widely believed|have attracted|has attracted|"
    r"has gained|have shown promise|is (a )?(crucial|fundamental|challenging|important))\b",
    re.I,
)
FINDING = re.compile(
    r"\b(we (show|find|found|demonstrate|prove|observe|reveal|establish|identify|derive)|our (results|findings|analysis|"
    r"experiments) (show|suggest|reveal|demonstrate|indicate)|results (show|demonstrate|indicate)|this (shows|suggests|reveals))\b",
    re.I,
)
RESULT = re.compile(
    r"\b(experiments?|empirical(ly)?|evaluations?|benchmarks?) (show|demonstrate|indicate|on)\b|\b(outperforms?|achieves?|"
    r"state-of-the-art|sota)\b", re.I
)
# What a sentence that answers "why" says: a cause, a consequence or a mechanism ("because",
# "leads to", "by regularizing").
REASON = re.compile(
    r"\b(because|due to|since|as a result|results? (in|from)|resulting (in|from)|lead(s|ing)? to|led to|"
    r"caus(e|es|ed|ing)|owing to|so that|thereby|explain(s|ed|ing)?|attribut(e|ed|able) to|stem(s|med|ming)? from|"
    r"aris(e|es|ing)|reasons?|thus|therefore|hence|by \w+ing)\b", re.I
)
# What a sentence that answers "how does X do Y" says: the means ("by ...", "via", "using", "based
# on", "learns", "combines"). A tagline or a problem statement ("X remains a challenge") gives none.
MEANS = re.compile(
    r"\b(because|due to|by|via|through|using|uses?|used|rel(y|ies) on|based on|leverag\w+|employ\w*|exploit\w*|with|"
    r"allow\w*|enabl\w*|learns?|trains?|combin\w+|replac\w+|introduc\w+|propos\w+|"
    r"(develop|design|construct|adopt)(s|ed)?|devis(es|ed)|builds?|built|incorporat(es|ed)|appl(y|ies|ied))\b", re.I
)
_NOT_MECHANISM = re.compile(r"^how (well|good|effective(ly)?|accurate(ly)?|often|far|fast|long|large|big|much|many)\b")
INTRO = re.compile(
    r"\b(we (propose|introduce|present|develop|call|dub|name|term)|called|named|dubbed|termed|is an?|are)\b", re.I
)
_MULTI = re.compile(
    r"\b(which|what|list|name)\b\s+(\w+\s+){0,3}(papers|works|studies|articles)\b"
    r"|\b(which|list|name)\b\s+(\w+\s+){0,2}(methods|approaches|benchmarks|frameworks)\b\s+(\w+\s+){0,3}(are|were|have|do|use|study|propose)\b",
    re.I,
)
_LIST_OPENING = re.compile(r"(which|what|list|name)\s+(\w+\s+){0,3}(papers|works|studies|articles)\b", re.I)
_COMPARE = re.compile(
    r"\b(compare|compares|comparison|versus|vs\.?|differ|differs|difference between|contrast)\b"
    r"|\bhow does .{2,80}\b(relate to|stack up against)\b",
    re.I,
)
_COMPARED_TO = re.compile(r"\bcompared (to|with)\b", re.I)
BOILERPLATE = re.compile(
    r"https?://|github\.com|\bcode (and [\w ]+ )?(is|are) (publicly |now )?(available|released)|\bproject page\b", re.I
)
ANAPHOR = re.compile(r"^(This|These|It|Such|They|Its|Their)\b")


def asks_quantity(question: str) -> bool:
    """'How much', 'how many', 'what accuracy', or a number in the question."""
    return bool(_QUANTITY.search(question))


def asks_definition(question: str) -> bool:
    """'What is X', 'what does X do', 'how does X work', 'describe X'."""
    return bool(_DEFINE.search(question))


def asks_mechanism(question: str) -> bool:
    """'How does X do Y?': a means is asked for ('how well', 'how often' ask for a result)."""
    return analyze_question(question).kind == "how" and not _NOT_MECHANISM.match(fold(question).strip().lower())


def asks_comparison(question: str) -> bool:
    """An explicit comparison ('compare', 'versus', 'differ'); 'compared to' inside a
    single-paper question ('reduced by 92% compared to the best model') is not one."""
    if _LIST_OPENING.match(fold(question).strip()):
        return False  # "Which papers analyse reward functions, or how to compare them?" lists papers
    return bool(_COMPARE.search(_COMPARED_TO.sub(" ", question)))


def asks_multiple(question: str) -> bool:
    """'Which papers ...', 'list the methods that ...', or a comparison: the answer spans papers."""
    return bool(_MULTI.search(question)) or asks_comparison(question)


# ---- what a question asks for -------------------------------------------------------------
_STOP_AT = frozenset(
    """do does did is are was were has have had can could would will should shall may might lets let allows allow
    makes make gives give provides provide keeps keep uses use used places place trains train reach reaches reached
    achieve achieves achieved obtain obtains obtained show shows find finds propose proposes proposed help helps
    improve improves and or of on in for to from with by at as that than when where while""".split()
)
ENTITIES = frozenset(
    """model benchmark dataset solver baseline library tool environment simulator agent network architecture optimizer
    classifier estimator language llm platform backbone""".split()
)
NAMEABLE = frozenset(
    """method approach framework model system scheme algorithm benchmark dataset technique recipe work paper
    architecture classifier solver metric tool procedure paradigm library agent environment simulator baseline
    family loss objective strategy optimizer estimator network llm platform backbone""".split()
)
_MODIFIERS = frozenset(
    """single existing new main key specific particular different first best simple general novel same other previous
    original overall final certain large small learned kind type sort exact precise""".split()
)
_QUANTITY_HEADS = frozenset(
    """percentage percent fraction share proportion accuracy score rate number size speedup speed-up improvement
    gain reduction increase factor gap fid bleu auc f1 error loss ratio length count return cost latency throughput
    perplexity auroc""".split()
)


@dataclass(frozen=True)
class Ask:
    """What a question asks for: its `kind` and the stemmed `focus` terms the answer must be about.

    kinds: quantity (a number), name (which method/benchmark/model...), definition, reason (why),
    yesno, comparison, list (which papers), how (a mechanism), other."""

    kind: str
    focus: frozenset[str]
    anchor: frozenset[str] = frozenset()  # the counted thing of "how many X ..." (X's head word)
    entity: bool = False  # "which model / benchmark / solver": a named thing other than the paper's own method
    head: str = ""  # the asked-for noun ("model", "dataset", "technique")


_COMPARATIVE = re.compile(r"(short|fast|slow|small|larg|long|high|low|cheap|quick|great|bigg|better|worse)(er)?")
_AFTER_VERB = frozenset("the a an by in on at for from to with over during into across per its their this these".split())


def _head_words(rest: str, limit: int = 4) -> list[str]:
    out: list[str] = []
    toks = re.findall(r"[A-Za-z0-9][\w^*.-]*", rest)
    for i, w in enumerate(toks):
        lw = w.lower().rstrip(".")
        if lw in _STOP_AT or (out and lw in STOPWORDS and lw.rstrip("s") not in NAMEABLE | ENTITIES):
            break
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if out and len(lw) > 4 and lw.endswith("ed") and "-" not in lw and (nxt.lower() in _AFTER_VERB or nxt[:1].isupper()):
            break  # a verb ends the noun phrase ("field trips collected the ..."); "labeled examples" is one
        if lw not in ("the", "a", "an"):
            out.append(lw)
        if len(out) >= limit:
            break
    return out


def analyze_question(question: str) -> Ask:
    """The kind of answer a question wants and the terms that answer must be about
    ("How many GPUs were used?" -> quantity, {gpu}; "Which base models does X build on?" ->
    name, {base, model}; "What is SequenceMatch?" -> definition, {})."""
    q = " ".join(fold(question).split())
    low = q.lower()
    low = re.sub(r"^(and|so|but|also|then|now|ok|okay)\b[\s,]*", "", low)
    low = re.sub(r"^(according to [^,]{0,120},|in [^,]{0,80},|for [^,]{0,80},|on [^,]{0,80},|up to)\s*", "", low)
    low = re.sub(r"^(on|in|for|from|to|at|with|by|under|over|between)\s+(?=(which|what)\b)", "", low)
    low = re.sub(r"^(when|if|once|after|given|while|whenever|as)\b[^,?]{3,160},\s*(?=(what|which|how|why|who|does|do|is|are)\b)", "",
                 low)  # "When a large model takes over, how much shorter ...?" asks "how much"
    if low.rstrip().endswith("?") and not re.match(
            r"(what|which|how|why|who|whom|whose|when|where|is|are|was|were|does|do|did|can|could|would|will|should|has|"
            r"have|list|name|describe|explain|give|compare|summari[sz]e|tell|state|outline|between|among|according)\b", low):
        # the asked-for phrase inside a statement: "Asking X once lets the solver finish what extra share of problems?"
        m = re.search(r"\b(what|which|how many|how much)\b", low)
        if m:
            low = low[m.start():]
    own = frozenset().union(*(content_terms(n) for n in question_names(q))) if question_names(q) else frozenset()

    def terms_of(words: list[str]) -> frozenset[str]:
        return frozenset(stem(w) for w in words if w not in STOPWORDS and w not in NAMEABLE and len(w) > 1
                         and w.rstrip("s") not in NAMEABLE and w not in _MODIFIERS and not NUMBER_WORDS.fullmatch(w))

    if asks_multiple(q) and not asks_comparison(q):
        return Ask("list", frozenset())
    if asks_comparison(q):
        return Ask("comparison", frozenset())
    m = re.match(r"(?:how many|how much)\s+(.*)", low)
    if m:
        words = _head_words(m.group(1))
        if words and _COMPARATIVE.fullmatch(words[0]):  # "how much shorter do answers become": any figure of the change
            return Ask("quantity", frozenset())
        focus = terms_of(words) if words and words[0] not in ("does", "do", "did", "is", "are", "can") else frozenset()
        if not focus:  # "how much does X reduce token consumption" -> what is reduced
            focus = content_terms(re.sub(r"\b(does|do|did|is|are|was|were|more|less|faster|better)\b", " ", m.group(1))) - own
            return Ask("quantity", focus)
        return Ask("quantity", focus, terms_of(words[-1:]) or focus)
    # "How often does X ...?": a frequency, a duration, a size, so any figure ("how often an arm was played" is a clause)
    if re.match(r"how (often|frequently|long|large|big|fast|far)\s+(does|do|did|is|are|was|were|can|could|will|would|"
                r"should|has|have|had)\b", low):
        return Ask("quantity", frozenset())
    m = re.match(r"(?:by how much|to what extent)\s+(.*)", low)
    if m:
        return Ask("quantity", content_terms(m.group(1)) - own)
    m = re.match(r"(?:what|which)\s+(.*)", low)
    if m:
        rest = m.group(1)
        if re.match(r"(is|are|was|were)\b", rest) or re.match(r"does\b.*\bdo\b", rest):
            m2 = re.match(r"(?:is|are|was|were)\s+the\s+(.*?)\s+(?:of|in|for|that|used|does)\b", rest)
            if m2:
                words = _head_words(m2.group(1))
                kind = "quantity" if any(w in _QUANTITY_HEADS for w in words) else "other"
                return Ask(kind, terms_of(words))
            return Ask("definition", frozenset())
        words = _head_words(rest)
        if not words:
            return Ask("other", frozenset())
        if any(w in _QUANTITY_HEADS for w in words):
            of = re.match(r"(?:\w+[\s-]+){0,3}?(?:share|fraction|proportion|percentage|number|count)\s+of\s+(.*)", rest)
            counted = _head_words(of.group(1))[-1:] if of and _head_words(of.group(1)) else []
            # "what share of competition problems": the number counts the problems
            return Ask("quantity", terms_of(words) | terms_of(counted))
        if any(w.rstrip("s") in NAMEABLE or w in NAMEABLE for w in words):
            head = next(w.rstrip("s") for w in reversed(words) if w.rstrip("s") in NAMEABLE or w in NAMEABLE)
            return Ask("name", terms_of(words), entity=head in ENTITIES, head=head)
        return Ask("other", terms_of(words))
    if re.match(r"why\b", low):
        return Ask("reason", frozenset())
    if re.match(r"(who|whom|whose)\b", low):
        return Ask("name", frozenset())
    if re.match(r"how\b", low):
        return Ask("definition" if asks_definition(q) else "how", frozenset())
    if re.match(r"(is|are|does|do|did|can|could|would|will|should|was|were|has|have)\b", low):
        return Ask("yesno", frozenset())
    return Ask("definition" if asks_definition(q) else "other", frozenset())


_REFERENCE = re.compile(r"\bthe ([\w'^*+.-]+(?: [\w'^*+.-]+){0,3}) (?:paper|study|work|article)\b"
                        r"|\b(?:paper|study|work|article) (?:on|about) (?:the )?([\w'^*+.-]+(?: [\w'^*+.-]+){0,7})", re.I)


def paper_references(question: str) -> list[frozenset[str]]:
    """The content words by which a question refers to a paper: "the edge-of-reach paper",
    "the paper on the sensitivity of inverse reinforcement learning to misspecification"."""
    out = []
    for m in _REFERENCE.finditer(fold(question)):
        terms = content_terms(m.group(1) or m.group(2) or "")
        if terms:
            out.append(terms)
    return out


def refers_to(reference: frozenset[str], title: str) -> bool:
    """Does the title carry (nearly) all the words of the reference? At most one word of four may differ."""
    have = content_terms(title)
    return len(reference & have) >= max(1, len(reference) - len(reference) // 4)


_WH = r"(?:what|which|how|why|who|whom|whose|where|when|does|do|did|is|are|was|were|can|could)"
_PART_BREAK = re.compile(
    rf"(?:,\s*|\s+)(?:and|but|or)\s+(?:(?:from|on|in|over|for|with|at|by|to|under|during)\s+)?(?={_WH}\b)|\?\s+(?=[A-Z])", re.I)


def question_parts(question: str) -> list[str]:
    """The questions a compound question asks, each to be answered ("Which solver was it built on,
    and how many more problems did it solve?" -> two). One part for a simple question."""
    parts = [p.strip(" ,;") for p in _PART_BREAK.split(" ".join(question.split())) if p.strip(" ,;")]
    return parts if len(parts) > 1 and all(len(content_terms(p)) >= 1 for p in parts) else [question]


_ALIAS = re.compile(r"\(\s*([A-Z][A-Za-z0-9*^+\-]{1,30})\s*\)")


@lru_cache(maxsize=4096)
def paper_own_names(title: str, abstract: str) -> frozenset[str]:
    """What a paper calls its own: its title's names and short name, the aliases its abstract
    gives in parentheses ("Dichotomy of Control (DoC)"), and the names it introduces ("we propose X")."""
    found = set(names(title)) | set(_ALIAS.findall(fold(abstract)))
    head = title_name(title)
    if head:
        found.add(head)
    for sent in sentences(abstract):
        if NAMING.search(sent):
            found |= names(sent)
    return frozenset(n for n in found if not _SIZE.fullmatch(n.strip(".-*")))  # "1.5B" is a size many papers share

