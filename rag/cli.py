"""The `rag` command: a thin adapter over `Assistant`.

    rag ingest [PATH ...] [--replace] [--prune]   add papers (default: the bundled corpus)
    rag ask "QUESTION" [--json] [--engine E] [--k N] [--year Y..Y] [--author A] [--paper ID]
    rag ask --json --batch FILE|-                 one question per line, one JSON line per input line
    rag chat                                      an interactive question loop
    rag papers [--search TEXT] [--remove ID ...]  list (or remove) the indexed papers
    rag serve [--host H] [--port P]               the web app (default http://127.0.0.1:7860)
    rag eval [--engine E] [--split S] [--out DIR] the regression eval and its report

Expected failures (`RagError`) print one line to stderr and exit non-zero (2 for bad
input); no traceback reaches the user for them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from .errors import RagError, UsageError
from .settings import ENGINES, Settings
from .text import clean_text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag", description="Ask questions about research papers; every claim is cited.")
    sub = p.add_subparsers(dest="command", required=True)

    ing = sub.add_parser("ingest", help="add papers from .txt, .jsonl, .json, .bib or .pdf files, or directories")
    ing.add_argument("paths", nargs="*", help="paper files or directories (default: the bundled corpus)")
    ing.add_argument("--quiet", action="store_true", help="no progress bar")
    ing.add_argument("--replace", action="store_true", help="let an id that names a stored paper overwrite it")
    ing.add_argument("--prune", action="store_true", help="remove stored papers of these files that are no longer in them")

    def filters(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--year", help="only papers from these years: 2024 or 2023..2024")
        sp.add_argument("--author", action="append", default=[], help="only papers with this author (repeatable)")
        sp.add_argument("--paper", action="append", default=[], help="only this paper id (repeatable)")

    ask = sub.add_parser("ask", help="answer a question with cited abstracts")
    ask.add_argument("question", nargs="?", help="the question (omit with --batch)")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    ask.add_argument("--batch", metavar="FILE", help="read one question per line from FILE ('-' = stdin)")
    ask.add_argument("--engine", choices=ENGINES, help="answer engine (default: settings / auto)")
    ask.add_argument("--k", help="papers to retrieve")
    filters(ask)

    chat = sub.add_parser("chat", help="interactive question loop")
    chat.add_argument("--engine", choices=ENGINES)
    chat.add_argument("--k")
    filters(chat)

    serve = sub.add_parser("serve", help="start the web app (Gradio)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network)")
    serve.add_argument("--port", type=int, help="port (default 7860)")

    ev = sub.add_parser("eval", help="run the regression eval on the bundled corpus")
    ev.add_argument("--engine", choices=ENGINES, default="extractive")
    ev.add_argument("--k", type=int, help="papers to retrieve")
    ev.add_argument("--split", choices=["dev", "test", "all"], default="all", help="question split (the gate is test)")
    ev.add_argument("--out", default="evals/reports", help="report directory")
    ev.add_argument("--update-baseline", action="store_true", help="rewrite evals/baseline.json with this run")
    ev.add_argument("--tolerance", type=float, default=0.02, help="allowed drop below the baseline")
    ev.add_argument("--no-peer", action="store_true", help="skip the plain llama-index peer")
    ev.add_argument("--limit", type=int, help="only the first N questions (no regression check)")
    ev.add_argument("--claims", action="store_true", help="score the citation check on the labelled claims instead")
    ev.add_argument("--distractors", metavar="FILE", help="run inside a collection padded with these JSONL documents")
    ev.add_argument("--n", type=int, default=2000, help="distractor documents to add (with --distractors)")

    fe = sub.add_parser("fetch", help="fetch papers over the network and add them: daily YYYY-MM-DD | arxiv ID [ID ...]")
    fe.add_argument("source", choices=["daily", "arxiv"])
    fe.add_argument("what", nargs="+", help="a date (daily) or arXiv ids (arxiv)")
    fe.add_argument("--refresh", action="store_true", help="fetch again instead of using the cached response")
    fe.add_argument("--quiet", action="store_true", help="no progress bar")

    sub.add_parser("train-verifier", help="train the claim verifier once (minutes; cached, shared by every data dir)")

    pap = sub.add_parser("papers", help="list (or remove) the indexed papers")
    pap.add_argument("--search", default="", help="only papers whose title, id or authors contain this text")
    pap.add_argument("--remove", nargs="+", metavar="ID", help="remove these papers everywhere")
    pap.add_argument("--json", action="store_true", help="one JSON object per paper")
    return p


def _filters(args: argparse.Namespace) -> dict[str, Any] | None:
    from .validate import parse_years

    f: dict[str, Any] = {}
    if getattr(args, "year", None):
        f["years"] = parse_years(args.year)
    if getattr(args, "author", None):
        f["authors"] = args.author
    if getattr(args, "paper", None):
        f["paper_ids"] = args.paper
    return f or None


def _print_answer(answer: Any, as_json: bool) -> None:
    if as_json:
        print(answer.to_json(), flush=True)
        return
    print(clean_text(answer.text))
    if answer.refused:
        close = ", ".join(clean_text(s.paper.title) for s in answer.sources[:3])
        if close:
            print(f"\nClosest matches: {close}")
    for c in answer.citations:
        meta = ", ".join(x for x in ("; ".join(c.authors[:3]) + (" et al." if len(c.authors) > 3 else ""),
                                     str(c.year or ""), c.url or "") if x)
        print(f"\n{c.label()} {clean_text(c.title)} ({c.paper_id})" + (f"\n    {clean_text(meta)}" if meta else ""))
        print(f"    \u201c{clean_text(c.quote)}\u201d")
    print(f"\n({answer.engine}, {answer.timings_ms.get('total', 0):.0f} ms)", flush=True)


def _batch_lines(name: str) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text or None, error or None) for every line, blank ones included."""
    try:
        fh = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115
    except OSError as e:
        raise UsageError(f"Cannot read the batch file {name}: {e.strerror}. Pass a text file with one question per "
                         "line, or - for stdin.") from None
    with fh:
        for i, raw in enumerate(fh, start=1):
            try:
                yield i, raw.decode("utf-8").rstrip("\r\n"), None
            except UnicodeDecodeError as e:
                yield i, None, f"line {i} is not UTF-8 text (byte 0x{raw[e.start]:02x}); convert the file to UTF-8."


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from .validate import validate_k, validate_question

    if args.batch and args.question:
        raise UsageError("Give either a QUESTION or --batch FILE, not both.")
    if not args.batch and args.question is None:
        raise UsageError("The question is empty: type a question about the indexed papers, or use --batch FILE.")
    filters = _filters(args)
    validate_k(args.k, settings)
    if not args.batch:
        validate_question(args.question, settings)  # before loading any model
    from .assistant import Assistant

    assistant = Assistant.open(settings, progress=not args.json)
    if not args.batch:
        _print_answer(assistant.ask(args.question, engine=args.engine, k=args.k, filters=filters), args.json)
        return 0
    status = 0
    for i, q, error in _batch_lines(args.batch):
        try:
            if error is not None:
                raise UsageError(error)
            ans = assistant.ask(q or "", engine=args.engine, k=args.k, filters=filters)
        except RagError as e:  # one bad line (or a failing engine) never stops the batch
            status = max(status, e.exit_code)
            line = {"line": i, "question": clean_text(q or "")[:200], "error": str(e)}
            print(json.dumps(line, ensure_ascii=False) if args.json else f"error (line {i}): {e}", flush=True)
            continue
        _print_answer(ans, args.json)
    return status


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from .assistant import Assistant

    assistant = Assistant.open(settings)
    filters = _filters(args)
    print(f"{assistant.store.paper_count()} papers indexed. Ask a question (empty line or Ctrl-D to quit).")
    history: list[Any] = []
    while True:
        try:
            q = input("\n? ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not q.strip():
            return 0
        try:
            ans = assistant.ask(q, engine=args.engine, k=args.k, history=history, filters=filters)
            if ans.standalone:
                print(f"(searched for: {clean_text(ans.standalone)})")
            _print_answer(ans, False)
            history.append(ans)
        except RagError as e:
            print(f"error: {e}")


def _papers(args: argparse.Namespace, settings: Settings) -> int:
    from .assistant import Assistant

    assistant = Assistant.open(settings.model_copy(update={"auto_ingest": False}))
    if args.remove:
        removed = assistant.remove(args.remove)
        print(f"removed {len(removed)} paper(s): {', '.join(removed)}")
        return 0
    rows = assistant.papers(search=args.search)
    if args.json:
        for p in rows:
            print(json.dumps(p.model_dump(exclude={"abstract", "passages"}), ensure_ascii=False))
        return 0
    print(f"{'id':<40}  {'title':<60}  {'first author':<20}  {'year':<4}  {'source':<24}  added")
    for p in rows:
        print(f"{clean_text(p.id)[:40]:<40}  {clean_text(p.title)[:60]:<60}  "
              f"{clean_text(p.authors[0] if p.authors else '')[:20]:<20}  {p.year or '':<4}  "
              f"{clean_text(p.source)[:24]:<24}  {p.added or ''}")
    print(f"({len(rows)} of {assistant.store.paper_count()} papers)")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import socket

    update = {k: v for k, v in {"server_host": args.host, "server_port": args.port}.items() if v}
    settings = settings.model_copy(update=update)
    with socket.socket(socket.AF_INET6 if ":" in settings.server_host else socket.AF_INET) as s:
        try:
            s.bind((settings.server_host, settings.server_port))
        except OSError as e:
            raise UsageError(f"Cannot serve on {settings.server_host}:{settings.server_port}: {e.strerror}. "
                             "Is another server using the port? Choose another with --port.") from None
    if settings.server_host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {settings.server_host}: reachable from other machines.", file=sys.stderr)
    from ui.app import build_app, launch

    from .assistant import Assistant

    assistant = Assistant.open(settings)
    print(f"Serving on http://{settings.server_host}:{settings.server_port}", file=sys.stderr)
    launch(build_app(assistant), settings)
    return 0


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from .corpus import CorpusRead, read_path

    read = CorpusRead()
    for p in args.paths or [settings.default_corpus]:
        read.extend(read_path(p, settings))  # every file is checked before any model loads
    from .assistant import Assistant

    assistant = Assistant.open(settings.model_copy(update={"auto_ingest": False}), progress=not args.quiet)
    print(assistant.ingest_read(read, replace=args.replace, prune=args.prune, progress=not args.quiet))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
        if args.command == "ingest":
            return _ingest(args, settings)
        if args.command == "ask":
            return _ask(args, settings)
        if args.command == "chat":
            return _chat(args, settings)
        if args.command == "serve":
            return _serve(args, settings)
        if args.command == "papers":
            return _papers(args, settings)
        if args.command == "fetch":
            from . import fetch
            from .corpus import read_path

            if args.source == "daily" and len(args.what) != 1:
                raise UsageError("rag fetch daily takes one date, e.g. 2024-08-19.")
            path = fetch.daily(args.what[0], settings, args.refresh) if args.source == "daily" else \
                fetch.arxiv(args.what, settings, args.refresh)
            read = read_path(path, settings)
            from .assistant import Assistant

            a = Assistant.open(settings.model_copy(update={"auto_ingest": False}), progress=not args.quiet)
            print(a.ingest_read(read, progress=not args.quiet))
            return 0
        if args.command == "train-verifier":
            from .models import Embedder, build_verifier

            ok = build_verifier(settings, Embedder(settings), train=True) is not None
            print("The claim verifier is ready." if ok else "The claim verifier is off (RAG_VERIFIER=false) or torch is missing.")
            return 0
        if args.command == "eval":
            from pathlib import Path

            from evals.run import run

            return run(settings, engine=args.engine, k=args.k, out=Path(args.out), peer=not args.no_peer,
                       update_baseline=args.update_baseline, tolerance=args.tolerance, limit=args.limit,
                       split=args.split, claims=args.claims, distractors=args.distractors, n_distractors=args.n)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except ValidationError as e:
        bad = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        print(f"error: invalid setting ({bad}). Check the RAG_* environment variables.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
