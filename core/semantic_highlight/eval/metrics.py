"""Sentence-level metrics: micro P/R/F1/F2 over all sentences, macro F1 per example, kept ratio.

Conventions: an example with no gold sentence and nothing selected has F1 1.0 (correctly left
alone); with something selected, 0.0. Micro scores divide by zero as 0.0, except when the whole
set has no gold and nothing selected (all 1.0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Metrics", "best_point", "compute_metrics", "f_beta", "selection_f1", "sweep_f1", "sweep_selection"]


def f_beta(precision: float, recall: float, beta: float = 1.0) -> float:
    """F-beta from precision and recall (0.0 when both are 0)."""
    b2 = beta * beta
    denom = b2 * precision + recall
    return (1 + b2) * precision * recall / denom if denom > 0 else 0.0


@dataclass(frozen=True)
class Metrics:
    """Scores of one model on one dataset."""

    n_examples: int
    n_sentences: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    f2: float
    macro_f1: float
    kept_ratio: float
    """Mean over examples of the share of sentences selected."""
    gold_ratio: float
    """Mean over examples of the share of gold sentences (what a perfect highlighter keeps)."""

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _example_f1(gold: Sequence[bool], pred: Sequence[bool]) -> float:
    tp = sum(g and p for g, p in zip(gold, pred, strict=True))
    n_gold, n_pred = sum(gold), sum(pred)
    if n_gold == 0:
        return 1.0 if n_pred == 0 else 0.0
    return 2 * tp / (n_gold + n_pred)


def compute_metrics(gold: Sequence[Sequence[bool]], pred: Sequence[Sequence[bool]]) -> Metrics:
    """Metrics from per-example, per-sentence gold and predicted labels (same shapes)."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold examples but {len(pred)} predictions")
    tp = fp = fn = n_sent = 0
    macro, kept, gold_share = [], [], []
    for g, p in zip(gold, pred, strict=True):
        if len(g) != len(p):
            raise ValueError(f"an example has {len(g)} gold labels but {len(p)} predictions")
        for a, b in zip(g, p, strict=True):
            tp += bool(a and b)
            fp += bool(b and not a)
            fn += bool(a and not b)
        n_sent += len(g)
        macro.append(_example_f1(g, p))
        kept.append(sum(map(bool, p)) / len(p) if len(p) else 0.0)
        gold_share.append(sum(map(bool, g)) / len(g) if len(g) else 0.0)
    if tp + fp + fn == 0:
        precision = recall = 1.0
    else:
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
    return Metrics(
        n_examples=len(gold),
        n_sentences=n_sent,
        tp=tp,
        fp=fp,
        fn=fn,
        precision=precision,
        recall=recall,
        f1=f_beta(precision, recall, 1.0) if tp + fp + fn else 1.0,
        f2=f_beta(precision, recall, 2.0) if tp + fp + fn else 1.0,
        macro_f1=float(np.mean(macro)) if macro else 0.0,
        kept_ratio=float(np.mean(kept)) if kept else 0.0,
        gold_ratio=float(np.mean(gold_share)) if gold_share else 0.0,
    )


def sweep_selection(
    scores: Sequence[Sequence[float]],
    thresholds: Sequence[float],
    fallback_threshold: float | None = None,
    relative_threshold: float | None = None,
) -> np.ndarray:
    """Which sentences are selected at each threshold: a ``[thresholds, sentences]`` boolean matrix over
    the concatenated rows of ``scores`` (vectorised).

    A sentence is selected when ``score > t``; ``fallback_threshold`` and ``relative_threshold`` select as
    :func:`semantic_highlight.aggregate.select` does: each example's best sentence (the first on ties) is
    also selected when nothing passes ``t`` and it scores above the fallback; once the best is selected,
    so is every sentence scoring at least ``relative_threshold`` times it.
    """
    s = np.fromiter((float(x) for row in scores for x in row), dtype=np.float64)
    t = np.asarray(list(thresholds), dtype=np.float64)[:, None]
    sel = s[None, :] > t
    if fallback_threshold is not None or relative_threshold is not None:
        is_best = np.zeros(s.size, dtype=bool)
        row_best = np.zeros(s.size, dtype=np.float64)  # each sentence's document best
        start = 0
        for row in scores:
            if len(row):
                i = start + int(np.argmax(np.asarray(row, dtype=np.float64)))
                is_best[i] = True
                row_best[start : start + len(row)] = s[i]
            start += len(row)
        best_kept = row_best[None, :] > t  # the best passes t (then nothing needs the fallback)
        if fallback_threshold is not None:
            rescued = row_best > fallback_threshold
            sel |= (is_best & rescued)[None, :]
            best_kept = best_kept | rescued[None, :]
        if relative_threshold is not None:
            sel |= best_kept & (s >= relative_threshold * row_best)[None, :]
    return sel


def selection_f1(gold: Sequence[Sequence[bool]], selected: np.ndarray) -> list[float]:
    """Micro F1 of each row of a :func:`sweep_selection` matrix against ``gold``."""
    g = np.fromiter((bool(x) for row in gold for x in row), dtype=bool)
    if g.size != selected.shape[1]:
        raise ValueError("gold and scores differ in shape")
    tp = (selected & g).sum(1)
    fp = (selected & ~g).sum(1)
    fn = (~selected & g).sum(1)
    out = []
    for a, b, c in zip(tp, fp, fn, strict=True):
        if a + b + c == 0:
            out.append(1.0)
            continue
        out.append(2 * a / (2 * a + b + c))
    return [float(x) for x in out]


def sweep_f1(
    gold: Sequence[Sequence[bool]],
    scores: Sequence[Sequence[float]],
    thresholds: Sequence[float],
    fallback_threshold: float | None = None,
    relative_threshold: float | None = None,
) -> list[float]:
    """Micro F1 when selecting ``score > t`` for each threshold ``t`` (with the fallback and relative
    thresholds as in :func:`sweep_selection`)."""
    return selection_f1(gold, sweep_selection(scores, thresholds, fallback_threshold, relative_threshold))


def best_point(thresholds: Sequence[float], f1s: Sequence[float]) -> tuple[float, float]:
    """The (threshold, F1) with the highest F1 (the lowest such threshold on ties)."""
    i = int(np.argmax(np.asarray(f1s)))
    return float(thresholds[i]), float(f1s[i])
