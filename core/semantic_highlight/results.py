"""Plain result objects returned by the engine: per-sentence scores and the selected highlights."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HighlightResult", "Sentence"]


@dataclass(frozen=True)
class Sentence:
    """One scored sentence; ``text == document[start:end]`` (trailing whitespace included)."""

    index: int
    text: str
    start: int
    end: int
    score: float
    selected: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "score": self.score,
            "selected": self.selected,
        }


@dataclass(frozen=True)
class HighlightResult:
    """The highlights of one document for one query.

    ``sentences`` lists every scored sentence in document order; ``highlights`` the selected
    ones. Offsets index ``text``. ``ranking_score`` is the checkpoint's document relevance head
    (``None`` when the model has none or nothing was scored); ``score`` is the best sentence score.
    ``fallback_threshold`` is the lower bar the best sentence was held to when none passed
    ``threshold`` (``None``: no fallback); ``relative_threshold`` the share of the best sentence's
    score that also selected other sentences (``None``: none).
    """

    query: str
    text: str
    sentences: tuple[Sentence, ...]
    threshold: float
    ranking_score: float | None = None
    model: str = ""
    fallback_threshold: float | None = None
    relative_threshold: float | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def highlights(self) -> list[Sentence]:
        return [s for s in self.sentences if s.selected]

    @property
    def pruned_text(self) -> str:
        """Selected sentences in document order, each with its own original trailing whitespace."""
        return "".join(s.text for s in self.sentences if s.selected)

    @property
    def score(self) -> float:
        return max((s.score for s in self.sentences), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (plain dicts, lists, strings and floats)."""
        return {
            "query": self.query,
            "text": self.text,
            "score": self.score,
            "ranking_score": self.ranking_score,
            "threshold": self.threshold,
            "fallback_threshold": self.fallback_threshold,
            "relative_threshold": self.relative_threshold,
            "model": self.model,
            "pruned_text": self.pruned_text,
            "sentences": [s.to_dict() for s in self.sentences],
            "highlights": [{"start": s.start, "end": s.end, "text": s.text, "score": s.score} for s in self.highlights],
        }

    def to_html(self, show_scores: bool = False) -> str:
        """The document as escaped HTML with ``<mark>`` around each highlighted sentence."""
        parts: list[str] = []
        pos = 0
        for s in self.highlights:
            body = s.text.rstrip()
            parts.append(html.escape(self.text[pos : s.start]))
            title = f' title="{s.score:.3f}"' if show_scores else ""
            parts.append(f"<mark{title}>{html.escape(body)}</mark>")
            pos = s.start + len(body)
        parts.append(html.escape(self.text[pos:]))
        return '<div class="semantic-highlight" style="white-space: pre-wrap">' + "".join(parts) + "</div>"

    def _repr_html_(self) -> str:
        return self.to_html(show_scores=True)
