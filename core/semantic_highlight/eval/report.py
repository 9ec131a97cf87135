"""Render a :class:`ResultTable`: console table, JSON, Markdown, threshold–F1 sweep plots (PNG); the HTML report
is :mod:`semantic_highlight.eval.html_report`."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from semantic_highlight.eval.runner import Curve, ResultRow, ResultTable

__all__ = [
    "format_table",
    "plot_sweeps",
    "savings_markdown",
    "to_markdown",
    "write_all",
    "write_json",
    "write_markdown",
]

_CURVE_POINTS = (0.1, 0.3, 0.5, 0.7, 0.9)
"""Where along each sweep grid the savings curve is tabulated (threshold 0.1, 0.3, ... for checkpoints)."""

_COLUMNS = ("dataset", "lang", "n", "model", "thr", "P", "R", "F1", "F2", "macro F1", "kept", "gold", "sent/s")


def _operating_point(r: ResultRow) -> str:
    """``thr``, ``thr (fallback)``, ``thr (fallback, xratio)``."""
    extra = [f"{r.fallback_threshold:.3g}"] if r.fallback_threshold is not None else []
    extra += [f"x{r.relative_threshold:.3g}"] if r.relative_threshold is not None else []
    return f"{r.threshold:.3g}" + (f" ({', '.join(extra)})" if extra else "")


def _cells(r: ResultRow, sweep: bool) -> list[str]:
    m = r.metrics
    cells = [
        r.dataset,
        r.lang,
        str(m.n_examples),
        r.model,
        _operating_point(r),
        f"{m.precision:.3f}",
        f"{m.recall:.3f}",
        f"{m.f1:.3f}",
        f"{m.f2:.3f}",
        f"{m.macro_f1:.3f}",
        f"{m.kept_ratio:.3f}",
        f"{m.gold_ratio:.3f}",
        f"{r.sentences_per_s:,.0f}",
    ]
    if sweep:
        cells += [
            f"{r.best_threshold:.3g}" if r.best_threshold is not None else "",
            f"{r.best_f1:.3f}" if r.best_f1 is not None else "",
        ]
    return cells


def _header(table: ResultTable) -> list[str]:
    sweep = bool(table.meta.get("sweep"))
    return [*_COLUMNS, *(("best thr", "best F1") if sweep else ())]


def format_table(table: ResultTable) -> str:
    """A fixed-width text table (one line per dataset × model)."""
    sweep = bool(table.meta.get("sweep"))
    rows = [_header(table), *(_cells(r, sweep) for r in table.rows)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i in (0, 1, 3) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    out = "\n".join(lines)
    saved = [r for r in table.rows if r.savings]
    if saved:
        out += "\n\ncontext kept vs gold kept at the default selection (tokens: ~ = approximate, no tokenizer):\n"
        out += "\n".join(
            f"  {r.dataset:<14} {r.model:<12} tokens kept {r.savings['tokens_kept']:6.1%}{_approx(r)}  "
            f"chars kept {r.savings['chars_kept']:6.1%}  gold recall {r.savings['gold_recall']:.3f}  "
            f"answers kept {r.savings['answers_kept']:6.1%}"
            for r in saved
        )
    if table.skipped:
        out += "\n" + "\n".join(f"skipped: {s}" for s in table.skipped)
    return out


def _approx(r: ResultRow) -> str:
    return "~" if r.savings.get("token_counter") == "approx" else ""


def _curve_cells(c: Curve) -> list[str]:
    """``threshold: tokens kept / gold recall`` at :data:`_CURVE_POINTS` along the curve's grid."""
    if not c.savings or not c.thresholds:
        return [""] * len(_CURVE_POINTS)
    last = len(c.thresholds) - 1
    cells = []
    for q in _CURVE_POINTS:
        i = round(q * last)
        cells.append(f"{c.thresholds[i]:.3g}: {c.savings['tokens_kept'][i]:.0%} / {c.savings['gold_recall'][i]:.2f}")
    return cells


