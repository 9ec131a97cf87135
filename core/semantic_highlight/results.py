"""Plain result objects returned by the engine: per-sentence scores and the selected highlights."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HighlightResult", "Sentence", "mark_spans", "marked_html"]


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

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Sentence:
        """Inverse of :meth:`to_dict`; ``ValueError`` naming the key for a missing or ill-typed field."""
        _require_mapping(d, "sentence")
        start = _int_field(d, "start", "sentence")
        end = _int_field(d, "end", "sentence")
        if not 0 <= start <= end:
            raise ValueError(f"sentence: 'start' and 'end' must satisfy 0 <= start <= end, got {start} and {end}")
        return cls(
            index=_int_field(d, "index", "sentence"),
            text=_str_field(d, "text", "sentence"),
            start=start,
            end=end,
            score=_float_field(d, "score", "sentence"),
            selected=_bool_field(d, "selected", "sentence"),
        )


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

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HighlightResult:
        """Inverse of :meth:`to_dict`: ``HighlightResult.from_dict(r.to_dict()) == r``.

        The derived keys (``score``, ``pruned_text``, ``highlights``) are optional; when present they
        must agree with ``sentences``, so a payload edited by hand cannot carry stale highlights.
        Every sentence must satisfy ``text[start:end] == sentence.text``. Malformed input raises
        ``ValueError`` naming the key. ``meta`` is not serialised and comes back empty.
        """
        _require_mapping(d, "result")
        text = _str_field(d, "text", "result")
        raw = d.get("sentences")
        if not isinstance(raw, list | tuple):
            raise ValueError(f"result: 'sentences' must be a list, got {type(raw).__name__}")
        sentences: list[Sentence] = []
        for i, item in enumerate(raw):
            try:
                s = Sentence.from_dict(item)
            except ValueError as e:
                raise ValueError(f"result: key 'sentences[{i}]': {e}") from None
            if text[s.start : s.end] != s.text:
                raise ValueError(f"result: 'sentences[{i}]' text does not match 'text'[{s.start}:{s.end}]")
            sentences.append(s)
        result = cls(
            query=_str_field(d, "query", "result"),
            text=text,
            sentences=tuple(sentences),
            threshold=_float_field(d, "threshold", "result"),
            ranking_score=_opt_float_field(d, "ranking_score", "result"),
            model=_str_field(d, "model", "result") if "model" in d else "",
            fallback_threshold=_opt_float_field(d, "fallback_threshold", "result"),
            relative_threshold=_opt_float_field(d, "relative_threshold", "result"),
        )
        result._check_derived(d)
        return result

    def _check_derived(self, d: Mapping[str, Any]) -> None:
        """Reject derived keys in ``d`` that contradict the sentences (absent keys are fine)."""
        if "pruned_text" in d and d["pruned_text"] != self.pruned_text:
            raise ValueError("result: 'pruned_text' does not match the selected sentences")
        if "score" in d and d["score"] is not None:
            score = _float_field(d, "score", "result")
            if not math.isclose(score, self.score, rel_tol=1e-9, abs_tol=1e-12):
                raise ValueError(f"result: 'score' {score} is not the best sentence score {self.score}")
        if "highlights" in d:
            raw = d["highlights"]
            if not isinstance(raw, list | tuple):
                raise ValueError(f"result: 'highlights' must be a list, got {type(raw).__name__}")
            spans = [(h.get("start"), h.get("end")) if isinstance(h, Mapping) else None for h in raw]
            if spans != [(s.start, s.end) for s in self.highlights]:
                raise ValueError("result: 'highlights' do not match the selected sentences")

    def to_html(self, show_scores: bool = False) -> str:
        """The document as escaped HTML with ``<mark>`` around each highlighted sentence."""
        return marked_html(self.text, [(s.start, s.end, s.score) for s in self.highlights], show_scores)

    def _repr_html_(self) -> str:
        return self.to_html(show_scores=True)


def mark_spans(
    text: str,
    spans: Iterable[tuple[int, int, float]],
    opening: Callable[[float], str],
    closing: str,
    escape: Callable[[str], str] = str,
) -> str:
    """``text`` with each ``(start, end, score)`` span wrapped in ``opening(score)`` ... ``closing``.

    The one "mark the selected spans" loop behind :meth:`HighlightResult.to_html`, the wrappers'
    ``annotation_html`` and the CLI's text output. A span's trailing whitespace stays outside the mark;
    spans must come in document order, and one that overlaps the previous mark or holds only whitespace
    is left unmarked. ``escape`` is applied to every piece of ``text`` (marks excluded).
    """
    parts: list[str] = []
    pos = 0
    for start, end, score in spans:
        body = text[start:end].rstrip()
        if start < pos or not body:
            continue
        parts += [escape(text[pos:start]), opening(score), escape(body), closing]
        pos = start + len(body)
    parts.append(escape(text[pos:]))
    return "".join(parts)


def marked_html(text: str, spans: Iterable[tuple[int, int, float]], show_scores: bool = False) -> str:
    """``text`` as escaped HTML in a ``pre-wrap`` div, with ``<mark>`` around each span (see :func:`mark_spans`);
    ``show_scores`` adds each span's score as the mark's ``title``."""

    def opening(score: float) -> str:
        return f'<mark title="{score:.3f}">' if show_scores else "<mark>"

    body = mark_spans(text, spans, opening, "</mark>", html.escape)
    return f'<div class="semantic-highlight" style="white-space: pre-wrap">{body}</div>'


def _require_mapping(d: object, what: str) -> None:
    if not isinstance(d, Mapping):
        raise ValueError(f"{what}: expected a JSON object, got {type(d).__name__}")


def _get(d: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in d:
        raise ValueError(f"{what}: missing key {key!r}")
    return d[key]


def _int_field(d: Mapping[str, Any], key: str, what: str) -> int:
    v = _get(d, key, what)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{what}: key {key!r} must be an integer, got {v!r}")
    return v


def _str_field(d: Mapping[str, Any], key: str, what: str) -> str:
    v = _get(d, key, what)
    if not isinstance(v, str):
        raise ValueError(f"{what}: key {key!r} must be a string, got {type(v).__name__}")
    return v


def _bool_field(d: Mapping[str, Any], key: str, what: str) -> bool:
    v = _get(d, key, what)
    if not isinstance(v, bool):
        raise ValueError(f"{what}: key {key!r} must be true or false, got {v!r}")
    return v


def _float_field(d: Mapping[str, Any], key: str, what: str) -> float:
    """A finite JSON number as ``float``."""
    v = _get(d, key, what)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{what}: key {key!r} must be a number, got {v!r}")
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"{what}: key {key!r} must be finite, got {v!r}")
    return f


def _opt_float_field(d: Mapping[str, Any], key: str, what: str) -> float | None:
    """Like :func:`_float_field`, but an absent key or ``null`` gives ``None``."""
    return None if d.get(key) is None else _float_field(d, key, what)
