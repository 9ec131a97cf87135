"""Framework-free glue shared by the LangChain and LlamaIndex wrappers.

The wrappers only translate their framework's objects (``Document``, ``NodeWithScore``) to plain
text and back; every decision lives here: which chunks are scored (bad content passes through),
one batched scoring pass per call, the metadata dict, pruning with context sentences and the
offsets that map pruned text back to the original, what happens to a chunk with no highlight
(``on_empty``, ``min_keep``) and ``top_n`` reordering.

The metadata stored under the wrapper's key (``semantic_highlight`` by default) is::

    {"spans": [{"start", "end", "text", "score"}, ...],  # highlighted sentences, offsets into the original text
     "score": float,                                        # best sentence score of the chunk
     "model": str, "threshold": float}

In prune mode the chunk text becomes the kept sentences (highlights, plus ``context_sentences``
neighbours) joined in document order with their original whitespace between them, stripped at
both ends; each span then also gets ``pruned_start``/``pruned_end`` (its place in the pruned text,
without the whitespace stripped from the ends) and the dict gains ``segments``: one ``{"start",
"end", "pruned_start", "pruned_end"}`` per run of contiguous kept text, so any position in the
pruned text maps back to the original (``pruned[ps:pe] == original[start:end]`` exactly).

A scored chunk with no highlight is dropped, kept with its original text, or kept with its best
sentence marked, as ``on_empty`` says; its dict then says why under ``kept_by``
(``"keep_original"``, ``"keep_best"``, or ``"min_keep"`` for the guard that keeps a call from
returning nothing).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from .aggregate import check_count
from .options import SelectionOptions
from .results import HighlightResult, Sentence, marked_html

__all__ = [
    "DEFAULT_METADATA_KEY",
    "MODES",
    "ON_EMPTY",
    "AnnotateOptions",
    "ChunkAnnotation",
    "ChunkBatch",
    "HighlighterLike",
    "Mode",
    "OnEmpty",
    "aannotate_chunks",
    "annotate_chunks",
    "annotation_html",
    "annotation_metadata",
    "bad_content_reason",
    "has_words",
    "keep_empty_chunks",
    "kept_sentences",
    "prune",
    "resolve_highlighter",
    "select_chunks",
]

logger = logging.getLogger(__name__)

Mode = Literal["annotate", "prune"]
MODES: tuple[str, ...] = ("annotate", "prune")
OnEmpty = Literal["drop", "keep_original", "keep_best"]
ON_EMPTY: tuple[str, ...] = ("drop", "keep_original", "keep_best")
DEFAULT_METADATA_KEY = "semantic_highlight"
DEFAULT_MIN_KEEP = 1


@runtime_checkable
class HighlighterLike(Protocol):
    """What the wrappers need from a highlighter: :class:`SemanticHighlighter`, or a remote client with
    the same ``highlight``/``highlight_batch`` (optionally ``ahighlight_batch``, used by the async paths)."""

    @property
    def highlight(self) -> Callable[..., Any]: ...  # (query, documents, **options) -> results

    @property
    def highlight_batch(self) -> Callable[..., Any]: ...  # (pairs, **options) -> one result list per pair


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
        selection: a :class:`~semantic_highlight.options.SelectionOptions` (the engine's one options object,
            ``min_score`` included); the four keywords above override its fields. After construction
            ``selection`` holds the merged options and the four fields mirror it.
        on_empty: what a scored chunk with nothing highlighted becomes: ``"drop"`` (not returned),
            ``"keep_original"`` (returned with its original text, unpruned) or ``"keep_best"`` (returned
            with its best sentence as its one highlight); ``None``: ``"drop"`` in prune mode,
            ``"keep_original"`` in annotate mode. Chunks passed through because of bad content are never dropped.
        min_keep: when ``on_empty`` drops, a call still returns at least this many scored chunks: if
            fewer have a highlight, the best-scoring empty ones are kept with their best sentence
            (``kept_by: "min_keep"``). Default 1, so a missed answer never hands an LLM an empty
            context; 0 turns the guard off. A query with no letters or digits never triggers it.
        drop_empty: deprecated alias: ``True`` is ``on_empty="drop"``, ``False`` is ``on_empty="keep_original"``.
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
    on_empty: OnEmpty | None = None
    min_keep: int = DEFAULT_MIN_KEEP
    selection: SelectionOptions | None = None

    @classmethod
    def from_settings(cls, settings: object) -> AnnotateOptions:
        """Read the options from any object with attributes of the same names (a wrapper's settings);
        ``selection`` is optional there."""
        return cls(**{name: getattr(settings, name) for name in cls.__dataclass_fields__ if hasattr(settings, name)})

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.selection is not None and not isinstance(self.selection, SelectionOptions):
            raise TypeError(f"selection must be a SelectionOptions or None, got {type(self.selection).__name__}")
        given = SelectionOptions(  # checked here, by the engine's one rule for these fields
            threshold=self.threshold,
            fallback_threshold=self.fallback_threshold,
            relative_threshold=self.relative_threshold,
            top_k=self.top_k,
        )
        merged = (self.selection or SelectionOptions()).override(**given.to_dict())
        object.__setattr__(self, "selection", merged)
        for name in ("threshold", "fallback_threshold", "relative_threshold", "top_k"):
            object.__setattr__(self, name, getattr(merged, name))
        check_count(self.top_n, "top_n", 1)
        check_count(self.context_sentences, "context_sentences", 0)
        if self.context_sentences is None:
            raise ValueError("context_sentences must be an int >= 0, got None")
        if self.drop_empty is not None and not isinstance(self.drop_empty, bool):
            raise TypeError(f"drop_empty must be a bool or None, got {type(self.drop_empty).__name__}")
        if self.on_empty is not None and not isinstance(self.on_empty, str):
            raise TypeError(f"on_empty must be a str or None, got {type(self.on_empty).__name__}")
        if self.on_empty is not None and self.on_empty not in ON_EMPTY:
            raise ValueError(f"on_empty must be one of {ON_EMPTY}, got {self.on_empty!r}")
        if self.on_empty is not None and self.drop_empty is not None and self.empty_policy != self.on_empty:
            raise ValueError(f"drop_empty={self.drop_empty} contradicts on_empty={self.on_empty!r}; use on_empty only")
        if check_count(self.min_keep, "min_keep", 0) is None:
            raise TypeError("min_keep must be an int >= 0, got None")

    @property
    def empty_policy(self) -> OnEmpty:
        """What a scored chunk with nothing highlighted becomes (``on_empty`` resolved; see the class doc)."""
        if self.on_empty is not None and self.drop_empty is None:
            return self.on_empty
        if self.drop_empty is not None:
            return "drop" if self.drop_empty else "keep_original"
        return "drop" if self.mode == "prune" else "keep_original"

    @property
    def drops_empty(self) -> bool:
        """Whether scored chunks with no highlight are dropped (default: only in prune mode)."""
        return self.empty_policy == "drop"


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
    kept_by: str | None = None
    """Why a chunk with no highlight is returned anyway (``"keep_original"``, ``"keep_best"``, ``"min_keep"``)."""

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
    highlighter: HighlighterLike | None, model: Any = None, device: Any = None, dtype: Any = None
) -> HighlighterLike:
    """A wrapper's engine: ``highlighter`` as given (shared between wrappers and threads; a
    :class:`SemanticHighlighter` or anything with its ``highlight``/``highlight_batch``, such as a
    remote client), else one built from ``model``/``device``/``dtype``. Giving both is an error: the
    build settings would be silently ignored."""
    from .highlighter import SemanticHighlighter

    if highlighter is None:
        return SemanticHighlighter(model=model, device=device, dtype=dtype)
    if not all(callable(getattr(highlighter, name, None)) for name in ("highlight", "highlight_batch")):
        raise TypeError(
            "highlighter must be a SemanticHighlighter or have its highlight() and highlight_batch() methods, "
            f"got {type(highlighter).__name__}"
        )
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
    text = _strip_pruned(text, segments, spans)
    metadata["segments"] = segments
    return text, metadata


def _strip_pruned(text: str, segments: list[dict[str, int]], spans: list[dict[str, Any]]) -> str:
    """``text`` stripped at both ends, with ``segments`` and the spans' pruned offsets shifted and clipped
    to match (in place): segments keep ``pruned[ps:pe] == original[start:end]``; span ``start``/``end``/
    ``text`` stay the sentence's own, while ``pruned_start``/``pruned_end`` lose the stripped whitespace."""
    lead = len(text) - len(text.lstrip())
    stripped = text.strip()
    if stripped == text:
        return text
    for seg in segments:
        cut_start = max(0, lead - seg["pruned_start"])
        seg["start"] += min(cut_start, seg["end"] - seg["start"])
        seg["pruned_start"] = max(0, seg["pruned_start"] - lead)
        seg["pruned_end"] = min(len(stripped), max(0, seg["pruned_end"] - lead))
        seg["end"] = seg["start"] + seg["pruned_end"] - seg["pruned_start"]
    segments[:] = [seg for seg in segments if seg["pruned_end"] > seg["pruned_start"]]
    for span in spans:
        if "pruned_start" in span:
            span["pruned_start"] = min(len(stripped), max(0, span["pruned_start"] - lead))
            span["pruned_end"] = min(len(stripped), max(span["pruned_start"], span["pruned_end"] - lead))
    return stripped


