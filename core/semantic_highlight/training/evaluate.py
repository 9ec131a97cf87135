"""Threshold calibration on the validation split, then export to an Open Provence folder."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from semantic_highlight.datasets.types import Example
from semantic_highlight.eval.metrics import best_point, compute_metrics, sweep_f1
from semantic_highlight.models.open_provence import max_positions
from semantic_highlight.training.export import export_open_provence
from semantic_highlight.training.features import Encoding
from semantic_highlight.training.model import ProvenceModel
from semantic_highlight.training.train import TrainConfig, predict, source_dir

log = logging.getLogger("semantic_highlight.training")


def load_exported(folder: str | Path) -> tuple[ProvenceModel, Encoding, dict[str, object]]:
    """Load an exported Open Provence folder written by this package (weights upcast to fp32)."""
    folder = Path(folder)
    model = ProvenceModel.from_pretrained(folder).eval()
    cfg = json.loads((folder / "config.json").read_text())
    return model, Encoding.from_folder(folder, max_positions(model.config)), cfg


def calibrate_and_export(
    run: Path, out: Path, val: Sequence[Example], max_length: int, base_name: str | None = None
) -> float:
    """Pick the F1-best threshold on ``val`` (fp16-rounded weights), then export ``run``'s checkpoint to ``out``."""
    cfg = TrainConfig(**json.loads((run / "train_config.json").read_text()))
    src = source_dir(cfg)
    model = ProvenceModel.skeleton(src)
    state = torch.load(run / "ckpt.pt", weights_only=True)
    model.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in state["model"].items()})
    model.eval()
    enc = Encoding.from_folder(src, max_positions(model.config))
    scores = predict(model, enc, val, max_length)
    gold = [[i in e.relevant for i in range(len(e.sentences))] for e in val]
    grid = [round(0.95 - 0.01 * i, 2) for i in range(91)]  # high to low: ties go to the higher threshold
    thr, f1 = best_point(grid, sweep_f1(gold, scores, grid))
    per_lang = {}
    for lang in sorted({e.lang for e in val}):
        rows = [i for i, e in enumerate(val) if e.lang == lang]
        m = compute_metrics([gold[i] for i in rows], [[x > thr for x in scores[i]] for i in rows])
        per_lang[lang] = {"precision": m.precision, "recall": m.recall, "f1": m.f1}
    log.info("validation: threshold %.2f micro F1 %.4f %s", thr, f1, per_lang)
    export_open_provence(model, src, out, max_length, thr, base_name=base_name)
    (run / "validation.json").write_text(
        json.dumps({"threshold": thr, "f1": f1, "per_lang": per_lang, "step": state["step"], "n": len(val)}, indent=2)
    )
    return thr
