"""Command line: ``semantic-highlight highlight|eval|bench|train|annotate|serve|mcp|highlight-dataset``.

Each subcommand other than ``highlight`` lives in its own module, which exposes
``main(argv) -> int`` with its own argparse parser; this front only dispatches to it, importing
the module when the subcommand is used, so the core stays light.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .results import HighlightResult, mark_spans
from .splitting import DEFAULT_MAX_SENTENCE_CHARS

__all__ = ["build_parser", "main"]

_SUBCOMMANDS = {
    "eval": ("semantic_highlight.eval.cli", "evaluate models and baselines on labelled datasets"),
    "bench": ("semantic_highlight.bench", "measure speed: latency, throughput, padding, ratios"),
    "train": ("semantic_highlight.training.cli", "train or fine-tune a highlighting model"),
    "annotate": ("semantic_highlight.annotate.cli", "label (query, passage) pairs with an LLM"),
    "serve": ("semantic_highlight.serve.cli", "serve one shared model over HTTP (needs the [serve] extra)"),
    "mcp": ("semantic_highlight.mcp", "serve highlighting to MCP clients (needs the [mcp] extra)"),
    "highlight-dataset": (
        "semantic_highlight.jobs.cli",
        "highlight a corpus of (query, text) rows from JSONL/Parquet, on Ray Data or --local",
    ),
}

_MARK_ON, _MARK_OFF = "\033[1;30;43m", "\033[0m"


def _read_input(path: str) -> str:
    """The UTF-8 text of ``path`` (``-``: standard input) exactly as stored: line endings are not
    translated, so offsets index the file's characters (CRLF included), and bytes that are not UTF-8
    are an error rather than characters the locale made up."""
    if path == "-":
        if sys.stdin is None:
            raise OSError("standard input is closed; pass a file instead of '-'")
        raw = sys.stdin.buffer.read()
    else:
        raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = "standard input" if path == "-" else path
        raise ValueError(f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _render_text(result: HighlightResult, color: bool) -> str:
    """The document with each highlight between ANSI colour codes (``color``) or ``[[`` ... ``]]``."""
    on, off = (_MARK_ON, _MARK_OFF) if color else ("[[", "]]")
    return mark_spans(result.text, [(s.start, s.end, s.score) for s in result.highlights], lambda _: on, off)


def _require_stdout() -> None:
    """Fail before any work when standard output is closed (``print`` would drop everything silently)."""
    if sys.stdout is None:
        raise OSError("standard output is closed; nowhere to write the results")


def _highlight(args: argparse.Namespace) -> int:
    from . import SemanticHighlighter

    _require_stdout()
    texts = [_read_input(p) for p in args.files]
    h = SemanticHighlighter(
        model=args.model,
        device=args.device,
        dtype=args.dtype,
        threshold=args.threshold,
        fallback_threshold=args.fallback_threshold,
        relative_threshold=args.relative_threshold,
        max_sentence_chars=args.max_sentence_chars or None,
    )
    results = h.highlight(args.query, texts, top_k=args.top_k, min_score=args.min_score)
    if args.format == "json":
        payload = [{"file": f, **r.to_dict()} for f, r in zip(args.files, results, strict=True)]
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    elif args.format == "html":
        body = "\n".join(
            f"<h3>{f}</h3>\n{r.to_html(show_scores=True)}" for f, r in zip(args.files, results, strict=True)
        )
        print(f'<!doctype html><meta charset="utf-8"><body>{body}</body>')
    else:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        for f, r in zip(args.files, results, strict=True):
            if len(args.files) > 1:
                print(f"==> {f} (score {r.score:.3f}) <==")
            print(_render_text(r, color))
    sys.stdout.flush()  # a write error (a full disk, a closed pipe) is reported here, not lost at exit
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semantic-highlight", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    hl = sub.add_parser("highlight", help="highlight the sentences of files that answer a query")
    hl.add_argument("files", nargs="+", help="text files ('-' reads standard input)")
    hl.add_argument("--query", "-q", required=True)
    hl.add_argument("--model", "-m", default=None, help="checkpoint folder or hub id (default: the embedded model)")
    hl.add_argument("--threshold", "-t", type=float, default=None)
    hl.add_argument(
        "--fallback-threshold",
        type=float,
        default=None,
        help="keep a file's best sentence above this when none passes the threshold (default: the model's)",
    )
    hl.add_argument(
        "--relative-threshold",
        type=float,
        default=None,
        help="also keep sentences scoring at least this share of a kept best sentence (default: the model's)",
    )
    hl.add_argument("--top-k", type=int, default=None, help="at most this many sentences per file")
    hl.add_argument(
        "--min-score", type=float, default=None, help="select nothing in a file whose best sentence is below"
    )
    hl.add_argument(
        "--max-sentence-chars",
        type=int,
        default=DEFAULT_MAX_SENTENCE_CHARS,
        help=f"cut longer sentences (default {DEFAULT_MAX_SENTENCE_CHARS}; 0: no cap)",
    )
    hl.add_argument("--device", default=None)
    hl.add_argument("--dtype", default=None)
    hl.add_argument("--format", "-f", choices=["text", "json", "html"], default="text")
    hl.set_defaults(func=_highlight)
    for command, (module, help_text) in _SUBCOMMANDS.items():
        p = sub.add_parser(command, help=help_text, add_help=False, prefix_chars="\0")
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=_dispatch(module))
    return parser


def _dispatch(module: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module).main(args.rest) or 0)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (OSError, ValueError, TypeError) as exc:
        print(f"semantic-highlight: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
