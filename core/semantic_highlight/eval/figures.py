"""Matplotlib figures of a :class:`ResultTable`'s sweep curves: micro F1 against threshold, and context tokens kept
against gold recall. Used by the eval's PNGs and HTML report and by ``scripts/make_readme_images.py``."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from semantic_highlight.eval.runner import Curve, ResultTable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["png_bytes", "savings_figure", "sweep_figure"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(names: Sequence[str]) -> dict[str, Any]:
    cmap = _pyplot().get_cmap("tab10")
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def _grid(n: int, cols: int, panel: tuple[float, float]) -> tuple[Figure, list[Any]]:
    """A figure of ``n`` panels, ``cols`` per row, unused cells hidden; its axes in reading order."""
    plt = _pyplot()
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(panel[0] * cols, panel[1] * rows), squeeze=False)
    flat = [axes[k // cols][k % cols] for k in range(rows * cols)]
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n]


def _draw_sweep(ax: Any, curves: Sequence[Curve], colors: dict[str, Any], title: str, annotate: bool) -> None:
    for c in curves:
        color = colors[c.model]
        ax.plot(c.thresholds, c.f1, color=color, label=c.model, linewidth=1.5)
        i = max(range(len(c.f1)), key=lambda k: (c.f1[k], -k))
        ax.plot([c.thresholds[i]], [c.f1[i]], "o", color=color, markersize=7)
        if annotate:
            ax.annotate(
                f"{c.f1[i]:.3f} @ {c.thresholds[i]:.2f}",
                (c.thresholds[i], c.f1[i]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
                color=color,
            )
        j = min(range(len(c.thresholds)), key=lambda k: abs(c.thresholds[k] - c.default_threshold))
        ax.plot([c.thresholds[j]], [c.f1[j]], "x", color=color, markersize=7)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("threshold")
    ax.set_ylabel("micro F1")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")


def sweep_figure(
    table: ResultTable,
    datasets: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    *,
    cols: int = 3,
    panel: tuple[float, float] = (5, 3.8),
    annotate: bool = True,
    title: str | None = "threshold - micro F1 (● best, × operating threshold)",
) -> Figure | None:
    """One panel per dataset (default: every dataset with a curve): micro F1 against threshold, a line per model
    (default: all), its best point (●, annotated with ``annotate``) and its operating threshold (×). ``None`` when
    the table has no such curve (no ``--sweep``)."""
    curves = [c for c in table.curves if models is None or c.model in models]
    names = [d for d in (datasets or dict.fromkeys(c.dataset for c in curves)) if any(c.dataset == d for c in curves)]
    if not names:
        return None
    colors = _colors(list(models or dict.fromkeys(c.model for c in table.curves)))
    fig, axes = _grid(len(names), cols, panel)
    for ax, d in zip(axes, names, strict=True):
        _draw_sweep(ax, [c for c in curves if c.dataset == d], colors, d, annotate)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def savings_figure(
    table: ResultTable,
    models: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    *,
    panel: tuple[float, float] = (4.6, 4),
    title: str | None = "context tokens kept - gold sentences kept (● operating point)",
) -> Figure | None:
    """One panel per model (default: every model with savings curves): gold recall against the share of context
    tokens kept along its threshold sweep, a line per dataset, the model's operating point marked (●). ``None``
    when no curve has savings (no ``--sweep``, or a results.json from before the savings report)."""
    curves = [c for c in table.curves if c.savings and (models is None or c.model in models)]
    if datasets is not None:
        curves = [c for c in curves if c.dataset in datasets]
    names = [m for m in (models or dict.fromkeys(c.model for c in curves)) if any(c.model == m for c in curves)]
    if not names:
        return None
    colors = _colors(list(datasets or dict.fromkeys(c.dataset for c in table.curves)))
    fig, axes = _grid(len(names), len(names), panel)
    for ax, model in zip(axes, names, strict=True):
        for c in (c for c in curves if c.model == model):
            pairs = sorted(zip(c.savings["tokens_kept"], c.savings["gold_recall"], strict=True))
            ax.plot([p[0] for p in pairs], [p[1] for p in pairs], color=colors[c.dataset], label=c.dataset, lw=1.4)
            row = table.row(c.dataset, c.model)
            if row is not None and row.savings:
                ax.plot([row.savings["tokens_kept"]], [row.savings["gold_recall"]], "o", color=colors[c.dataset])
        approx = any(r.savings.get("token_counter") == "approx" for r in table.rows if r.model == model)
        ax.set_title(model + (" (tokens ~ approximated)" if approx else ""), fontsize=10)
        ax.set_xlabel("share of context tokens kept")
        ax.set_ylabel("share of gold sentences kept")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """``fig`` as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    _pyplot().close(fig)
    return buf.getvalue()
