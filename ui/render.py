"""`Answer` -> HTML for the chat, and -> Markdown for copying and export. Pure: no Gradio.

Every piece of paper or model text is HTML-escaped exactly once before it is wrapped in
markup, so a paper cannot inject HTML or script into the page. In the HTML:
- the answer's first sentence (the direct answer) is set apart as the lead;
- each `[n]` is a chip: a button that, hovered or focused, shows a card with the paper's
  title, authors and year and the evidence sentence, and that scrolls to the source when
  clicked (ui/static/app.js; the page URL never changes);
- the Sources panel lists title, authors, year, a link when known, the page for a PDF
  passage, the evidence highlighted inside the abstract (or passage);
- a refusal lists the closest papers as buttons that ask the same question of that paper only.
"""

from __future__ import annotations

import html
import re

from rag.citations import MARKER, attach_markers
from rag.text import sentence_spans
from rag.types import Answer, Citation


def highlight(abstract: str, spans: list[tuple[int, int]] | list[list[int]]) -> str:
    """The escaped abstract with each span wrapped in <mark>; overlapping spans merge."""
    clipped = ((max(0, int(a)), min(len(abstract), int(b))) for a, b in spans)
    clean = sorted((a, b) for a, b in clipped if b > a)
    merged: list[list[int]] = []
    for a, b in clean:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, pos = [], 0
    for a, b in merged:
        out.append(html.escape(abstract[pos:a]))
        out.append(f"<mark>{html.escape(abstract[a:b])}</mark>")
        pos = b
    out.append(html.escape(abstract[pos:]))
    return "".join(out)


def short_authors(authors: list[str]) -> str:
    """"Ada Lovelace, Alan Turing, Grace Hopper et al.": the first three names."""
    return ", ".join(authors[:3]) + (" et al." if len(authors) > 3 else "")


def byline(c: Citation) -> str:
    """"Ada Lovelace, Alan Turing et al., 2023" (plain text; empty when unknown)."""
    return ", ".join(x for x in (short_authors(c.authors), str(c.year or "")) if x)


def chip(c: Citation, anchor: str, quote: str, k: int) -> str:
    """The `[n]` chip with its hover/focus card showing `quote`, the evidence for this sentence.

    Gradio's sanitizer drops data-* and aria-* attributes, so the chip names its source in
    `value` (read by app.js) and its accessible name comes from visually hidden text.
    """
    meta = byline(c)
    page = f" · p. {c.page}" if c.page else ""
    card = (f'<span class="card" role="tooltip" id="{anchor}-card-{k}"><span class="card-title">{html.escape(c.title)}</span>'
            + (f'<span class="card-meta">{html.escape(meta)}{page}</span>' if meta or page else "")
            + f'<span class="card-quote"><mark>{html.escape(quote)}</mark></span></span>')
    return (f'<span class="cite"><button type="button" class="chip" value="{anchor}-src-{c.n}" '
            f'title="{html.escape(c.title, quote=True)}"><span class="sr">source </span>{c.n}'
            f'{", p. " + str(c.page) if c.page else ""}</button>{card}</span>')


def evidence_for(sentence: str, c: Citation) -> str:
    """Of the citation's supporting spans, the one that shares most words with `sentence`."""
    body = c.passage if c.page and c.passage else c.abstract
    words = set(re.findall(r"\w+", sentence.lower()))
    best, score = c.quote, -1
    for a, b in c.spans:
        text = body[int(a):int(b)].strip()
        overlap = len(words & set(re.findall(r"\w+", text.lower())))
        if text and overlap > score:
            best, score = text, overlap
    return best


def chips(text: str, answer: Answer, anchor: str) -> str:
    """Escaped `text` with `[n]` (and `[n, p. 4]`) markers turned into chips, each card showing
    the evidence for the sentence the marker ends."""
    by_n = {c.n: c for c in answer.citations}
    out, pos, k = [], 0, [0]
    for _, end in sentence_spans(text):
        sentence = text[pos:end]

        def repl(m: re.Match[str], sentence: str = sentence) -> str:
            c = by_n.get(int(m.group(1).split(",")[0]))
            if c is None:
                return ""
            k[0] += 1
            return chip(c, anchor, evidence_for(MARKER.sub("", sentence), c), k[0])

        out.append(MARKER.sub(repl, html.escape(sentence, quote=False)))
        pos = end
    out.append(html.escape(text[pos:], quote=False))
    return "".join(out)


def answer_text(answer: Answer, anchor: str = "a") -> str:
    """The escaped answer text with its markers turned into chips."""
    return chips(answer.text, answer, anchor)


def lead_and_rest(answer: Answer) -> tuple[str, str]:
    """The answer's first sentence (the direct answer) and the rest, as plain text with markers."""
    text = attach_markers(answer.text)
    spans = sentence_spans(text)
    if len(spans) < 2:
        return text, ""
    return text[: spans[0][1]], text[spans[0][1]:].strip()


