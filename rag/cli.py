"""The `rag` command: a thin adapter over `Assistant`.

    rag ingest [PATH ...]                     add papers (default: the bundled corpus)
    rag ask "QUESTION" [--json] [--engine E] [--k N]
    rag ask --json --batch FILE|-             one question per line, one JSON per line
    rag chat                                  an interactive question loop
    rag papers [--search TEXT]                list the indexed papers
    rag serve [--host H] [--port P]           the web app (default http://127.0.0.1:7860)
    rag eval [--engine E] [--out DIR]         the regression eval and its report

Expected failures (`RagError`) print one line to stderr and exit non-zero (2 for bad
input); no traceback reaches the user for them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable

from pydantic import ValidationError

from .assistant import Assistant, validate_question
from .errors import RagError, UsageError
from .settings import ENGINES, Settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag", description="Ask questions about research papers; every claim is cited.")
    sub = p.add_subparsers(dest="command", required=True)

    ing = sub.add_parser("ingest", help="add papers from .txt (Daily Papers) or .jsonl files")
    ing.add_argument("paths", nargs="*", help="corpus files (default: the bundled corpus)")
    ing.add_argument("--quiet", action="store_true", help="no progress bar")

    ask = sub.add_parser("ask", help="answer a question with cited abstracts")
    ask.add_argument("question", nargs="?", help="the question (omit with --batch)")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    ask.add_argument("--batch", metavar="FILE", help="read one question per line from FILE ('-' = stdin)")
    ask.add_argument("--engine", choices=ENGINES, help="answer engine (default: settings / auto)")
    ask.add_argument("--k", type=int, help="papers to retrieve")

    chat = sub.add_parser("chat", help="interactive question loop")
    chat.add_argument("--engine", choices=ENGINES)
    chat.add_argument("--k", type=int)

    serve = sub.add_parser("serve", help="start the web app (Gradio)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network)")
    serve.add_argument("--port", type=int, help="port (default 7860)")

    ev = sub.add_parser("eval", help="run the regression eval on the bundled corpus")
    ev.add_argument("--engine", choices=ENGINES, default="extractive")
    ev.add_argument("--k", type=int, help="papers to retrieve")
    ev.add_argument("--out", default="evals/reports", help="report directory")
    ev.add_argument("--update-baseline", action="store_true", help="rewrite evals/baseline.json with this run")
    ev.add_argument("--tolerance", type=float, default=0.02, help="allowed drop below the baseline")
    ev.add_argument("--no-peer", action="store_true", help="skip the plain llama-index peer")
    ev.add_argument("--limit", type=int, help="only the first N questions (no regression check)")

    pap = sub.add_parser("papers", help="list the indexed papers")
    pap.add_argument("--search", default="", help="only titles or ids containing this text")
    return p


def _print_answer(answer, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        print(answer.to_json(), flush=True)
        return
    print(answer.text)
    if answer.refused:
        close = ", ".join(s.paper.title for s in answer.sources[:3])
        if close:
            print(f"\nClosest matches: {close}")
    for c in answer.citations:
        print(f"\n[{c.n}] {c.title} ({c.paper_id})\n    \u201c{c.quote}\u201d")
    print(f"\n({answer.engine}, {answer.timings_ms.get('total', 0):.0f} ms)", flush=True)


def _batch_lines(name: str) -> Iterable[str]:
    if name == "-":
        yield from sys.stdin
        return
    try:
        with open(name, encoding="utf-8") as fh:
            yield from fh
    except OSError as e:
        raise UsageError(f"Cannot read the batch file {name}: {e.strerror}. Pass a text file with one question per line, or - for stdin.") from None


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    if args.batch and args.question:
        raise UsageError("Give either a QUESTION or --batch FILE, not both.")
    if args.k is not None and args.k < 1:
        raise UsageError(f"--k must be at least 1, got {args.k}.")
    if not args.batch:
        validate_question(args.question or "", settings)  # before loading any model
    assistant = Assistant.open(settings, progress=not args.json)
    if not args.batch:
        _print_answer(assistant.ask(args.question, engine=args.engine, k=args.k), args.json)
        return 0
    status = 0
    for line in _batch_lines(args.batch):
        q = line.strip()
        if not q:
            continue
        try:
            ans = assistant.ask(q, engine=args.engine, k=args.k)
        except UsageError as e:
            status = 2
            print(json.dumps({"question": q[:200], "error": str(e)}) if args.json else f"error: {e}", flush=True)
            continue
        _print_answer(ans, args.json)
    return status


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    assistant = Assistant.open(settings)
    print(f"{len(assistant.papers())} papers indexed. Ask a question (empty line or Ctrl-D to quit).")
    while True:
        try:
            q = input("\n? ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not q.strip():
            return 0
        try:
            _print_answer(assistant.ask(q, engine=args.engine, k=args.k), False)
        except RagError as e:
            print(f"error: {e}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
        if args.command == "ingest":
            assistant = Assistant.open(settings.model_copy(update={"auto_ingest": False}), progress=not args.quiet)
            report = assistant.ingest(*args.paths, progress=not args.quiet)
            print(report)
            return 0
        if args.command == "ask":
            return _ask(args, settings)
        if args.command == "chat":
            return _chat(args, settings)
        if args.command == "serve":
            update = {k: v for k, v in {"server_host": args.host, "server_port": args.port}.items() if v}
            settings = Settings(**{**settings.model_dump(), **update})
            if settings.server_host not in ("127.0.0.1", "localhost", "::1"):
                print(f"warning: serving on {settings.server_host}: reachable from other machines.", file=sys.stderr)
            from ui.app import build_app, launch

            assistant = Assistant.open(settings)
            print(f"Serving on http://{settings.server_host}:{settings.server_port}", file=sys.stderr)
            launch(build_app(assistant), settings)
            return 0
        if args.command == "eval":
            from pathlib import Path

            from evals.run import run

            return run(settings, engine=args.engine, k=args.k, out=Path(args.out), peer=not args.no_peer,
                       update_baseline=args.update_baseline, tolerance=args.tolerance, limit=args.limit)
        if args.command == "papers":
            needle = args.search.lower()
            for p in Assistant.open(settings).papers():
                if needle in p.title.lower() or needle in p.id.lower():
                    print(f"{p.id}\t{p.title}")
            return 0
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
