"""A small, bounded sample of evaluated examples per dataset, with every model's selection and scores.

The runner keeps no per-example predictions (only metrics), so a reader of a report cannot see where a model
errs. :class:`CaseSampler` keeps at most :data:`CASES_PER_DATASET` examples per dataset: picked with the first
model's selection, examples where it missed a gold sentence first, then ones where it marked a wrong sentence,
then correct ones (each group evenly spaced over the dataset), and records every model's selection on those same
examples. The HTML report (:mod:`semantic_highlight.eval.html_report`) shows them gold beside predicted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from semantic_highlight.eval.dataset import EvalDataset

__all__ = ["CASES_PER_DATASET", "Case", "CaseSampler", "merge_cases", "pick_cases"]

CASES_PER_DATASET = 6
MAX_CASE_CHARS = 3000
"""Examples longer than this are picked only when a dataset has no shorter one of the kind wanted."""


@dataclass
class Case:
    """One example as the metrics see it (its non-blank sentences) with each model's selection on it."""

    dataset: str
    id: str
    query: str
    lang: str
    sentences: list[str]
    """The example's non-blank sentences with their whitespace, in order (joined, they read as the passage)."""
    gold: list[bool]
    predictions: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    """Model -> ``{"selected": [bool, ...], "scores": [float | None, ...]}`` (None: the sentence was not scored)."""


def _evenly(indices: Sequence[int], k: int) -> list[int]:
    """At most ``k`` of ``indices``, evenly spaced (all when there are few)."""
    if k <= 0:
        return []
    if len(indices) <= k:
        return list(indices)
    step = len(indices) / k
    return [indices[int(i * step)] for i in range(k)]


def pick_cases(
    gold: Sequence[Sequence[bool]],
    pred: Sequence[Sequence[bool]],
    k: int = CASES_PER_DATASET,
    lengths: Sequence[int] | None = None,
) -> list[int]:
    """Indices of up to ``k`` examples: about a third with a missed gold sentence, a third with a wrongly
    marked one (and no miss), the rest correct; a short group leaves its share to the others. Examples over
    :data:`MAX_CASE_CHARS` characters (``lengths``) are used only when the short ones run out."""
    missed, extra, right = [], [], []
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if any(a and not b for a, b in zip(g, p, strict=True)):
            missed.append(i)
        elif any(b and not a for a, b in zip(g, p, strict=True)):
            extra.append(i)
        else:
            right.append(i)

    groups = (missed, extra, right)
    shares = [k // 3 + (1 if j < k % 3 else 0) for j in range(3)]
    picked: list[list[int]] = [[], [], []]
    spare = 0
    for j in range(3):  # what a group cannot fill passes to the next ones, then back to the first
        picked[j] = _evenly(_shortest(groups[j], lengths), shares[j] + spare)
        spare = shares[j] + spare - len(picked[j])
    for j in range(3):
        rest = [i for i in groups[j] if i not in picked[j]]
        if lengths is not None:  # short ones first
            rest.sort(key=lambda i: lengths[i] > MAX_CASE_CHARS)
        more = rest[: max(spare, 0)]
        picked[j] += more
        spare -= len(more)
    return [i for group in picked for i in sorted(group)]


def _shortest(group: list[int], lengths: Sequence[int] | None) -> list[int]:
    """``group`` restricted to short examples when it has any, else all of it (in dataset order)."""
    if lengths is None:
        return group
    short = [i for i in group if lengths[i] <= MAX_CASE_CHARS]
    return sorted(short) if short else sorted(group)


def _score(x: float) -> float | None:
    return round(float(x), 4) if math.isfinite(x) else None


class CaseSampler:
    """Collects :class:`Case` s into ``cases`` as models are scored, one dataset at a time.

    The first model scored on a dataset picks its examples (:func:`pick_cases`); each later model adds its
    selection on the same ones.
    """

    def __init__(self, cases: list[Case], per_dataset: int = CASES_PER_DATASET) -> None:
        self.cases = cases
        self.per_dataset = per_dataset
        self._picked: dict[str, list[tuple[int, Case]]] = {}

    def add(
        self,
        ds: EvalDataset,
        model: str,
        gold: Sequence[Sequence[bool]],
        scores: Sequence[Sequence[float]],
        pred: Sequence[Sequence[bool]],
    ) -> None:
        """Record ``model``'s selection (``pred``) and ``scores`` on the dataset's picked examples; ``gold``,
        ``scores`` and ``pred`` cover the non-blank sentences of every example, as the metrics do."""
        if ds.name not in self._picked:
            sentences = [[s for s in ex.sentences if s.strip()] for ex in ds.examples]
            lengths = [sum(map(len, row)) for row in sentences]
            picked = pick_cases(gold, pred, self.per_dataset, lengths)
            self._picked[ds.name] = [
                (i, Case(ds.name, ds.examples[i].id, ds.examples[i].query, ds.examples[i].lang, sentences[i],
                         [bool(x) for x in gold[i]]))
                for i in picked
            ]  # fmt: skip
            self.cases.extend(case for _, case in self._picked[ds.name])
        for i, case in self._picked[ds.name]:
            case.predictions[model] = {
                "selected": [bool(x) for x in pred[i]],
                "scores": [_score(x) for x in scores[i]],
            }


def merge_cases(older: Sequence[Case], newer: Sequence[Case]) -> list[Case]:
    """``newer``'s cases, each with the predictions of the older run's models it lacks on the same example,
    then the older cases of datasets ``newer`` did not sample (for ``eval --append``)."""
    old = {(c.dataset, c.id): c for c in older}
    fresh = {c.dataset for c in newer}
    out = []
    for c in newer:
        prev = old.get((c.dataset, c.id))
        predictions = (
            {**prev.predictions, **c.predictions}
            if prev is not None and prev.sentences == c.sentences
            else c.predictions
        )
        out.append(Case(c.dataset, c.id, c.query, c.lang, c.sentences, c.gold, predictions))
    return out + [c for c in older if c.dataset not in fresh]
