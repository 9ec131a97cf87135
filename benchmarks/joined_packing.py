"""Joined passages (XQuAD passages among 2-4 others): paragraph windows (the default) vs greedy packing, one run.

Evaluates the same checkpoint twice on ``xquad-en-joined`` / ``xquad-zh-joined``, once with
``SemanticHighlighter(paragraph_windows=False)``, and prints micro precision / recall / F1 per set and packing.

    python benchmarks/joined_packing.py --limit 300     # the README rows (default model, ~15 min on 2 cores)
    python benchmarks/joined_packing.py --limit 20 --model ../shared/fixtures/op-tiny-xlmr   # smoke run
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from semantic_highlight.eval.runner import HighlighterScorer, evaluate


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--model", default=None, help="a checkpoint folder (default: the embedded model)")
    p.add_argument("--dataset", nargs="+", default=["xquad-en-joined", "xquad-zh-joined"])
    p.add_argument("--limit", type=int, default=300, help="examples per set (evenly spaced)")
    args = p.parse_args(argv)
    paragraph = HighlighterScorer(args.model, name="paragraph windows")
    greedy = HighlighterScorer(args.model, name="greedy packing")
    greedy.highlighter.paragraph_windows = False
    table = evaluate([paragraph, greedy], args.dataset, limit=args.limit)
    print("| set | packing | n | precision | recall | micro F1 |")
    print("|---|---|---:|---:|---:|---:|")
    for row in table.rows:
        m = row.metrics
        print(f"| {row.dataset} | {row.model} | {m.n_examples} | {m.precision:.3f} | {m.recall:.3f} | {m.f1:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