def _best_selected(result: HighlightResult) -> HighlightResult:
    """``result`` with its best sentence (the first on ties) as its only selected one."""
    best = max(result.sentences, key=lambda s: s.score)
    sentences = tuple(dataclasses.replace(s, selected=s is best) for s in result.sentences)
    return dataclasses.replace(result, sentences=sentences)


def _kept_empty(chunk: ChunkAnnotation, options: AnnotateOptions, kept_by: str) -> ChunkAnnotation:
    """A scored chunk with no highlight, kept anyway: unpruned (``keep_original``) or with its best
    sentence as its highlight (``keep_best``, ``min_keep``); its metadata says so under ``kept_by``."""
    assert chunk.result is not None
    if kept_by == "keep_original" or not chunk.result.sentences:
        text, metadata = annotation_metadata(chunk.result, "annotate")
        if options.mode == "prune":
            n = len(text)
            metadata["segments"] = [{"start": 0, "end": n, "pruned_start": 0, "pruned_end": n}] if n else []
    else:
        text, metadata = annotation_metadata(_best_selected(chunk.result), options.mode, options.context_sentences)
    if options.mode == "prune" or kept_by != "keep_original":
        metadata["kept_by"] = kept_by
    return dataclasses.replace(chunk, text=text, metadata=metadata, kept_by=kept_by)


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
    keys = ("pruned_start", "pruned_end") if pruned else ("start", "end")
    return marked_html(text, [(s[keys[0]], s[keys[1]], float(s["score"])) for s in spans], show_scores)


