"""Selection calibration (threshold, fallback and relative thresholds) on the validation split, then export
to an Open Provence folder.

Validation examples are scored by the engine on the exported folder, so the thresholds are picked on
exactly the scores users get (fp16 weights, the engine's windows and aggregation).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from semantic_highlight.datasets.types import Example
from semantic_highlight.eval.metrics import best_point, sweep_f1
from semantic_highlight.eval.runner import HighlighterScorer, labelled_scores
from semantic_highlight.models.base import read_json
from semantic_highlight.models.open_provence import selection_defaults
from semantic_highlight.training.data import drop_training_pairs
from semantic_highlight.training.export import export_open_provence, set_default_thresholds
from semantic_highlight.training.model import ProvenceModel
from semantic_highlight.training.train import TrainConfig, source_dir

log = logging.getLogger("semantic_highlight.training")

FALLBACKS: tuple[float | None, ...] = (None, *(round(0.4 - 0.05 * i, 2) for i in range(8)))
"""Fallback thresholds tried at calibration: none first, then high to low (ties keep the earlier)."""

RELATIVES: tuple[float | None, ...] = (None, *(round(0.95 - 0.05 * i, 2) for i in range(10)))
"""Relative thresholds tried at calibration: none first, then 0.95 down to 0.5 (ties keep the earlier)."""


class Calibration(NamedTuple):
    """A selection operating point and its micro F1 on the validation split."""

    threshold: float
    fallback_threshold: float | None
    relative_threshold: float | None
    f1: float


Point = tuple[float, float | None, float | None]
"""(threshold, fallback threshold, relative threshold): a selection rule's operating point."""

MIN_CALIBRATION_EXAMPLES = 20
"""Fewer answerable validation examples than this and export keeps the starting model's thresholds:
on a handful of examples the F1-best point is noise (often threshold 0.95, which highlights nothing)."""


def calibrate(
    scores: Sequence[Sequence[float]],
    gold: Sequence[Sequence[bool]],
    prefer: Point | None = None,
    fallbacks: Sequence[float | None] = FALLBACKS,
) -> Calibration:
    """The threshold, fallback and relative thresholds with the best micro F1 on validation scores.

    ``prefer`` (e.g. the starting model's defaults) wins when it reaches that F1. Other ties go to the
    higher threshold, to no relative threshold then the higher one, and to no fallback then the
    higher one: the simplest rule that reaches the F1. ``fallbacks``: the fallback thresholds tried.
    """
    grid = [round(0.95 - 0.01 * i, 2) for i in range(91)]  # high to low: ties go to the higher threshold
    best: Calibration | None = None
    for relative in RELATIVES:
        for fallback in fallbacks:
            thr, f1 = best_point(grid, sweep_f1(gold, scores, grid, fallback, relative))
            if best is None or f1 > best.f1 + 1e-9:
                best = Calibration(thr, fallback, relative, f1)
    assert best is not None
    if prefer is not None:
        f1 = sweep_f1(gold, scores, [prefer[0]], prefer[1], prefer[2])[0]
        if f1 >= best.f1 - 1e-9:
            return Calibration(*prefer, f1)
    return best


def check_validation(val: Sequence[Example], train: Sequence[Example] = ()) -> list[str]:
    """Warnings about a validation split used to calibrate; ``ValueError`` when it cannot calibrate at all.

    Run before training, so a split that cannot pick thresholds stops the run before hours of training.
    """
    if not val:
        raise ValueError("no validation example to pick the thresholds (give --val-file, or a --val-share > 0)")
    answerable = sum(bool(e.relevant) for e in val)
    if not answerable:
        raise ValueError(
            f"none of the {len(val)} validation examples has a relevant sentence, so F1 cannot pick thresholds"
        )
    warnings = []
    if answerable < MIN_CALIBRATION_EXAMPLES:
        warnings.append(
            f"only {answerable} validation examples have a relevant sentence (fewer than"
            f" {MIN_CALIBRATION_EXAMPLES}): export keeps the starting model's thresholds instead of calibrating"
        )
    if all(len(e.relevant) == len(e.sentences) for e in val):
        warnings.append("every validation sentence is relevant: calibration will pick the lowest threshold")
    if answerable == len(val):
        warnings.append(
            'no validation example is a chunk that does not answer ("relevant": []): export keeps the starting'
            " model's fallback threshold, which such chunks alone can measure; add some to calibrate it"
        )
    if train and not any(e.relevant for e in train):
        warnings.append("no training example has a relevant sentence: the model can only learn to highlight nothing")
    missing = sorted({e.lang for e in train} - {e.lang for e in val})
    if missing:
        warnings.append(f"no validation example in {', '.join(missing)}: thresholds are not checked on that language")
    shared = len(drop_training_pairs(list(val), list(train))[1])
    if shared:
        warnings.append(
            f"{shared} of the {len(val)} validation examples are also training examples: their F1 is optimistic"
            " and the thresholds fit what the model memorised"
        )
    return warnings


