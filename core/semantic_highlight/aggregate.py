"""Fragment scores -> sentence scores -> selection (threshold, fallback, relative, top_k, min_score) -> results.

Also the argument checks every public entry point uses (one rule: ``TypeError`` for a wrong type,
``ValueError`` for a wrong value, the message naming the argument)."""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from .results import HighlightResult, Sentence

__all__ = [
    "build_result",
    "check_callable",
    "check_choice",
    "check_count",
    "check_non_negative",
    "check_relative_threshold",
    "check_threshold",
    "select",
    "sentence_scores",
]


def check_threshold(value: Any, name: str) -> float | None:
    """``value`` as a float (``None`` unchanged): any real number, numpy scalars included, but not a
    bool (``TypeError``), and finite (``ValueError``: a NaN threshold would silently select nothing;
    an int too large for a float, such as ``10**400``, is not finite either)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def check_count(value: Any, name: str, minimum: int) -> int | None:
    """``value`` as an int (``None`` unchanged): any integer, numpy integers included, but not a bool
    or a float (``TypeError``), and ``>= minimum`` (``ValueError``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got bool")
    try:
        count = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if count < minimum:
        raise ValueError(f"{name} must be an int >= {minimum} or None, got {value!r}")
    return count


def check_relative_threshold(value: Any) -> float | None:
    """``value`` as a float (``None`` unchanged) when it is a number in (0, 1], the range :func:`select`
    gives a meaning to (:func:`check_threshold`'s type checks first)."""
    ratio = check_threshold(value, "relative_threshold")
    if ratio is not None and not 0.0 < ratio <= 1.0:
        raise ValueError(f"relative_threshold must be in (0, 1], got {ratio!r}")
    return ratio


def check_non_negative(value: Any, name: str) -> float | None:
    """``value`` as a float (``None`` unchanged) when it is a finite number ``>= 0`` (e.g. ``max_padding``)."""
    number = check_threshold(value, name)
    if number is not None and number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str | None:
    """``value`` unchanged (``None`` too) when it is one of ``choices`` (``TypeError`` for a non-str)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_callable(value: Any, name: str) -> Any:
    """``value`` unchanged (``None`` too) when it is callable, so a bad callback fails before any work."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, got {type(value).__name__}")
    return value


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
