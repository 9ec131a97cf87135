"""Framework-free glue shared by the LangChain and LlamaIndex wrappers.

The wrappers only translate their framework's objects (``Document``, ``NodeWithScore``) to plain
text and back; every decision lives here: which chunks are scored (bad content passes through),
one batched scoring pass per call, the metadata dict, pruning with context sentences and the
offsets that map pruned text back to the original, ``drop_empty`` and ``top_n`` reordering.

The metadata stored under the wrapper's key (``semantic_highlight`` by default) is::

    {"spans": [{"start", "end", "text", "score"}, ...],  # highlighted sentences, offsets into the original text
     "score": float,                                        # best sentence score of the chunk
     "model": str, "threshold": float}

In prune mode the chunk text becomes the kept sentences (highlights, plus ``context_sentences``
neighbours) joined in document order with their original whitespace; each span then also gets
``pruned_start``/``pruned_end`` (its place in the pruned text) and the dict gains ``segments``:
one ``{"start", "end", "pruned_start", "pruned_end"}`` per run of contiguous kept text, so any
position in the pruned text maps back to the original.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .aggregate import check_count, check_relative_threshold, check_threshold
from .results import HighlightResult, Sentence

if TYPE_CHECKING:
    from .highlighter import SemanticHighlighter

__all__ = [
    "DEFAULT_METADATA_KEY",
    "MODES",
    "AnnotateOptions",
    "ChunkAnnotation",
    "ChunkBatch",
    "Mode",
    "annotate_chunks",
    "annotation_html",
    "annotation_metadata",
    "bad_content_reason",
    "kept_sentences",
    "prune",
    "resolve_highlighter",
    "select_chunks",
]

logger = logging.getLogger(__name__)

Mode = Literal["annotate", "prune"]
MODES: tuple[str, ...] = ("annotate", "prune")
DEFAULT_METADATA_KEY = "semantic_highlight"


@dataclass(frozen=True)
class AnnotateOptions:
    """The per-call settings the wrappers expose.

    Args:
        mode: ``"annotate"`` keeps the text and adds metadata; ``"prune"`` replaces the text with
            the highlighted sentences (plus ``context_sentences`` neighbours).
        threshold: highlight sentences scoring strictly above it (``None``: the highlighter's default).
        fallback_threshold: a chunk with no sentence above ``threshold`` still gets its best sentence
            highlighted when it scores above this (``None``: the highlighter's default; ``1.0``: off).
        relative_threshold: once a chunk's best sentence is highlighted, so is every sentence scoring at
            least this share of it, a ratio in (0, 1] (``None``: the highlighter's default; ``1.0``: off).
        top_k: at most this many highlighted sentences per chunk.
        drop_empty: drop scored chunks with nothing highlighted; ``None`` means "only in prune mode".
            Chunks passed through because of bad content are never dropped.
        top_n: keep the ``top_n`` chunks with the best highlight score, best first (``None``: keep
            every chunk in input order).
        context_sentences: in prune mode, also keep this many sentences before and after each highlight.
    """

    mode: Mode = "annotate"
    threshold: float | None = None
    fallback_threshold: float | None = None
    relative_threshold: float | None = None
    top_k: int | None = None
    drop_empty: bool | None = None
    top_n: int | None = None
    context_sentences: int = 0

    @classmethod
    def from_settings(cls, settings: object) -> AnnotateOptions:
        """Read the options from any object with attributes of the same names (a wrapper's settings)."""
        return cls(**{name: getattr(settings, name) for name in cls.__dataclass_fields__})

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in ("threshold", "fallback_threshold"):
            check_threshold(getattr(self, name), name)
        check_relative_threshold(self.relative_threshold)
        check_count(self.top_k, "top_k", 0)
        check_count(self.top_n, "top_n", 1)
        check_count(self.context_sentences, "context_sentences", 0)
        if self.context_sentences is None:
            raise ValueError("context_sentences must be an int >= 0, got None")
        if self.drop_empty is not None and not isinstance(self.drop_empty, bool):
            raise TypeError(f"drop_empty must be a bool or None, got {type(self.drop_empty).__name__}")

    @property
    def drops_empty(self) -> bool:
        """Whether scored chunks with no highlight are dropped (default: only in prune mode)."""
        return self.mode == "prune" if self.drop_empty is None else self.drop_empty


@dataclass(frozen=True)
class ChunkAnnotation:
    """What to do with one input chunk.

    ``result is None`` means the chunk passes through unchanged and unannotated (bad content);
    otherwise ``text`` is the text the chunk should carry (the pruned text in prune mode, the
    original text in annotate mode) and ``metadata`` the dict to store under the wrapper's key.
    """

    index: int
    """Position of the chunk in the input sequence."""
    text: str | None
    metadata: dict[str, Any] | None
    result: HighlightResult | None

    @property
    def passed_through(self) -> bool:
        return self.result is None

    @property
    def highlighted(self) -> bool:
        return self.result is not None and any(s.selected for s in self.result.sentences)

    @property
    def score(self) -> float | None:
        """The chunk's highlight score (best sentence score); ``None`` when passed through."""
        return None if self.result is None else self.result.score


@dataclass(frozen=True)
class ChunkBatch:
    """The outcome of one wrapper call: every chunk (input order) and the ones to return (output order)."""

    chunks: list[ChunkAnnotation]
    kept: list[ChunkAnnotation]
    seconds: float = 0.0
    options: AnnotateOptions = field(default_factory=AnnotateOptions)

    @property
    def scored(self) -> int:
        return sum(1 for c in self.chunks if not c.passed_through)

    @property
    def highlighted(self) -> int:
        return sum(1 for c in self.chunks if c.highlighted)

    @property
    def passed_through(self) -> int:
        return sum(1 for c in self.chunks if c.passed_through)

    def stats(self) -> dict[str, Any]:
        """Counts and timing, JSON-serialisable (for progress / instrumentation events)."""
        return {
            "mode": self.options.mode,
            "chunks": len(self.chunks),
            "scored": self.scored,
            "highlighted": self.highlighted,
            "passed_through": self.passed_through,
            "returned": len(self.kept),
            "seconds": self.seconds,
        }


def resolve_highlighter(
    highlighter: SemanticHighlighter | None, model: Any = None, device: Any = None, dtype: Any = None
) -> SemanticHighlighter:
    """A wrapper's engine: ``highlighter`` as given (shared between wrappers and threads), else one built
    from ``model``/``device``/``dtype``. Giving both is an error: the build settings would be silently ignored."""
    from .highlighter import SemanticHighlighter

    if highlighter is None:
        return SemanticHighlighter(model=model, device=device, dtype=dtype)
    if not isinstance(highlighter, SemanticHighlighter):
        raise TypeError(f"highlighter must be a SemanticHighlighter, got {type(highlighter).__name__}")
    given = [name for name, value in (("model", model), ("device", device), ("dtype", dtype)) if value is not None]
    if given:
        raise ValueError(f"pass either highlighter or {'/'.join(given)}, not both: {given[0]} builds a new highlighter")
    return highlighter


def bad_content_reason(content: object) -> str | None:
    """Why ``content`` cannot be highlighted (``None`` when it can): not a str, or blank."""
    if not isinstance(content, str):
        return f"content is {type(content).__name__}, not str"
    if not content.strip():
        return "content is empty" if not content else "content is only whitespace"
    return None


def kept_sentences(result: HighlightResult, context_sentences: int = 0) -> list[Sentence]:
    """The highlighted sentences plus ``context_sentences`` neighbours on each side, in document order."""
    check_count(context_sentences, "context_sentences", 0)
    sentences = result.sentences
    keep = [False] * len(sentences)
    for i, s in enumerate(sentences):
        if s.selected:
            for j in range(max(0, i - context_sentences), min(len(sentences), i + context_sentences + 1)):
                keep[j] = True
    return [s for s, k in zip(sentences, keep, strict=True) if k]


def prune(result: HighlightResult, context_sentences: int = 0) -> tuple[str, list[dict[str, int]]]:
    """The pruned text and its segments.

    The text is the kept sentences (see :func:`kept_sentences`) joined in document order, each with
    its original trailing whitespace. Each segment ``{"start", "end", "pruned_start", "pruned_end"}``
    is one run of contiguous original text: ``pruned[ps:pe] == result.text[start:end]``.
    """
    parts: list[str] = []
    segments: list[dict[str, int]] = []
    pos = 0
    for s in kept_sentences(result, context_sentences):
        if segments and segments[-1]["end"] == s.start:
            segments[-1]["end"] = s.end
            segments[-1]["pruned_end"] = pos + len(s.text)
        else:
            segments.append({"start": s.start, "end": s.end, "pruned_start": pos, "pruned_end": pos + len(s.text)})
        parts.append(s.text)
        pos += len(s.text)
    return "".join(parts), segments


def annotation_metadata(
    result: HighlightResult, mode: Mode = "annotate", context_sentences: int = 0
) -> tuple[str, dict[str, Any]]:
    """The text a chunk should carry and the metadata dict describing its highlights.

    In annotate mode the text is ``result.text``; in prune mode it is the pruned text and the dict
    also holds the offsets that map it back (see the module docstring).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    spans: list[dict[str, Any]] = [
        {"start": s.start, "end": s.end, "text": s.text, "score": float(s.score)} for s in result.highlights
    ]
    metadata: dict[str, Any] = {
        "spans": spans,
        "score": float(result.score),
        "model": result.model,
        "threshold": float(result.threshold),
    }
    if mode == "annotate":
        return result.text, metadata
    text, segments = prune(result, context_sentences)
    for span in spans:
        for seg in segments:
            if seg["start"] <= span["start"] and span["end"] <= seg["end"]:
                span["pruned_start"] = seg["pruned_start"] + span["start"] - seg["start"]
                span["pruned_end"] = span["pruned_start"] + span["end"] - span["start"]
                break
    metadata["segments"] = segments
    return text, metadata


def annotation_html(text: str, annotation: dict[str, Any] | None, show_scores: bool = False) -> str:
    """``text`` as escaped HTML with ``<mark>`` around each annotated span (same look as
    :meth:`HighlightResult.to_html`). ``text`` is the chunk text the annotation was made for: the
    original text (offsets ``start``/``end``), or, in prune mode, the pruned text (offsets
    ``pruned_start``/``pruned_end`` are used when ``text`` is shorter than the last span end).
    ``annotation=None`` (a chunk passed through) renders the text unmarked."""
    spans = list((annotation or {}).get("spans", []))
    pruned = "segments" in (annotation or {}) and any(
        s["end"] > len(text) or text[s["start"] : s["end"]] != s["text"] for s in spans
    )
    parts: list[str] = []
    pos = 0
    for span in spans:
        start, end = (span["pruned_start"], span["pruned_end"]) if pruned else (span["start"], span["end"])
        body = text[start:end].rstrip()
        if start < pos or not body:
            continue
        parts.append(html.escape(text[pos:start]))
        title = f' title="{float(span["score"]):.3f}"' if show_scores else ""
        parts.append(f"<mark{title}>{html.escape(body)}</mark>")
        pos = start + len(body)
    parts.append(html.escape(text[pos:]))
    return '<div class="semantic-highlight" style="white-space: pre-wrap">' + "".join(parts) + "</div>"


def select_chunks(chunks: Sequence[ChunkAnnotation], options: AnnotateOptions) -> list[ChunkAnnotation]:
    """Apply ``drop_empty`` then ``top_n``: best highlight score first (ties keep input order),
    chunks passed through because of bad content rank after every scored chunk."""
    kept = [c for c in chunks if c.passed_through or c.highlighted or not options.drops_empty]
    if options.top_n is None:
        return kept
    ranked = sorted(kept, key=lambda c: (c.passed_through, -(c.score or 0.0), c.index))
    return ranked[: options.top_n]


def annotate_chunks(
    highlighter: SemanticHighlighter,
    query: str,
    contents: Sequence[object],
    options: AnnotateOptions | None = None,
    *,
    labels: Sequence[str] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> ChunkBatch:
    """Score every chunk of one call in one batched pass and decide what each becomes.

    ``contents`` are the chunk texts; anything that is not a non-blank str passes through
    unannotated with a warning (``labels`` name the chunks in that warning, e.g. their ids).
    The returned :class:`ChunkBatch` lists every chunk in input order and the ones to return.
    ``on_batch(done, total)`` is forwarded to the engine: called after each model batch.
    """
    options = options or AnnotateOptions()
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, got {type(query).__name__}")
    started = time.perf_counter()
    valid: list[int] = []
    for i, content in enumerate(contents):
        reason = bad_content_reason(content)
        if reason is None:
            valid.append(i)
        else:
            label = labels[i] if labels is not None and i < len(labels) and labels[i] else f"#{i}"
            logger.warning("semantic-highlight: chunk %s passed through unannotated: %s", label, reason)
    texts: list[str] = [contents[i] for i in valid]  # type: ignore[misc]
    results: list[HighlightResult] = (
        highlighter.highlight(
            query,
            texts,
            threshold=options.threshold,
            fallback_threshold=options.fallback_threshold,
            relative_threshold=options.relative_threshold,
            top_k=options.top_k,
            on_batch=on_batch,
        )
        if texts
        else []
    )
    by_index = dict(zip(valid, results, strict=True))
    chunks: list[ChunkAnnotation] = []
    for i in range(len(contents)):
        result = by_index.get(i)
        if result is None:
            chunks.append(ChunkAnnotation(i, None, None, None))
        else:
            text, metadata = annotation_metadata(result, options.mode, options.context_sentences)
            chunks.append(ChunkAnnotation(i, text, metadata, result))
    kept = select_chunks(chunks, options)
    return ChunkBatch(chunks, kept, time.perf_counter() - started, options)
