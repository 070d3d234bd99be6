"""`Answer` -> HTML for the chat, with the evidence highlighted. Pure: no Gradio.

Every piece of paper or model text is HTML-escaped before it is wrapped in markup,
so a paper cannot inject HTML or script into the page. Citation markers `[n]` link to
the matching entry of the answer's Sources panel.
"""

from __future__ import annotations

import html
import re

from rag.citations import MARKER as _MARKER
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


def answer_text(answer: Answer, anchor: str = "a") -> str:
    """The escaped answer text with `[n]` turned into links to source n."""
    known = {c.n for c in answer.citations}

    def link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n not in known:
            return ""
        return f'<a href="#{anchor}-src-{n}" class="cite">[{n}]</a>'

    return _MARKER.sub(link, html.escape(answer.text))


def source_html(c: Citation, anchor: str, show_abstract: bool) -> str:
    title = html.escape(c.title)
    quote = html.escape(c.quote)
    parts = [
        f'<div class="source" id="{anchor}-src-{c.n}">',
        f'<div class="source-title"><b>[{c.n}]</b> {title} <code>{html.escape(c.paper_id)}</code></div>',
        f'<blockquote class="evidence"><mark>{quote}</mark></blockquote>',
    ]
    if show_abstract:
        parts.append(f"<details><summary>Full abstract</summary><p>{highlight(c.abstract, c.spans)}</p></details>")
    parts.append("</div>")
    return "".join(parts)


def render_answer(answer: Answer, *, anchor: str = "a", show_abstracts: bool = True) -> str:
    """The whole chat message: answer, standalone query, Sources panel, engine."""
    parts: list[str] = []
    if answer.standalone:
        parts.append(f'<div class="standalone">Searched for: <i>{html.escape(answer.standalone)}</i></div>')
    if answer.refused:
        parts.append(f"<p><b>{html.escape(answer.text)}</b></p>")
        close = answer.sources[:3]
        if close:
            items = "".join(f"<li>{html.escape(s.paper.title)}</li>" for s in close)
            parts.append(f'<div class="closest">Closest matches:<ul>{items}</ul></div>')
    else:
        parts.append(f"<p>{answer_text(answer, anchor)}</p>")
        if answer.citations:
            parts.append('<div class="sources"><b>Sources</b>')
            parts.extend(source_html(c, anchor, show_abstracts) for c in answer.citations)
            parts.append("</div>")
    meta = f"engine: {html.escape(answer.engine)}"
    if answer.checked is not None and answer.checked.sentences:
        ch = answer.checked
        meta += f" · checked {ch.sentences} sentences: {ch.kept} kept, {ch.recited} re-cited, {ch.dropped} dropped"
    if answer.fallback:
        meta += f" · fell back to quotes ({html.escape(answer.fallback)})"
    total = answer.timings_ms.get("total")
    if answer.partial:
        meta += " · writing; only sentences already checked against the sources are shown"
    elif total is not None:
        meta += f" · {total:.0f} ms"
    parts.append(f'<div class="meta"><small>{meta}</small></div>')
    return "\n".join(parts)