def split_digest(val: Sequence[Example]) -> str:
    """A short digest of a validation split (queries, texts, labels), to tell two splits apart."""
    h = hashlib.sha256()
    for e in val:
        h.update(json.dumps([e.query, e.text, sorted(e.relevant)], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def starting_point(cfg: TrainConfig) -> Point:
    """The selection defaults a run starts from: its ``--init-from`` model's, else export's (0.5, none, none)."""
    if not cfg.init_from:
        return (0.5, None, None)
    folder = Path(cfg.init_from)
    return selection_defaults(read_json(folder / "config.json"), folder)


def _validation_scores(
    folder: Path, val: Sequence[Example]
) -> tuple[HighlighterScorer, list[list[bool]], list[list[float]]]:
    """The engine on ``folder`` (CPU fp32: the scores and default thresholds users get), and the gold
    labels and scores of ``val``."""
    scorer = HighlighterScorer(folder, device="cpu", dtype="float32")
    return (scorer, *labelled_scores(val, scorer.score(val)))


def validate_model(folder: Path, val: Sequence[Example]) -> dict[str, object]:
    """F1 of ``folder`` on ``val`` at its own default thresholds, and the best pair :func:`calibrate` finds.

    Compares models on one validation split (e.g. the shipped model against a new run) without exporting.
    """
    scorer, gold, scores = _validation_scores(folder, val)
    # the selection defaults as the engine resolves them from the checkpoint
    own = (scorer.threshold, scorer.fallback_threshold, scorer.relative_threshold)
    return _validation_row(folder, own, gold, scores)


def _validation_row(
    folder: Path,
    own: tuple[float, float | None, float | None],
    gold: Sequence[Sequence[bool]],
    scores: Sequence[Sequence[float]],
    best: Calibration | None = None,
) -> dict[str, object]:
    """One row of ``validate.json``: F1 at the model's own (threshold, fallback, relative) and at the best
    calibration (``best`` when the caller has just computed it)."""
    thr, fallback, relative = own
    best = best or calibrate(scores, gold)
    return {
        "model": str(folder),
        "threshold": thr,
        "fallback_threshold": fallback,
        "relative_threshold": relative,
        "f1": sweep_f1(gold, scores, [thr], fallback, relative)[0],
        "best_threshold": best.threshold,
        "best_fallback_threshold": best.fallback_threshold,
        "best_relative_threshold": best.relative_threshold,
        "best_f1": best.f1,
        "n": len(gold),
    }


def calibrate_and_export(
    run: Path, out: Path, val: Sequence[Example], max_length: int, base_name: str | None = None
) -> dict[str, object]:
    """Export ``run``'s checkpoint to ``out``, then set its selection defaults to the F1-best point
    :func:`calibrate` finds on ``val`` (ties: the starting model's); returns ``out``'s :func:`validate_model`
    row, from the same scores.

    With fewer than :data:`MIN_CALIBRATION_EXAMPLES` answerable examples the starting model's defaults are
    kept (logged as a warning; ``calibrated: false`` in ``validation.json``)."""
    cfg = TrainConfig(**json.loads((run / "train_config.json").read_text()))
    src = source_dir(cfg)
    start = starting_point(cfg)  # read before export: --out may be the --init-from folder
    model = ProvenceModel.skeleton(src)
    state = torch.load(run / "ckpt.pt", weights_only=True, map_location="cpu")
    model.load_state_dict(state["model"])
    export_open_provence(model.eval(), src, out, max_length, 0.5, base_name=base_name)
    _, gold, scores = _validation_scores(out, val)
    answerable = sum(any(g) for g in gold)
    calibrated = answerable >= MIN_CALIBRATION_EXAMPLES
    negatives = any(not any(g) for g in gold)  # without them a low fallback costs nothing on validation
    if calibrated:
        point = calibrate(scores, gold, prefer=start, fallbacks=FALLBACKS if negatives else (start[1],))
    else:
        point = Calibration(*start, sweep_f1(gold, scores, [start[0]], start[1], start[2])[0])
        log.warning(
            "only %d answerable validation examples: kept the starting thresholds %s (calibration needs %d)",
            answerable,
            start,
            MIN_CALIBRATION_EXAMPLES,
        )
    thr, fallback, relative = point.threshold, point.fallback_threshold, point.relative_threshold
    set_default_thresholds(out, thr, fallback, relative)
    per_lang = {}
    for lang in sorted({e.lang for e in val}):
        rows = [i for i, e in enumerate(val) if e.lang == lang]
        per_lang[lang] = {
            "f1": sweep_f1([gold[i] for i in rows], [scores[i] for i in rows], [thr], fallback, relative)[0]
        }
    log.info(
        "validation: threshold %.2f fallback %s relative %s micro F1 %.4f %s",
        thr,
        fallback,
        relative,
        point.f1,
        per_lang,
    )
    summary = {
        "threshold": thr,
        "fallback_threshold": fallback,
        "relative_threshold": relative,
        "f1": point.f1,
        "f1_without_fallback": sweep_f1(gold, scores, [thr])[0],
        "per_lang": per_lang,
        "calibrated": calibrated,
        "fallback_calibrated": calibrated and negatives,
        "split": split_digest(val),
        "step": state["step"],
        "n": len(val),
    }
    (run / "validation.json").write_text(json.dumps(summary, indent=2))
    return _validation_row(out, (thr, fallback, relative), gold, scores, point if calibrated else None)
