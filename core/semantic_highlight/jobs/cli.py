"""``semantic-highlight highlight-dataset``: highlight a corpus of (query, text[, id]) rows on Ray Data or locally.

Writes ``OUTPUT/highlights/`` (one row per valid input row, ids kept) and ``OUTPUT/rejects/`` (rows that could not
be highlighted, with the reason), then prints a JSON summary. Exit status 2 on bad arguments or files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="semantic-highlight highlight-dataset",
        description="Highlight (query, text[, id]) rows of JSONL or Parquet files with an actor pool on Ray Data "
        "(or in this process with --local); writes OUTPUT/highlights and OUTPUT/rejects.",
    )
    p.add_argument("--input", "-i", required=True, nargs="+", help="JSONL or Parquet files or folders")
    p.add_argument("--output", "-o", required=True, help="output folder (its highlights/ and rejects/ must be empty)")
    p.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl", help="output format (default jsonl)")
    p.add_argument("--input-format", choices=["jsonl", "parquet"], help="default: from the file names")
    p.add_argument("--query-column", default="query")
    p.add_argument("--text-column", default="text")
    p.add_argument("--id-column", default="id", help="column of row ids, kept in the output ('' : no ids)")
    p.add_argument("--batch-size", type=int, default=None, help="rows per model call of one worker (default 256)")
    p.add_argument("--local", action="store_true", help="run in this process, without Ray")
    r = p.add_argument_group("Ray")
    r.add_argument("--ray-address", help="cluster to join (e.g. auto, ray://head:10001); default: start a local one")
    r.add_argument("--concurrency", type=int, default=1, help="actors, each with its own model (default 1)")
    r.add_argument("--num-gpus-per-worker", type=float, default=0.0, help="GPUs per actor (fractions share one)")
    r.add_argument("--num-cpus-per-worker", type=float, default=1.0, help="CPUs per actor (default 1)")
    r.add_argument("--torch-threads", type=int, help="torch threads per actor (default: torch's)")
    m = p.add_argument_group("model and selection")
    m.add_argument("--model", "-m", help="checkpoint folder or hub id (default: the embedded model)")
    m.add_argument("--device", help="cpu, cuda, mps (default: cuda > mps > cpu)")
    m.add_argument("--dtype", help="float32, bfloat16, float16, int8 (default: bf16/fp16 on GPU, fp32 on CPU)")
    m.add_argument("--max-batch-tokens", type=int, help="token budget of one model batch (default 16384)")
    m.add_argument("--threshold", "-t", type=float)
    m.add_argument("--top-k", type=int)
    m.add_argument("--min-score", type=float)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .local import DEFAULT_BATCH_SIZE, run_local
    from .rows import Columns

    options = {k: v for k in ("threshold", "top_k", "min_score") if (v := getattr(args, k)) is not None}
    try:
        columns = Columns(query=args.query_column, text=args.text_column, id=args.id_column or None)
        common: dict[str, Any] = {
            "output_format": args.format,
            "input_format": args.input_format,
            "columns": columns,
            "batch_size": args.batch_size or DEFAULT_BATCH_SIZE,
            "model": args.model,
            "device": args.device,
            "dtype": args.dtype,
            **options,
        }
        if args.local:
            if args.max_batch_tokens is not None:
                from ..highlighter import SemanticHighlighter

                common["highlighter"] = SemanticHighlighter(
                    model=args.model, device=args.device, dtype=args.dtype, max_batch_tokens=args.max_batch_tokens
                )
            summary = run_local(args.input, args.output, **common)
        else:
            try:
                from .ray_data import run_ray
            except ImportError as exc:
                print(f"semantic-highlight highlight-dataset: {exc} (or pass --local)", file=sys.stderr)
                return 2
            summary = run_ray(
                args.input,
                args.output,
                ray_address=args.ray_address,
                concurrency=args.concurrency,
                num_gpus=args.num_gpus_per_worker,
                num_cpus=args.num_cpus_per_worker,
                max_batch_tokens=args.max_batch_tokens,
                torch_threads=args.torch_threads,
                **common,
            )
    except (OSError, ValueError, TypeError) as exc:
        print(f"semantic-highlight highlight-dataset: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(summary)))
    return 0
