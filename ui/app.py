"""The Gradio app: a thin adapter over one `rag.Assistant`.

`build_app(assistant)` returns a `gr.Blocks` without starting a server (tests build it
freely); `launch(app, settings)` serves it with the page's CSS and JS (ui/static/). No
pipeline logic lives here: questions, follow-ups, filters, checking, ingest and removal all
go through the Assistant; this module turns its results into chat messages (ui/render.py),
shows progress while an answer is being made, and turns errors into plain messages.

Endpoints for programs (gradio_client): `/ask` (question, engine, k) and `/chat`
(question, history, engine, k) return the JSON object of `rag ask --json`.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import queue
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag import Assistant, RagError, Settings
from rag.types import Answer, Filters
from rag.validate import parse_years

from .render import bibtex, conversation_markdown, render_answer, short_authors

log = logging.getLogger("ui.app")
STATIC = Path(__file__).resolve().parent / "static"
UPLOAD_TYPES = [".pdf", ".json", ".jsonl", ".bib", ".txt"]
EXAMPLES = [
    "How much does Tree-Planner reduce token consumption?",
    "Which method lets a model reason in a continuous latent space?",
    "How can language models backtrack during generation?",
    "What does SPaR use to improve instruction following?",
]
STAGES = {"retrieving": "Searching the papers", "quoting": "Choosing the sentences that answer",
          "generating": "Writing the answer", "checking": "Checking each sentence against its source"}


def user_error(e: Exception) -> gr.Error:
    """A message for the web client: a RagError's own text, or a generic line (the log keeps
    the detail). No traceback is printed for either."""
    if isinstance(e, RagError):
        log.info("refused a request: %s", e)
        return gr.Error(str(e), print_exception=False)
    log.exception("unexpected failure")
    return gr.Error("An unexpected error occurred; the details are in the server log.", print_exception=False)


def allowed_hosts(settings: Settings) -> list[str]:
    """Host header values the app answers to: the bound host, localhost forms, and any configured."""
    hosts = {settings.server_host, "127.0.0.1", "localhost", "::1", "[::1]", *settings.allowed_hosts}
    if settings.server_host in ("0.0.0.0", "::"):
        return ["*"]  # bound to every interface on purpose: the operator chose exposure
    return sorted(hosts)


def engines(settings: Settings) -> tuple[list[tuple[str, str]], list[str]]:
    """(choices the menu offers, a line per engine that is not set up and why)."""
    import importlib.util

    offered = [("Extractive quotes (no model)", "extractive")]
    missing = []
    if settings.openai_api_key or settings.openai_base_url:
        offered.append((f"OpenAI-compatible ({settings.openai_model})", "openai"))
    else:
        missing.append("OpenAI-compatible: not set up (start the app with OPENAI_BASE_URL or OPENAI_API_KEY set)")
    if importlib.util.find_spec("llama_cpp") is not None:
        offered.append(("Local model (Gemma 3 270M, slow)", "llama-cpp"))
    else:
        missing.append("Local model: llama-cpp-python is not installed")
    return offered, missing


def _message(html_text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": html_text}


def _note(text: str, kind: str = "note") -> str:
    return f'<div class="answer {kind}"><span class="label-src" hidden>{html.escape(text)}</span><p>{html.escape(text)}</p></div>'


def _filters(year: str, author: str, paper: str) -> Filters | None:
    f = Filters(years=parse_years(year) if (year or "").strip() else None,
                authors=[a.strip() for a in (author or "").split(",") if a.strip()],
                paper_ids=[p.strip() for p in (paper or "").split(",") if p.strip()])
    return f if f.active() else None


def build_app(assistant: Assistant) -> gr.Blocks:
    """The chat and the papers library, plus the `/ask` and `/chat` API endpoints."""
    settings = assistant.settings
    offered, missing = engines(settings)
    default_engine = settings.resolved_engine() if settings.resolved_engine() in {v for _, v in offered} else "extractive"

    def header() -> str:
        n = assistant.store.paper_count()
        return (f'<h1>Ask the papers</h1><p><b>{n:,} papers indexed.</b> Every sentence of an answer cites the paper it '
                "comes from, and the supporting sentence is highlighted. When the papers do not answer, you are told so.</p>")

    # ---- chat ------------------------------------------------------------------------------------
    # The running answer's cancel flag, per browser session: Stop and New chat set it at once,
    # so a llama.cpp generation ends within a token instead of when Gradio next polls the loop.
    running: dict[str, threading.Event] = {}

    def cancel_running(request: gr.Request | None) -> None:
        flag = running.pop(getattr(request, "session_hash", None) or "", None)
        if flag is not None:
            flag.set()

    def respond(message: str, chat: list[dict[str, Any]], turns: list[dict[str, Any]], engine: str, k: float,
                show: bool, year: str, author: str, paper: str, as_typed: bool,
                request: gr.Request) -> Iterator[tuple[Any, ...]]:
        message = (message or "").strip()
        if not message:  # an empty box does nothing
            yield (gr.skip(),) * 8
            return
        chat = [*(chat or []), {"role": "user", "content": message}]
        turns = list(turns or [])
        t0 = time.perf_counter()
        stage = {"now": "retrieving"}

        def status(extra: str = "") -> str:
            return (f'<span class="stage">{STAGES.get(stage["now"], stage["now"])}…</span> '
                    f'<span class="elapsed">{time.perf_counter() - t0:.0f} s</span>{extra}')

        busy = (gr.update(interactive=False, value="Answering…"), gr.update(visible=True))
        idle = (gr.update(interactive=True, value="Ask"), gr.update(visible=False))
        yield chat + [_message(_note("Searching the papers…", "pending"))], turns, "", *busy, status(), gr.skip(), False
        try:
            flt = _filters(year, author, paper)
        except RagError as e:
            yield chat + [_message(_note(f"Could not answer: {e}", "error"))], turns, gr.skip(), *idle, "", gr.skip(), False
            return
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        cancel = threading.Event()
        session = getattr(request, "session_hash", None) or ""
        running[session] = cancel

        def work() -> None:
            try:
                for item in assistant.ask_stream(message, engine=engine, k=int(k), history=[] if as_typed else turns,
                                                 filters=flt, cancel=cancel, on_stage=lambda s: events.put(("stage", s))):
                    events.put(("answer", item))
                events.put(("done", None))
            except BaseException as e:  # handed to the UI's loop
                events.put(("error", e))

        threading.Thread(target=work, daemon=True).start()
        shown = chat + [_message(_note("Searching the papers…", "pending"))]
        try:
            while True:
                try:
                    kind, value = events.get(timeout=0.5)
                except queue.Empty:
                    yield shown, turns, gr.skip(), *busy, status(), gr.skip(), False  # the elapsed seconds tick
                    continue
                if kind == "stage":
                    stage["now"] = value
                    yield shown, turns, gr.skip(), *busy, status(), gr.skip(), False
                elif kind == "answer":
                    ans: Answer = value
                    anchor = f"t{len(turns)}"
                    shown = chat + [_message(render_answer(ans, anchor=anchor, show_abstracts=show))]
                    if ans.partial:
                        yield shown, turns, gr.skip(), *busy, status(" · checked sentences so far"), gr.skip(), False
                    else:
                        turns = turns + [ans.to_json_dict()]
                elif kind == "done":
                    yield shown, turns, gr.skip(), *idle, "", export(turns, session), False
                    return
                else:
                    err: BaseException = value
                    text = str(err) if isinstance(err, RagError) else "An unexpected error occurred; the details are in the server log."
                    if not isinstance(err, RagError):
                        log.error("answering %r failed", message, exc_info=err)
                    yield chat + [_message(_note(f"Could not answer: {text}", "error"))], turns, gr.skip(), *idle, "", \
                        gr.skip(), False
                    return
        finally:
            cancel.set()  # Stop, a closed tab or a new question: the engine stops within a token
            if running.get(session) is cancel:
                running.pop(session, None)

    def stopped(chat: list[dict[str, Any]], request: gr.Request) -> tuple[Any, ...]:
        cancel_running(request)
        chat = list(chat or [])
        if chat and chat[-1]["role"] == "assistant" and "pending" in str(chat[-1]["content"]):
            chat[-1] = _message(_note("Stopped.", "note"))
        elif chat and chat[-1]["role"] == "user":
            chat.append(_message(_note("Stopped.", "note")))
        return chat, gr.update(interactive=True, value="Ask"), gr.update(visible=False), "Stopped."

    def export(turns: list[dict[str, Any]], session: str = "") -> str | None:
        if not turns:
            return None
        answers = [Answer.model_validate(_answer_fields(t)) for t in turns]
        # One folder per browser session, rewritten after each answer (a new folder per answer was never removed).
        folder = Path(tempfile.gettempdir()) / "rag-export" / (re.sub(r"\W", "", session) or "default")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "conversation.md"
        text = conversation_markdown(answers)
        bib = bibtex(answers)
        path.write_text(text + ("\n## BibTeX\n\n```bibtex\n" + bib + "```\n" if bib else ""), encoding="utf-8")
        return str(path)

    def new_chat(request: gr.Request) -> tuple[Any, ...]:
        cancel_running(request)
        return [], [], "", None, False, gr.update(interactive=True, value="Ask"), gr.update(visible=False)

    # ---- API ---------------------------------------------------------------------------------------
    def api_ask(question: str, engine: str = "auto", k: int = 0) -> dict[str, Any]:
        try:
            return assistant.ask(question, engine=engine, k=k or None).to_json_dict()
        except Exception as e:
            raise user_error(e) from None

    def api_chat(question: str, history: list[dict[str, Any]], engine: str = "auto", k: int = 0) -> dict[str, Any]:
        try:
            return assistant.ask(question, engine=engine, k=k or None, history=history or []).to_json_dict()
        except Exception as e:
            raise user_error(e) from None

    # ---- library -----------------------------------------------------------------------------------
    def library(query: str = "") -> tuple[list[list[Any]], str]:
        shown, total = assistant.library(query or "", limit=settings.library_rows)
        rows = [[p.title, short_authors(p.authors), p.year or "", p.source,
                 p.added or "", p.id] for p in shown]
        if not rows:
            note = (f'<p class="empty-note">No paper matches “{html.escape(query)}”.</p>' if query
                    else '<p class="empty-note">No papers yet: add some below.</p>')
        elif total > len(shown):
            what = f"papers matching “{html.escape(query)}”" if query else "papers"
            note = (f'<p class="empty-note">Showing the first {len(shown):,} of {total:,} {what} in title order: '
                    "search by title, author, id or file to find others.</p>")
        else:
            note = ""
        return rows, note

    def detail(evt: gr.SelectData, rows: Any) -> tuple[str, str, Any]:
        try:
            pid = str(rows.iloc[evt.index[0]]["id"]) if hasattr(rows, "iloc") else str(rows[evt.index[0]][-1])
        except (IndexError, KeyError, TypeError):
            return "", "", gr.update(visible=False)
        p = assistant.paper(pid)
        if p is None:
            return "", "", gr.update(visible=False)
        meta = ", ".join(x for x in (", ".join(p.authors), str(p.year or ""), p.source, f"added {p.added}" if p.added else "") if x)
        link = f' · <a href="{html.escape(p.url, quote=True)}" target="_blank" rel="noopener">link</a>' if p.url else ""
        body = (f"<h3>{html.escape(p.title)}</h3><p class='source-meta'>{html.escape(meta)}{link} · id "
                f"<code>{html.escape(p.id)}</code></p><p class='abstract'>{html.escape(p.abstract)}</p>")
        return body, pid, gr.update(visible=True, value="Delete this paper")

    def delete(pid: str, label: str) -> tuple[Any, ...]:
        if not pid:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if label != "Confirm: delete it":
            return gr.skip(), gr.skip(), gr.skip(), gr.update(value="Confirm: delete it"), gr.skip(), gr.skip()
        try:
            assistant.remove([pid])
        except RagError as e:
            return gr.skip(), gr.skip(), f"<p class='error'>{html.escape(str(e))}</p>", gr.update(visible=False), gr.skip(), ""
        rows, note = library()
        return rows, note, f"<p>Deleted <code>{html.escape(pid)}</code>.</p>", gr.update(visible=False), header(), ""

    def upload(paths: list[str] | None, query: str, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not paths:
            rows, note = library(query)
            return "Choose one or more paper files first (.pdf, .json, .jsonl, .bib, .txt).", rows, note, header()
        lines = []
        for n, path in enumerate(paths, start=1):
            p = Path(path)
            name = html.escape(p.name)
            try:
                if p.suffix.lower() not in UPLOAD_TYPES:
                    lines.append(f"❌ {name}: not a supported file ({', '.join(UPLOAD_TYPES)}).")
                    continue
                size = p.stat().st_size
                if size > settings.max_upload_mb * 1024 * 1024:
                    lines.append(f"❌ {name}: {size / 1e6:.1f} MB; the limit is {settings.max_upload_mb} MB.")
                    continue
                def tick(f: float, what: str, n: int = n, p: Path = p) -> None:
                    progress((n - 1 + f) / len(paths), desc=f"{p.name}: {what}")

                report = assistant.ingest(p, progress=False, on_progress=tick)
                lines.append(f"✅ {name}: " + html.escape(str(report)).replace("\n", "<br>"))
            except RagError as e:
                lines.append(f"❌ {name}: nothing was added. " + html.escape(str(e).replace(str(p.parent) + os.sep, "")))
            finally:
                with contextlib.suppress(OSError):
                    p.unlink()  # the upload has been read: keep no copy in Gradio's cache
        rows, note = library(query)
        return "<br>".join(lines), rows, note, header()

    # ---- layout ------------------------------------------------------------------------------------
    with gr.Blocks(title="Paper QA — cited answers from your papers", analytics_enabled=False, fill_height=True,
                   delete_cache=(600, 600)) as app:
        head = gr.HTML(header(), elem_id="header")
        app.load(header, None, head, api_visibility="private")
        with gr.Tab("Chat"):
            with gr.Row(elem_id="filters"):
                year = gr.Textbox(label="Years", placeholder="e.g. 2023..2024", scale=1, elem_id="f-year", max_lines=1)
                author = gr.Textbox(label="Author", placeholder="name part", scale=1, elem_id="f-author", max_lines=1)
                paper = gr.Textbox(label="Paper ids", placeholder="id, id", scale=2, elem_id="f-paper", max_lines=1)
            chatbot = gr.Chatbot(label="Conversation", show_label=False, elem_id="chat", sanitize_html=True,
                                 feedback_options=None, buttons=[], render_markdown=False, height=None,
                                 placeholder="Ask about the indexed papers. Every sentence of the answer will cite its source.")
            status = gr.HTML("", elem_id="status")
            turns = gr.State([])
            as_typed = gr.Checkbox(False, visible=False, elem_id="as-typed", label="search as typed")
            with gr.Row(elem_id="composer", equal_height=True):
                msg = gr.Textbox(label="Your question", placeholder="Ask a question about the papers… (Enter sends, "
                                 "Shift+Enter starts a new line)", show_label=False, scale=8, lines=1, max_lines=6,
                                 max_length=settings.max_question_chars, elem_id="question", autofocus=True)
                send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="send")
                stop = gr.Button("Stop", variant="stop", scale=1, min_width=70, visible=False, elem_id="stop")
                clear = gr.Button("New chat", scale=1, min_width=90, elem_id="new-chat")
            with gr.Row():
                engine = gr.Dropdown(offered, value=default_engine, label="Engine", scale=2,
                                     info=("; ".join(missing)) or "every generated sentence is checked against its source")
                k = gr.Slider(1, 20, value=settings.top_k, step=1, label="Papers to search (top-k)", scale=2)
                show = gr.Checkbox(value=True, label="Show full abstracts under answers", scale=1)
                export_btn = gr.DownloadButton("Export conversation (Markdown + BibTeX)", value=None, scale=1,
                                               elem_id="export")
            gr.Examples(EXAMPLES, inputs=[msg], label="Example questions")
            inputs = [msg, chatbot, turns, engine, k, show, year, author, paper, as_typed]
            outputs = [chatbot, turns, msg, send, stop, status, export_btn, as_typed]
            ev1 = msg.submit(respond, inputs, outputs, api_visibility="private")
            ev2 = send.click(respond, inputs, outputs, api_visibility="private")
            for ev in (ev1, ev2):
                ev.then(None, None, None, js="() => { const q = document.querySelector('#question textarea'); if (q) q.focus(); }")
            stop.click(stopped, [chatbot], [chatbot, send, stop, status], cancels=[ev1, ev2], api_visibility="private",
                       concurrency_limit=None)  # Stop never waits behind the answer it stops
            clear.click(new_chat, None, [chatbot, turns, status, export_btn, as_typed, send, stop], cancels=[ev1, ev2],
                        api_visibility="private")
            chatbot.clear(new_chat, None, [chatbot, turns, status, export_btn, as_typed, send, stop], api_visibility="private")
        with gr.Tab("Papers"):
            search = gr.Textbox(label="Search the library", placeholder="title, author, id or file", max_lines=1,
                                elem_id="library-search")
            first_rows, first_note = library()
            table = gr.Dataframe(headers=["title", "authors", "year", "source", "added", "id"], value=first_rows,
                                 interactive=False, wrap=True, elem_id="library", column_widths=["38%", "20%", "7%", "13%", "10%", "12%"])
            empty = gr.HTML(first_note)
            with gr.Group(elem_id="library-detail"):
                info = gr.HTML("<p class='empty-note'>Click a row to see its abstract and details.</p>")
                chosen = gr.State("")
                remove = gr.Button("Delete this paper", variant="stop", visible=False, elem_id="delete")
                removed = gr.HTML("")
            gr.Markdown(f"**Add papers**: PDF, Hugging Face Daily Papers JSON, JSONL (one paper per line, arXiv metadata "
                        f"too), BibTeX with abstracts, or the Daily Papers text format; at most {settings.max_upload_mb} MB "
                        "per file. A file with an error adds nothing and says which line is wrong.")
            files = gr.File(file_types=UPLOAD_TYPES, file_count="multiple", type="filepath", label="Paper files",
                            elem_id="paper-file")
            add = gr.Button("Add papers", elem_id="add-papers")
            upload_status = gr.HTML("", elem_id="upload-status")
            search.change(library, [search], [table, empty], api_visibility="private")
            table.select(detail, [table], [info, chosen, remove], api_visibility="private")
            remove.click(delete, [chosen, remove], [table, empty, removed, remove, head, chosen], api_visibility="private")
            files.change(lambda: "", None, upload_status, api_visibility="private")  # a new file clears the old status
            add.click(upload, [files, search], [upload_status, table, empty, head], api_visibility="private")
        gr.api(api_ask, api_name="ask")
        gr.api(api_chat, api_name="chat")
    return app


def _answer_fields(t: dict[str, Any]) -> dict[str, Any]:
    """An answer's JSON (as `rag ask --json` prints it) back into `Answer` fields, for export."""
    return {"question": t.get("question", ""), "text": t.get("answer", ""), "refused": t.get("refused", False),
            "engine": t.get("engine", ""), "citations": [{k: v for k, v in c.items() if k != "passage" or v} for c in t.get("citations", [])]}


def launch(app: gr.Blocks, settings: Settings, *, block: bool = True) -> Any:
    """Serve `app` with a bounded queue, its CSS and JS, no extra file access, a checked Host
    header and an upload size limit."""
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    app.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    return app.launch(
        app_kwargs={"middleware": [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings))]},
        server_name=settings.server_host,
        server_port=settings.server_port,
        max_file_size=f"{settings.max_upload_mb}mb",
        allowed_paths=[],
        show_error=True,
        prevent_thread_lock=not block,
        quiet=not block,
        css=(STATIC / "app.css").read_text(encoding="utf-8"),
        head=f"<script>{(STATIC / 'app.js').read_text(encoding='utf-8')}</script>",
        footer_links=["api"],
    )
