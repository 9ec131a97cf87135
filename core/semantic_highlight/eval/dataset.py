"""``EvalDataset``: a named list of labelled examples, what the suite loaders return and the runner scores.

Its own module so that ``suite`` (which builds them) and ``runner`` (which scores them) both import it
without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from semantic_highlight.datasets.types import Example

__all__ = ["EvalDataset"]


@dataclass
class EvalDataset:
    """A named list of examples plus how the loader got there."""

    name: str
    examples: list[Example]
    lang: str = ""
    source: str = ""
    dropped: dict[str, int] = field(default_factory=dict)
    """Reason -> count of examples (or, for ``*_sentences`` reasons, sentences) the loader left out."""
    note: str = ""

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lang": self.lang,
            "n_examples": len(self.examples),
            "n_sentences": sum(sum(1 for s in e.sentences if s.strip()) for e in self.examples),
            "with_gold": sum(1 for e in self.examples if e.relevant),
            "source": self.source,
            "dropped": dict(self.dropped),
            "note": self.note,
        }