def savings_markdown(table: ResultTable) -> list[str]:
    """Markdown lines: context tokens kept vs gold kept per dataset and model, and (after a sweep) the
    same trade-off along each threshold curve. Empty when no row has savings (an older results.json)."""
    rows = [r for r in table.rows if r.savings]
    if not rows:
        return []
    head = ["dataset", "lang", "model", "context tokens", "tokens kept", "saved", "chars kept", "gold recall"]
    lines = ["", "### Context kept vs answers kept", "", _md_row([*head, "answers kept", "F1"])]
    lines.append(_md_row(["---"] * (len(head) + 2)))
    for r in rows:
        v = r.savings
        lines.append(
            _md_row(
                [
                    r.dataset,
                    r.lang,
                    r.model,
                    f"{v['context_tokens']:,}{_approx(r)}",
                    f"{v['tokens_kept']:.1%}",
                    f"{1 - v['tokens_kept']:.1%}",
                    f"{v['chars_kept']:.1%}",
                    f"{v['gold_recall']:.3f}",
                    f"{v['answers_kept']:.1%}",
                    f"{r.metrics.f1:.3f}",
                ]
            )
        )
    lines += [
        "",
        "At each model's default selection. tokens / chars kept: the selected sentences' share of all the "
        "context's tokens / characters (the examples' non-blank sentences, summed over the dataset); saved = "
        "1 - tokens kept. Tokens: the model's own tokenizer (subword tokens, no special tokens); ~: "
        "approximated for baselines, which have none (one per CJK character, one per four other characters). "
        "gold recall: share of gold sentences selected; answers kept: share of examples with a gold sentence "
        "that keep at least one.",
    ]
    curves = [c for c in table.curves if c.savings]
    if curves:
        lines += [
            "",
            "#### Across thresholds (threshold: tokens kept / gold recall)",
            "",
            _md_row(["dataset", "model", *(f"{q:.0%} of grid" for q in _CURVE_POINTS)]),
            _md_row(["---"] * (2 + len(_CURVE_POINTS))),
        ]
        lines += [_md_row([c.dataset, c.model, *_curve_cells(c)]) for c in curves]
        lines += [
            "",
            "Each point moves the threshold only and keeps the model's fallback and relative threshold, as at "
            "its default. Checkpoints sweep 0-1 (the columns are thresholds 0.1, 0.3, ... 0.9); baselines "
            "sweep their score quantiles.",
        ]
    return lines


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def to_markdown(table: ResultTable, command: str | None = None) -> str:
    """F1 matrix (dataset × model), the full table, datasets with their drops, models, notes."""
    sweep = bool(table.meta.get("sweep"))
    models = list(dict.fromkeys(r.model for r in table.rows))
    datasets = list(dict.fromkeys(r.dataset for r in table.rows))
    lines = ["## Evaluation results", ""]
    meta = table.meta
    earlier = meta.get("merged_with") or {}
    commands = [c for c in (earlier.get("command"), command or meta.get("command")) if c]
    if commands:
        lines += ["```", *commands, "```", ""]
    wall = f"wall time {meta.get('wall_seconds', '?')} s"
    if earlier:
        wall += f" + {earlier.get('wall_seconds', '?')} s (earlier run merged in with --append)"
    lines += [
        f"{meta.get('date', '')}, {meta.get('machine', '')}, {wall} (scoring only). Sentence-level micro F1; "
        "every model sees the same pre-split sentences.",
        "",
    ]
    lines += [_md_row(["dataset", "lang", "n", *models]), _md_row(["---"] * (3 + len(models)))]
    for d in datasets:
        rs = {r.model: r for r in table.rows if r.dataset == d}
        first = next(iter(rs.values()))
        best = max(r.metrics.f1 for r in rs.values())
        vals = [
            (f"**{rs[m].metrics.f1:.3f}**" if rs[m].metrics.f1 == best and len(rs) > 1 else f"{rs[m].metrics.f1:.3f}")
            if m in rs
            else ""
            for m in models
        ]
        lines.append(_md_row([d, first.lang, str(first.metrics.n_examples), *vals]))
    lines += ["", "### All metrics", "", _md_row(_header(table)), _md_row(["---"] * len(_header(table)))]
    lines += [_md_row(_cells(r, sweep)) for r in table.rows]
    lines += [
        "",
        "P/R/F1/F2: micro over all sentences; macro F1: mean per example (an example with no gold "
        "sentence scores 1 when nothing is selected); kept: mean share of sentences selected; gold: mean "
        "share of gold sentences; sent/s: sentences scored per second (batched, this machine). thr (x): "
        "a document with no sentence above thr keeps its best one when it scores above x; thr (x, xr): "
        "a kept best sentence also brings every sentence scoring at least r times it.",
    ]
    if sweep:
        lines.append(
            "best thr / best F1: the threshold with the highest micro F1 on this dataset itself "
            "(an oracle operating point, not a tuned one)."
        )
    lines += savings_markdown(table)
    typed = [r for r in table.rows if r.by_type]
    if typed:
        lines += ["", "### By query type (our out-of-domain sets)", "",
                  _md_row(["dataset", "model", "query type", "n", "F1", "macro F1", "kept"]),
                  _md_row(["---"] * 7)]  # fmt: skip
        for r in typed:
            for kind, v in r.by_type.items():
                lines.append(_md_row([r.dataset, r.model, kind, str(int(v["n"])), f"{v['f1']:.3f}",
                                      f"{v['macro_f1']:.3f}", f"{v['kept_ratio']:.3f}"]))  # fmt: skip
        lines += ["", "unanswerable: F1 is 1.0 only when nothing is selected in any of them (macro F1: the share "
                  "of such examples left untouched)."]  # fmt: skip
    lines += ["", "### Datasets", ""]
    if meta.get("data_dir"):
        lines += [f"Shared data folder: `{meta['data_dir']}`; `benchmarks/data` is in this repository.", ""]
    for info in table.datasets:
        drops = ", ".join(f"{k} {v}" for k, v in sorted(info["dropped"].items())) or "none"
        extra = f"; {info['note']}" if info.get("note") else ""
        lines.append(
            f"- **{info['name']}** ({info['lang']}): {info['n_examples']} examples, {info['n_sentences']} sentences, "
            f"{info['with_gold']} with gold; dropped: {drops}{extra}. Source: `{info['source']}`"
        )
    lines += ["", "### Models", ""] + [f"- **{k}**: {v}" for k, v in table.models.items()]
    if table.skipped:
        lines += ["", "### Skipped", ""] + [f"- {s}" for s in table.skipped]
    return "\n".join(lines) + "\n"


