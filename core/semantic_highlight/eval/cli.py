"""``semantic-highlight eval``: evaluate models and baselines on labelled datasets.

Examples::

    semantic-highlight eval --dataset suite --baselines --out eval_out/
    semantic-highlight eval --model default --model path/to/ckpt --dataset xquad-zh my.jsonl --sweep
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from semantic_highlight.eval.suite import DATASETS

    p = argparse.ArgumentParser(prog="semantic-highlight eval", description=__doc__.splitlines()[0])
    p.add_argument(
        "--model",
        "-m",
        action="append",
        default=None,
        metavar="PATH_OR_NAME",
        help="checkpoint folder, hub id, 'default' (the embedded model), 'keyword' or 'embedding'; "
        "repeatable (default: 'default')",
    )
    p.add_argument(
        "--dataset",
        "-d",
        nargs="+",
        action="extend",
        default=None,
        metavar="NAME_OR_FILE",
        help=f"'suite', one of {', '.join(DATASETS)}, or a file (.jsonl ours, .tsv WikiQA, .json) (default: suite)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--threshold",
        "-t",
        type=float,
        default=None,
        help="threshold for checkpoint models (baselines keep their own operating points)",
    )
    g.add_argument("--sweep", action="store_true", help="also sweep thresholds: F1 curves (PNG) and best points")
    p.add_argument(
        "--fallback-threshold",
        type=float,
        default=None,
        help="checkpoint models: keep a document's best sentence above this when none passes the threshold "
        "(default: the checkpoint's; 1 turns it off)",
    )
    p.add_argument(
        "--relative-threshold",
        type=float,
        default=None,
        help="checkpoint models: once a document's best sentence is kept, also keep sentences scoring at least "
        "this share of it (default: the checkpoint's; 1 turns it off)",
    )
    p.add_argument("--baselines", action="store_true", help="also run the keyword and embedding baselines")
    p.add_argument(
        "--out", "-o", default=None, metavar="DIR", help="write results.json, results.md, results.html (and PNGs) here"
    )
    p.add_argument(
        "--append",
        action="store_true",
        help="merge into DIR/results.json of an earlier run (this run's model x dataset pairs replace old ones)",
    )
    p.add_argument(
        "--limit", type=int, default=None, metavar="N", help="at most N examples per dataset (evenly spaced)"
    )
    p.add_argument("--data-dir", default=None, help="shared data folder (default: ../shared/data)")
    p.add_argument("--e5", default=None, metavar="DIR", help="converted e5 encoder for the embedding baseline")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--quiet", "-q", action="store_true", help="no loader logs")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    from semantic_highlight.eval.report import format_table, write_all
    from semantic_highlight.eval.runner import ResultTable, evaluate
    from semantic_highlight.options import SelectionOptions

    models = list(args.model or ["default"])
    if args.baselines:
        models += [m for m in ("keyword", "embedding") if m not in models]
    if args.limit is not None and args.limit < 1:
        print("semantic-highlight eval: error: --limit must be >= 1", file=sys.stderr)
        return 2
    started = time.perf_counter()
    command = "semantic-highlight eval " + shlex.join(list(argv) if argv is not None else sys.argv[1:])
    previous = None
    if args.append and args.out and (Path(args.out) / "results.json").is_file():
        previous = ResultTable.from_dict(json.loads((Path(args.out) / "results.json").read_text(encoding="utf-8")))

    def finish(table: ResultTable) -> ResultTable:
        table.meta["command"] = command
        return previous.merge(table) if previous is not None else table

    def save_partial(table: ResultTable) -> None:
        if args.out:
            from semantic_highlight.eval.report import write_json, write_markdown

            merged = finish(table)
            write_json(merged, Path(args.out) / "results.json")
            write_markdown(merged, Path(args.out) / "results.md")

    try:
        selection = SelectionOptions(
            threshold=args.threshold,
            fallback_threshold=args.fallback_threshold,
            relative_threshold=args.relative_threshold,
        )
        table = evaluate(
            models,
            args.dataset or ["suite"],
            selection,
            sweep=args.sweep,
            progress=not args.no_progress,
            data_dir=args.data_dir,
            limit=args.limit,
            device=args.device,
            dtype=args.dtype,
            e5_dir=args.e5,
            on_result=save_partial,
        )
    except (OSError, ValueError) as exc:  # a missing or unreadable file, a corrupt model, a bad option
        print(f"semantic-highlight eval: error: {exc}", file=sys.stderr)
        return 2
    table.meta["total_seconds"] = round(time.perf_counter() - started, 1)
    table = finish(table)
    print(format_table(table))
    if not table.rows:
        print("semantic-highlight eval: nothing was evaluated", file=sys.stderr)
        return 1
    if args.out:
        for path in write_all(table, args.out):
            print(f"wrote {path}")
    print(f"total wall time {table.meta['total_seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
