"""Fragment scores -> sentence scores -> selection (threshold, fallback, relative, top_k, min_score) -> results."""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from .results import HighlightResult, Sentence

__all__ = ["build_result", "check_count", "check_relative_threshold", "check_threshold", "select", "sentence_scores"]


def check_threshold(value: Any, name: str) -> float | None:
    """``value`` as a float (``None`` unchanged): any real number, numpy scalars included, but not a
    bool, and finite (a NaN threshold would silently select nothing)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def check_count(value: Any, name: str, minimum: int) -> int | None:
    """``value`` as an int (``None`` unchanged): any integer, numpy integers included, not a bool, ``>= minimum``."""
    if value is None:
        return None
    try:
        count = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        count = None
    if count is None or count < minimum:
        raise ValueError(f"{name} must be an int >= {minimum} or None, got {value!r}")
    return count


def check_relative_threshold(value: Any) -> float | None:
    """``value`` as a float (``None`` unchanged) when it is a number in (0, 1], the range :func:`select`
    gives a meaning to (:func:`check_threshold`'s type checks first)."""
    ratio = check_threshold(value, "relative_threshold")
    if ratio is not None and not 0.0 < ratio <= 1.0:
        raise ValueError(f"relative_threshold must be in (0, 1], got {ratio!r}")
    return ratio


def sentence_scores(fragment_means: Sequence[Sequence[float]]) -> list[float]:
    """Mean over a sentence's fragments, clipped to [0, 1]; 0.0 for a sentence that got no score."""
    return [float(np.clip(np.mean(m), 0.0, 1.0)) if len(m) else 0.0 for m in fragment_means]


def select(
    scores: Sequence[float],
    threshold: float,
    top_k: int | None = None,
    min_score: float | None = None,
    fallback_threshold: float | None = None,
    relative_threshold: float | None = None,
) -> list[bool]:
    """Selected iff ``score > threshold`` (strict), keeping at most ``top_k`` best; none when the
    document's best score is below ``min_score``.

    ``fallback_threshold``: when no sentence passes ``threshold``, the best one (the first on ties)
    is still selected if it scores above this lower bar, so a relevant document whose scores are
    uniformly low (out of domain, paraphrased query) keeps its most relevant sentence.

    ``relative_threshold`` (a ratio in (0, 1]): once the best sentence is selected (by either bar),
    every sentence scoring at least this share of the best is selected too, so an answer spread over
    several sentences is kept whole even when the model scores all of them low (paraphrased queries)
    while one global threshold still serves extractive ones. ``1.0`` adds nothing but ties.
    """
    chosen = [s > threshold for s in scores]
    if min_score is not None and max(scores, default=0.0) < min_score:
        return [False] * len(scores)
    if not scores:
        return chosen
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    if fallback_threshold is not None and not any(chosen):
        chosen[best] = scores[best] > fallback_threshold
    if relative_threshold is not None and chosen[best]:
        bar = relative_threshold * scores[best]
        chosen = [c or s >= bar for c, s in zip(chosen, scores, strict=True)]
    if top_k is not None and sum(chosen) > top_k:
        ranked = sorted((i for i, c in enumerate(chosen) if c), key=lambda i: (-scores[i], i))
        keep = set(ranked[:top_k])
        chosen = [i in keep for i in range(len(scores))]
    return chosen


def build_result(
    query: str,
    text: str,
    spans: Sequence[tuple[int, int]],
    scores: Sequence[float],
    selected: Sequence[bool],
    threshold: float,
    ranking_score: float | None,
    model: str,
    fallback_threshold: float | None = None,
    relative_threshold: float | None = None,
) -> HighlightResult:
    sentences = tuple(
        Sentence(index=i, text=text[a:b], start=a, end=b, score=scores[i], selected=selected[i])
        for i, (a, b) in enumerate(spans)
    )
    return HighlightResult(
        query=query,
        text=text,
        sentences=sentences,
        threshold=threshold,
        ranking_score=ranking_score,
        model=model,
        fallback_threshold=fallback_threshold,
        relative_threshold=relative_threshold,
    )