def source_html(c: Citation, anchor: str, show_abstract: bool) -> str:
    meta = byline(c)
    link = f' · <a href="{html.escape(c.url, quote=True)}" target="_blank" rel="noopener">link</a>' if c.url else ""
    page = f" · page {c.page}" if c.page else ""
    body = c.passage if c.page and c.passage else c.abstract
    parts = [
        f'<div class="source" id="{anchor}-src-{c.n}">',
        f'<div class="source-title"><span class="num">{c.n}</span> {html.escape(c.title)}</div>',
        f'<div class="source-meta">{html.escape(meta)}{page}{link}</div>' if meta or link or page else "",
        f'<blockquote class="evidence"><mark>{html.escape(c.quote)}</mark></blockquote>',
    ]
    if show_abstract:
        what = f"Page {c.page} passage" if c.page else "Full abstract"
        parts.append(f"<details><summary>{what}</summary><p>{highlight(body, c.spans)}</p></details>")
    parts.append("</div>")
    return "".join(p for p in parts if p)


def render_answer(answer: Answer, *, anchor: str = "a", show_abstracts: bool = True) -> str:
    """The whole chat message: searched-for line, answer (lead first), Sources, engine line."""
    parts: list[str] = [f'<div class="answer"><span class="label-src" hidden>{html.escape(plain_text(answer))}</span>'
                        f'<span class="question-src" hidden>{html.escape(answer.question)}</span>']
    if answer.standalone:
        parts.append(f'<div class="standalone">Searched for: <i>{html.escape(answer.standalone)}</i> '
                     '<button type="button" class="as-typed">search my question as typed instead</button></div>')
    if answer.refused:
        parts.append(f'<p class="lead refusal">{html.escape(answer.text)}</p>')
        close = answer.sources[:3]
        if close:
            items = "".join(
                f'<li><button type="button" class="ask-paper" value="{html.escape(s.paper.id, quote=True)}">'
                f'{html.escape(s.paper.title)}</button></li>'
                for s in close)
            parts.append(f'<div class="closest">Closest matches (ask only that paper):<ul>{items}</ul></div>')
    else:
        lead, rest = lead_and_rest(answer)
        parts.append(f'<p class="lead">{chips(lead, answer, anchor)}</p>' + (f"<p>{chips(rest, answer, anchor)}</p>" if rest else ""))
        if answer.citations:
            parts.append('<div class="sources"><div class="sources-head">Sources</div>')
            parts.extend(source_html(c, anchor, show_abstracts) for c in answer.citations)
            parts.append("</div>")
    meta = f"engine: {html.escape(answer.engine)}"
    if answer.filters:
        meta += f" · only {html.escape(answer.filters)}"
    if answer.checked is not None and answer.checked.sentences:
        ch = answer.checked
        meta += f" · checked {ch.sentences} sentences: {ch.kept} kept, {ch.recited} re-cited, {ch.dropped} dropped"
    if answer.fallback:
        meta += f" · fell back to quotes ({html.escape(answer.fallback)})"
    total = answer.timings_ms.get("total")
    if answer.partial:
        meta += " · writing; only sentences already checked against the sources are shown"
    elif total is not None:
        meta += f" · {total / 1000:.1f} s" if total >= 1000 else f" · {total:.0f} ms"
    if not answer.partial:
        parts.append(f'<button type="button" class="copy-md" value="{html.escape(answer_markdown(answer), quote=True)}">'
                     "Copy as Markdown</button>")
    parts.append(f'<div class="meta"><small>{meta}</small></div></div>')
    return "\n".join(parts)


def plain_text(answer: Answer) -> str:
    """The answer as plain text, for the message's accessible label."""
    return MARKER.sub(lambda m: f"[{m.group(1)}]", answer.text)


def answer_markdown(answer: Answer) -> str:
    """The answer as Markdown: the text with its `[n]` markers, then the references."""
    lines = [answer.text, ""]
    for c in answer.citations:
        meta = byline(c)
        ref = f"[{c.n}] {c.title}" + (f". {meta}" if meta else "") + (f". {c.url}" if c.url else "")
        ref += f" (p. {c.page})" if c.page else ""
        lines.append(ref)
        lines.append(f"    > {c.quote}")
    return "\n".join(lines).strip() + "\n"


def conversation_markdown(turns: list[Answer]) -> str:
    """A whole conversation as Markdown, each question and its cited answer."""
    out = ["# Conversation", ""]
    for a in turns:
        out += [f"**Q:** {a.question}", "", answer_markdown(a), ""]
    return "\n".join(out)


def bibtex(turns: list[Answer]) -> str:
    """BibTeX entries for the papers cited in a conversation."""
    seen: dict[str, str] = {}
    for a in turns:
        for c in a.citations:
            if c.paper_id in seen:
                continue
            key = re.sub(r"[^A-Za-z0-9]+", "", c.paper_id)[:40] or f"paper{len(seen) + 1}"
            fields = [f"  title = {{{c.title}}}"]
            if c.authors:
                fields.append(f"  author = {{{' and '.join(c.authors)}}}")
            if c.year:
                fields.append(f"  year = {{{c.year}}}")
            if c.url:
                fields.append(f"  url = {{{c.url}}}")
            seen[c.paper_id] = f"@article{{{key},\n" + ",\n".join(fields) + "\n}\n"
    return "\n".join(seen.values())