def has_words(query: str) -> bool:
    """Whether ``query`` has a letter or a digit (one with none, such as ``"?!"``, asks for nothing)."""
    return any(ch.isalnum() for ch in query)


def keep_empty_chunks(
    chunks: Sequence[ChunkAnnotation], options: AnnotateOptions, query: str = ""
) -> list[ChunkAnnotation]:
    """Apply ``on_empty`` and the ``min_keep`` guard to the scored chunks with nothing highlighted.

    When no chunk of the call has a highlight and they would all be dropped, a warning names the query.
    """
    policy = options.empty_policy
    out = list(chunks)
    empty = [c for c in out if not c.passed_through and not c.highlighted]
    if policy != "drop":
        ids = {c.index for c in empty}
        return [_kept_empty(c, options, policy) if c.index in ids else c for c in out]
    highlighted = sum(1 for c in out if c.highlighted)
    # no guard for a query that asks for nothing, nor for top_k=0 (no highlight wanted)
    missing = options.min_keep - highlighted if has_words(query) and options.top_k != 0 else 0
    rescued = sorted(empty, key=lambda c: (-(c.score or 0.0), c.index))[: max(0, missing)]
    if empty and not highlighted:
        logger.warning(
            "semantic-highlight: nothing highlighted in any of the %d scored chunks for query %r; %s",
            len(empty),
            query,
            f"keeping the best sentence of the {len(rescued)} best-scoring (min_keep={options.min_keep})"
            if rescued
            else "all are dropped" + ("" if has_words(query) else " (the query has no letters or digits)"),
        )
    ids = {c.index for c in rescued}
    return [_kept_empty(c, options, "min_keep") if c.index in ids else c for c in out]


