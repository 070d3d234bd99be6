"""The Gradio app: a thin adapter over one `rag.Assistant`.

`build_app(assistant)` returns a `gr.Blocks` without starting a server (tests build it
freely); `launch(app, settings)` serves it. No pipeline logic lives here: questions,
follow-ups, checking and ingest all go through the Assistant; this module only turns
its results into chat messages (via ui/render.py) and its errors into readable text.

Endpoints for programs (gradio_client): `/ask` (question, engine, k) and `/chat`
(question, history, engine, k) return the JSON object of `rag ask --json`.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag import Assistant, RagError, Settings
from rag.settings import ENGINES

from .render import render_answer

log = logging.getLogger("ui.app")

EXAMPLES = [
    "How much does Tree-Planner reduce token consumption?",
    "Which method lets a model reason in a continuous latent space?",
    "How can language models backtrack during generation?",
    "What does SPaR use to improve instruction following?",
]

CSS = """
.source { border-left: 3px solid #7c9cff; padding: 4px 10px; margin: 8px 0; }
.source mark, .evidence mark { background: #fff1a8; color: inherit; }
.meta, .standalone { color: #666; }
a.cite { text-decoration: none; font-weight: 600; }
"""


def _error_html(e: Exception) -> str:
    return f'<p class="error"><b>Could not answer:</b> {html.escape(str(e))}</p>'


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


def build_app(assistant: Assistant) -> gr.Blocks:
    """The chat, settings and papers tabs, plus the `/ask` and `/chat` API endpoints."""
    settings = assistant.settings

    def respond(
        message: str, chat: list[dict[str, Any]], turns: list[dict[str, Any]], engine: str, k: float, show: bool
    ) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]], str]]:
        chat = list(chat or []) + [{"role": "user", "content": html.escape(message or "")}]
        turns = list(turns or [])
        yield chat + [{"role": "assistant", "content": "<i>Searching the papers…</i>"}], turns, ""
        try:
            for ans in assistant.ask_stream(message, engine=engine, k=int(k), history=turns):
                shown = render_answer(ans, anchor=f"t{len(turns)}", show_abstracts=show)
                if ans.partial:
                    yield chat + [{"role": "assistant", "content": shown}], turns, ""
                else:
                    yield chat + [{"role": "assistant", "content": shown}], turns + [ans.to_json_dict()], ""
        except RagError as e:
            log.info("could not answer %r: %s", message, e)
            yield chat + [{"role": "assistant", "content": _error_html(e)}], turns, ""
        except Exception as e:  # an unexpected failure: say so, log the details, keep the app up
            log.exception("answering %r failed", message)
            yield chat + [{"role": "assistant", "content": _error_html(RuntimeError(
                f"an unexpected error ({type(e).__name__}); details are in the server log."))}], turns, ""

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

    def paper_rows(query: str = "") -> list[list[str]]:
        return [[p.title, p.id] for p in assistant.papers(search=query or "")]

    def header() -> str:
        return (f"## Ask the papers\n{assistant.store.paper_count()} papers indexed. Every sentence of an answer cites "
                "the abstract it comes from; the supporting sentence is highlighted. When the papers do not "
                "answer, you are told so.")

    def upload(path: str | None, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[str, list[list[str]]]:  # noqa: B008
        if not path:
            return "Choose a `.txt` (Daily Papers format) or `.jsonl` file first.", paper_rows()
        p = Path(path)
        if p.suffix.lower() not in (".txt", ".jsonl"):
            return f"❌ `{html.escape(p.name)}` is not a .txt or .jsonl file.", paper_rows()
        size = p.stat().st_size
        if size > settings.max_upload_mb * 1024 * 1024:
            return f"❌ `{html.escape(p.name)}` is {size / 1e6:.1f} MB; the limit is {settings.max_upload_mb} MB.", paper_rows()
        try:
            report = assistant.ingest(p, progress=True)
        except RagError as e:
            return f"❌ Nothing was added. {html.escape(str(e).replace(str(p.parent) + os.sep, ''))}", paper_rows()
        finally:
            with contextlib.suppress(OSError):
                p.unlink()  # the upload has been read: keep no copy in Gradio's cache
        return f"✅ {html.escape(p.name)}: {html.escape(str(report))}", paper_rows()

    with gr.Blocks(title="Paper QA — cited answers from your papers", analytics_enabled=False,
                   delete_cache=(600, 600)) as app:
        head = gr.Markdown(header())
        app.load(header, None, head, api_visibility="private")
        with gr.Tab("Chat"):
            chatbot = gr.Chatbot(label="Answers", height=560, sanitize_html=True, feedback_options=None,
                                 placeholder="Ask about the indexed papers, e.g. one of the examples below.")
            turns = gr.State([])
            with gr.Row():
                msg = gr.Textbox(placeholder="Ask a question about the papers…", show_label=False, scale=8,
                                 max_length=settings.max_question_chars, elem_id="question")
                send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
            gr.Examples(EXAMPLES, inputs=[msg], label="Example questions")
            with gr.Accordion("Settings", open=False):
                engine = gr.Dropdown(list(ENGINES), value=settings.engine, label="Engine",
                                     info="auto = openai when an endpoint is configured, else extractive quotes")
                k = gr.Slider(1, 20, value=settings.top_k, step=1, label="Papers to retrieve (top-k)")
                show = gr.Checkbox(value=True, label="Show full abstracts under answers")
                clear = gr.Button("New conversation")
            inputs = [msg, chatbot, turns, engine, k, show]
            outputs = [chatbot, turns, msg]
            msg.submit(respond, inputs, outputs, api_visibility="private")
            send.click(respond, inputs, outputs, api_visibility="private")
            clear.click(lambda: ([], [], ""), None, outputs, api_visibility="private")
        with gr.Tab("Papers"):
            search = gr.Textbox(placeholder="Filter by title or id", show_label=False)
            table = gr.Dataframe(headers=["title", "id"], value=paper_rows(), interactive=False, wrap=True)
            search.change(paper_rows, [search], [table], api_visibility="private")
            gr.Markdown(
                f"**Add papers**: a `.txt` file in Daily Papers format (title line, blank line, abstract line, "
                f"blank line) or a `.jsonl` file with `title` and `abstract` per line; at most "
                f"{settings.max_upload_mb} MB. A file with an error adds nothing."
            )
            file = gr.File(file_types=[".txt", ".jsonl"], type="filepath", label="Paper file", elem_id="paper-file")
            add = gr.Button("Add papers")
            status = gr.Markdown()
            add.click(upload, [file], [status, table], api_visibility="private").then(
                header, None, head, api_visibility="private")
        gr.api(api_ask, api_name="ask")
        gr.api(api_chat, api_name="chat")
    return app


def launch(app: gr.Blocks, settings: Settings, *, block: bool = True) -> Any:
    """Serve `app` with a bounded queue, no extra file access and an upload size limit."""
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
        css=CSS,
        footer_links=["api"],
    )