def write_json(table: ResultTable, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(table.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return p


def write_markdown(table: ResultTable, path: str | Path, command: str | None = None) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(to_markdown(table, command), encoding="utf-8")
    return p


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def plot_sweeps(table: ResultTable, out_dir: str | Path) -> list[Path]:
    """``sweep.png`` (one panel per dataset) and ``sweep_<dataset>.png``: micro F1 against threshold,
    a line per model, its best point marked (●) and its operating threshold (×)."""
    from semantic_highlight.eval.figures import sweep_figure

    out = Path(out_dir)
    fig = sweep_figure(table)
    if fig is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "sweep.png"]
    fig.savefig(paths[-1], dpi=110)
    _close(fig)
    for d in dict.fromkeys(c.dataset for c in table.curves):
        fig = sweep_figure(table, [d], cols=1, panel=(5.5, 4), title=None)
        if fig is not None:
            paths.append(out / f"sweep_{_slug(d)}.png")
            fig.savefig(paths[-1], dpi=110)
            _close(fig)
    return paths


def _close(fig: Any) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


def write_all(table: ResultTable, out_dir: str | Path, command: str | None = None) -> list[Path]:
    """``results.json``, ``results.md``, ``results.html`` (self-contained: table, curves, sample cases) and, after
    a sweep, the PNG curves under ``out_dir``."""
    from semantic_highlight.eval.html_report import write_html

    out = Path(out_dir)
    return [
        write_json(table, out / "results.json"),
        write_markdown(table, out / "results.md", command),
        write_html(table, out / "results.html", command),
        *plot_sweeps(table, out),
    ]
