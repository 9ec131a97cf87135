"""Threshold calibration (validation split only), export, and the held-out report for the model card."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from semantic_highlight.datasets.types import Example
from semantic_highlight.training.export import export_open_provence
from semantic_highlight.training.model import ProvenceModel
from semantic_highlight.training.train import best_threshold, micro_f1, predict
from tokenizers import Tokenizer

log = logging.getLogger("semantic_highlight.training")


def load_exported(folder: str | Path) -> tuple[ProvenceModel, Tokenizer, dict[str, object]]:
    """Load an exported Open Provence folder written by this package (weights upcast to fp32)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg = json.loads((folder / "config.json").read_text())
    model = ProvenceModel(cfg["base_model_config"])
    sd = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
    model.load_state_dict(sd, strict=False)
    return model.eval(), Tokenizer.from_file(str(folder / "tokenizer.json")), cfg


def calibrate_and_export(run: Path, encoder_dir: Path, out: Path, val: Sequence[Example], max_length: int) -> float:
    """Pick the F1-best threshold on ``val`` (with fp16-rounded weights), then export to ``out``."""
    model = ProvenceModel.from_encoder(encoder_dir)
    state = torch.load(run / "ckpt.pt", weights_only=False)
    model.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in state["model"].items()})
    model.eval()
    tok = Tokenizer.from_file(str(encoder_dir / "tokenizer.json"))
    scores = predict(model, tok, val, max_length)
    thr, f1 = best_threshold(val, scores)
    per_lang = {
        lang: micro_f1(
            [e for e in val if e.lang == lang], [s for e, s in zip(val, scores, strict=True) if e.lang == lang], thr
        )
        for lang in sorted({e.lang for e in val})
    }
    log.info("validation: threshold %.2f micro F1 %.4f %s", thr, f1, per_lang)
    export_open_provence(model, encoder_dir / "tokenizer.json", out, max_length, thr)
    (run / "validation.json").write_text(
        json.dumps({"threshold": thr, "f1": f1, "per_lang": per_lang, "step": state["step"], "n": len(val)}, indent=2)
    )
    return thr


_WORD = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]")
_STOP_WORDS = (
    "the a an of in on at to is was were are be by for with and or what who when where which how why did does do"
    " that this it as from its his her their 的 了 是 在 和 有 什 么 哪 谁 多 少 几 吗 呢"
)
_STOP = frozenset(_STOP_WORDS.split(" "))


def keyword_scores(query: str, sentences: Sequence[str]) -> list[float]:
    """Keyword baseline: share of the query's content words/characters found in each sentence."""
    q = {w for w in _WORD.findall(query.lower()) if w not in _STOP}
    out = []
    for s in sentences:
        words = set(_WORD.findall(s.lower()))
        out.append(len(q & words) / max(len(q), 1))
    return out


def evaluate_heldout(
    folder: Path,
    data_dir: str,
    out_json: Path,
    e5_dir: Path | None,
    limit: int | None = None,
    val: Sequence[Example] | None = None,
) -> dict[str, object]:
    """Micro F1 of the exported model at its default threshold on the held-out sets, plus baselines."""
    from semantic_highlight.training.heldout import heldout_sets

    model, tok, cfg = load_exported(folder)
    thr = float(cfg["default_threshold"])  # type: ignore[arg-type]
    max_length = int(cfg["max_length"])  # type: ignore[call-overload]
    emb = None
    if e5_dir is not None and Path(e5_dir).exists():
        from semantic_highlight.training.e5_embed import load_embedder

        emb = load_embedder(e5_dir)
    report: dict[str, object] = {"threshold": thr}
    for name, exs in heldout_sets(data_dir, limit).items():
        t0 = time.time()
        scores = predict(model, tok, exs, max_length)
        res: dict[str, object] = {
            "n": len(exs),
            "model": micro_f1(exs, scores, thr),
            "model_best_threshold": best_threshold(exs, scores),
            "seconds": round(time.time() - t0, 1),
        }
        kw = [keyword_scores(e.query, e.sentences) for e in exs]
        res["keyword_oracle_threshold"] = best_threshold(exs, kw)
        if emb is not None:
            cs = []
            for e in exs:
                q = emb.queries([e.query])
                s = emb.passages([x.strip() or x for x in e.sentences])
                cs.append((s @ q[0]).tolist())
            res["e5_cosine_oracle_threshold"] = best_threshold(exs, cs)
        report[name] = res
        log.info("%s: %s", name, json.dumps(res))
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(report, indent=2))
    return report