def select_chunks(chunks: Sequence[ChunkAnnotation], options: AnnotateOptions) -> list[ChunkAnnotation]:
    """Drop the scored chunks with nothing highlighted that ``on_empty`` drops (those kept by
    :func:`keep_empty_chunks` stay), then apply ``top_n``: best highlight score first (ties keep input
    order), chunks passed through because of bad content rank after every scored chunk."""
    kept = [c for c in chunks if c.passed_through or c.highlighted or c.kept_by or not options.drops_empty]
    if options.top_n is None:
        return kept
    ranked = sorted(kept, key=lambda c: (c.passed_through, -(c.score or 0.0), c.index))
    return ranked[: options.top_n]


def annotate_chunks(
    highlighter: HighlighterLike,
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
    started = time.perf_counter()
    valid, texts = _scorable(query, contents, labels)
    results: list[HighlightResult] = (
        list(highlighter.highlight(query, texts, **_engine_options(options, on_batch))) if texts else []
    )
    return _finish(query, contents, valid, results, options, started)


async def aannotate_chunks(
    highlighter: HighlighterLike,
    query: str,
    contents: Sequence[object],
    options: AnnotateOptions | None = None,
    *,
    labels: Sequence[str] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> ChunkBatch:
    """:func:`annotate_chunks` without blocking the event loop: awaits the highlighter's
    ``ahighlight_batch`` when it has one (a remote client), else runs the model in a worker thread
    (``on_batch`` is then called from that thread)."""
    ahighlight_batch = getattr(highlighter, "ahighlight_batch", None)
    if not callable(ahighlight_batch):
        return await asyncio.to_thread(
            annotate_chunks, highlighter, query, contents, options, labels=labels, on_batch=on_batch
        )
    options = options or AnnotateOptions()
    started = time.perf_counter()
    valid, texts = _scorable(query, contents, labels)
    results: list[HighlightResult] = []
    if texts:
        (results,) = await ahighlight_batch([(query, texts)], **_engine_options(options, on_batch))
    return _finish(query, contents, valid, list(results), options, started)


def _engine_options(options: AnnotateOptions, on_batch: Callable[[int, int], None] | None) -> dict[str, Any]:
    """The engine's keyword arguments (``on_batch`` only when given: a duck-typed highlighter may lack it)."""
    selection = options.selection or SelectionOptions()
    kwargs: dict[str, Any] = selection.kwargs()  # only the fields set: a duck-typed highlighter may lack some
    if on_batch is not None:
        kwargs["on_batch"] = on_batch
    return kwargs


def _scorable(query: object, contents: Sequence[object], labels: Sequence[str] | None) -> tuple[list[int], list[str]]:
    """Check ``query``; the indices and texts of the chunks that can be scored (the others are logged)."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, got {type(query).__name__}")
    if not query.strip():
        raise ValueError(f"query must not be blank, got {query!r}")
    valid: list[int] = []
    texts: list[str] = []
    for i, content in enumerate(contents):
        reason = bad_content_reason(content)
        if reason is None:
            valid.append(i)
            texts.append(content)  # type: ignore[arg-type]  # bad_content_reason checked it is a str
        else:
            label = labels[i] if labels is not None and i < len(labels) and labels[i] else f"#{i}"
            logger.warning("semantic-highlight: chunk %s passed through unannotated: %s", label, reason)
    return valid, texts


def _finish(
    query: str,
    contents: Sequence[object],
    valid: list[int],
    results: list[HighlightResult],
    options: AnnotateOptions,
    started: float,
) -> ChunkBatch:
    """The batch from the engine's results: metadata per chunk, ``on_empty``/``min_keep``, ``top_n``."""
    if len(results) != len(valid):
        raise ValueError(f"the highlighter returned {len(results)} results for {len(valid)} documents")
    by_index = dict(zip(valid, results, strict=True))
    chunks: list[ChunkAnnotation] = []
    for i in range(len(contents)):
        result = by_index.get(i)
        if result is None:
            chunks.append(ChunkAnnotation(i, None, None, None))
        else:
            text, metadata = annotation_metadata(result, options.mode, options.context_sentences)
            chunks.append(ChunkAnnotation(i, text, metadata, result))
    chunks = keep_empty_chunks(chunks, options, query)
    kept = select_chunks(chunks, options)
    return ChunkBatch(chunks, kept, time.perf_counter() - started, options)
