"""The selection options (threshold, fallback, relative threshold, top_k, min_score) as one frozen object.

Validated once when built, resolved once against the defaults of the layer below (call -> instance ->
checkpoint), so the engine, the wrappers, the annotations layer and the evaluation runner declare and
check them in one place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .aggregate import check_count, check_relative_threshold, check_threshold

__all__ = ["SelectionOptions"]


@dataclass(frozen=True)
class SelectionOptions:
    """How sentences are selected from their scores; ``None`` means "take the default of the layer below".

    Fields (see :func:`semantic_highlight.aggregate.select` for the rule):
        threshold: a sentence is selected when its score is strictly above it.
        fallback_threshold: when no sentence passes ``threshold``, the best one is still selected above this.
        relative_threshold: a ratio in (0, 1]: sentences scoring at least this share of a selected best one join it.
        top_k: keep at most this many selected sentences (highest scores), ``>= 0``.
        min_score: select nothing in a document whose best sentence scores below this.

    Numbers are normalised on construction (numpy scalars become ``float``/``int``); a wrong type raises
    ``TypeError`` and a wrong value ``ValueError``, both naming the field.
    """

    threshold: float | None = None
    fallback_threshold: float | None = None
    relative_threshold: float | None = None
    top_k: int | None = None
    min_score: float | None = None

    def __post_init__(self) -> None:
        checked: dict[str, Any] = {
            "threshold": check_threshold(self.threshold, "threshold"),
            "fallback_threshold": check_threshold(self.fallback_threshold, "fallback_threshold"),
            "relative_threshold": check_relative_threshold(self.relative_threshold),
            "top_k": check_count(self.top_k, "top_k", 0),
            "min_score": check_threshold(self.min_score, "min_score"),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def resolve(self, defaults: SelectionOptions) -> SelectionOptions:
        """These options with every ``None`` field taken from ``defaults`` (e.g. call options over the
        instance's, instance options over the checkpoint's)."""
        return SelectionOptions(
            **{
                f.name: getattr(defaults, f.name) if getattr(self, f.name) is None else getattr(self, f.name)
                for f in dataclasses.fields(self)
            }
        )

    def override(self, **changes: Any) -> SelectionOptions:
        """A copy with the given fields replaced where the new value is not ``None`` (per-call keyword
        overrides on top of an options object)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, float | int | None]:
        """All five fields by name (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def kwargs(self) -> dict[str, float | int]:
        """The fields that are set, as keyword arguments for ``highlight()`` and friends."""
        return {k: v for k, v in self.to_dict().items() if v is not None}
