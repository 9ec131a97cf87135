"""SemanticHighlighter: the one entry point. Resolves the model, then runs the pipeline
split -> pack -> score -> aggregate -> select for every (query, document) pair of a call at once."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, overload

import torch

from .aggregate import (
    build_result,
    check_callable,
    check_choice,
    check_count,
    check_non_negative,
    select,
    sentence_scores,
)
from .models import LoadedModel, load_model
from .options import SelectionOptions
from .packing import (
    DEFAULT_QUERY_TRUNCATION,
    LAST_SENTENCES_TOKENS,
    QUERY_TRUNCATIONS,
    QueryTruncation,
    Window,
    cap_query,
    paragraph_starts,
    plan_windows,
    query_token_limit,
)
from .results import HighlightResult
from .scheduler import BatchScheduler
from .scoring import WindowScores
from .splitting import DEFAULT_MAX_SENTENCE_CHARS, split_sentences

__all__ = ["Document", "SemanticHighlighter"]

logger = logging.getLogger(__name__)

Document = str | Sequence[str]
"""A document is a string (split by :func:`split_sentences`) or a list of pre-split sentences."""

DEFAULT_MAX_BATCH_TOKENS = 16384


_SURROGATE = re.compile("[\ud800-\udfff]")


def _tokenizable(text: str) -> str:
    """``text`` with lone surrogates (which the tokenizer rejects, e.g. undecodable bytes read with
    ``surrogateescape``) replaced by U+FFFD: one character for one, so offsets are unchanged."""
    return _SURROGATE.sub("\ufffd", text)


@dataclass(frozen=True)
class _PreparedDocument:
    """A document split into sentence spans, ready to pack (``query``: index of its query in the call)."""

    query: int
    text: str
    spans: list[tuple[int, int]]


def _presplit_spans(sentences: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Offsets of caller-split sentences in their concatenation; blank ones are dropped, and a
    multi-line sentence with fewer end marks than lines is re-split into lines (reference rule).

    A blank line split out of an entry is treated like a blank entry: it joins the sentence right before
    it when there is one, else it is dropped, so no sentence is ever blank."""
    text = "".join(sentences)
    spans: list[tuple[int, int]] = []
    pos = 0
    for sentence in sentences:
        start, pos = pos, pos + len(sentence)
        if not sentence.strip():
            continue
        lines = sentence.splitlines(keepends=True)
        filled = [line for line in lines if line.strip()]
        marks = sum(sentence.count(c) for c in ".?!")
        if "\n" in sentence and len(filled) >= 2 and marks < len(filled):
            cursor = start
            for line in lines:
                if line.strip():
                    spans.append((cursor, cursor + len(line)))
                elif spans and spans[-1][1] == cursor:  # a blank line stays with the line before it
                    spans[-1] = (spans[-1][0], cursor + len(line))
                cursor += len(line)
        else:
            spans.append((start, pos))
    return text, spans


def _check_documents(documents: Any, name: str) -> list[Document]:
    if isinstance(documents, str):
        return [documents]
    if not isinstance(documents, Sequence):
        raise TypeError(f"{name} must be a str or a list of documents, got {type(documents).__name__}")
    for i, doc in enumerate(documents):
        if isinstance(doc, str):
            continue
        if not isinstance(doc, Sequence):
            raise TypeError(f"{name}[{i}] must be a str or a list of str, got {type(doc).__name__}")
        for j, sentence in enumerate(doc):
            if not isinstance(sentence, str):
                raise TypeError(f"{name}[{i}][{j}] must be a str, got {type(sentence).__name__}")
    return list(documents)


def _check_query(query: Any, name: str = "query") -> str:
    """A query is a non-blank str: ``TypeError`` for anything else (``None`` included), ``ValueError``
    for ``""`` or whitespace only (nothing to score against)."""
    if not isinstance(query, str):
        raise TypeError(f"{name} must be a str, got {type(query).__name__}")
    if not query.strip():
        raise ValueError(f"{name} must not be empty or whitespace only, got {query!r}")
    return query


def _has_word(query: str) -> bool:
    """Whether ``query`` has a letter or a digit (any script); a query of punctuation or symbols alone
    ("?!", "……", "—") asks for nothing, so nothing is selected for it."""
    return any(ch.isalnum() for ch in query)


def _check_selection(selection: Any) -> SelectionOptions | None:
    if selection is not None and not isinstance(selection, SelectionOptions):
        raise TypeError(f"selection must be a SelectionOptions or None, got {type(selection).__name__}")
    return selection


@dataclass
class _Call:
    """One highlight call on its way through the scheduler: what to aggregate its window scores into."""

    queries: list[str]
    prepared: list[_PreparedDocument]
    windows: list[Window]
    selection: SelectionOptions
    model_name: str
    on_batch: Callable[[int, int], None] | None
    bar: Any = None

    def progress(self, done: int, total: int) -> None:
        """``(done, total)`` windows of this call, after each batch holding some of them."""
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
        if self.on_batch is not None:
            self.on_batch(done, total)

    def close_bar(self, _: object = None) -> None:
        if self.bar is not None:
            self.bar.close()

    def finish(self, scores: Sequence[WindowScores]) -> list[list[HighlightResult]]:
        """Window scores -> sentence scores -> selection -> one result list per query, in input order."""
        fragments: list[list[list[float]]] = [[[] for _ in p.spans] for p in self.prepared]
        ranking: list[float | None] = [None] * len(self.prepared)
        for window, result in zip(self.windows, scores, strict=True):
            for frag, mean in zip(window.fragments, result.fragment_means, strict=True):
                fragments[window.document][frag.sentence].append(mean)
            if result.ranking is not None:
                previous = ranking[window.document]
                ranking[window.document] = result.ranking if previous is None else max(previous, result.ranking)
        options = self.selection
        threshold = options.threshold
        assert threshold is not None  # resolved against the checkpoint's defaults, which always have one
        asks = [_has_word(q) for q in self.queries]
        out: list[list[HighlightResult]] = [[] for _ in self.queries]
        for i, doc in enumerate(self.prepared):
            score = sentence_scores(fragments[i])
            if asks[doc.query]:
                chosen = select(
                    score,
                    threshold,
                    options.top_k,
                    options.min_score,
                    options.fallback_threshold,
                    options.relative_threshold,
                )
            else:
                chosen = [False] * len(score)
            out[doc.query].append(
                build_result(
                    self.queries[doc.query],
                    doc.text,
                    doc.spans,
                    score,
                    chosen,
                    threshold,
                    ranking[i],
                    self.model_name,
                    options.fallback_threshold,
                    options.relative_threshold,
                )
            )
        return out


class SemanticHighlighter:
    """Highlights the sentences of documents that answer a query, by meaning.

    Args:
        model: local checkpoint folder, Hugging Face hub id, or ``None`` for the embedded default model.
        device: ``"cpu"``, ``"cuda"``, ``"mps"``, a ``torch.device``, or ``None`` (cuda > mps > cpu).
        dtype: ``"float32"``, ``"bfloat16"``, ``"float16"``, ``"int8"`` (CPU dynamic quantization) or a
            torch dtype; ``None`` picks bf16/fp16 on GPU, fp32 on CPU.
        threshold: sentences scoring strictly above it are highlighted; ``None`` uses the checkpoint's default.
        fallback_threshold: when no sentence of a document passes ``threshold``, its best sentence is
            still highlighted if it scores above this; ``None`` uses the checkpoint's default (none for
            reference checkpoints), ``1.0`` turns it off.
        relative_threshold: a ratio in (0, 1]: in a document whose best sentence is highlighted, every
            sentence scoring at least this share of the best's score is highlighted too; ``None`` uses
            the checkpoint's default (none for reference checkpoints); ``1.0`` adds only ties with the best.
        max_batch_tokens: token budget of one padded batch (rows x longest window).
        show_progress: show a progress bar over batches.
        max_sentence_chars: sentences longer than this are cut at clause marks (``None``: never).
        max_padding: a batch stops growing when its padded size would exceed ``1 + max_padding``
            times its real tokens; ``None``: 0.1 on CPU, 0.3 on GPUs (fewer, larger kernels).
        top_k, min_score: instance defaults of the per-call options (``None``: no limit, no gate).
        selection: a :class:`SelectionOptions` with the instance defaults; the keyword arguments above
            override its fields.
        query_truncation: how a long query is cut: ``"last_sentences"`` (the default) keeps its final sentences
            within :data:`~semantic_highlight.packing.LAST_SENTENCES_TOKENS` tokens (the question after a chat
            history); ``"end"`` keeps its last tokens up to the cap, ``"start"`` its first.
        paragraph_windows: start a paragraph (text after a blank line) in a new window when it does not fit in the
            current one, so each passage of a joined tool output is scored as it would be on its own; ``False``
            packs sentences purely greedily, as the reference implementation does.
        max_wait_ms, max_queue, max_batch_jobs: the :class:`~semantic_highlight.scheduler.BatchScheduler`'s
            (how long an idle worker waits to fill a batch, how many calls may wait, how many calls may
            share a batch).

    One instance is safe to share between threads: every call goes through one scheduler (:attr:`scheduler`),
    one worker thread that scores the windows of concurrent calls in shared batches.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        threshold: float | None = None,
        fallback_threshold: float | None = None,
        relative_threshold: float | None = None,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        show_progress: bool = False,
        max_sentence_chars: int | None = DEFAULT_MAX_SENTENCE_CHARS,
        max_padding: float | None = None,
        *,
        top_k: int | None = None,
        min_score: float | None = None,
        selection: SelectionOptions | None = None,
        query_truncation: QueryTruncation = DEFAULT_QUERY_TRUNCATION,
        max_wait_ms: float = 0.0,
        max_queue: int | None = None,
        max_batch_jobs: int | None = None,
        paragraph_windows: bool = True,
    ) -> None:
        # every argument is checked before the model loads (a typo fails in microseconds, not seconds)
        given = (_check_selection(selection) or SelectionOptions()).override(
            threshold=threshold,
            fallback_threshold=fallback_threshold,
            relative_threshold=relative_threshold,
            top_k=top_k,
            min_score=min_score,
        )
        budget = check_count(max_batch_tokens, "max_batch_tokens", 1)
        if budget is None:
            raise TypeError("max_batch_tokens must be an int, got None")
        padding = check_non_negative(max_padding, "max_padding")
        if not isinstance(show_progress, bool):
            raise TypeError(f"show_progress must be a bool, got {type(show_progress).__name__}")
        self.max_sentence_chars = check_count(max_sentence_chars, "max_sentence_chars", 1)
        truncation = check_choice(query_truncation, "query_truncation", QUERY_TRUNCATIONS)
        if truncation is None:
            raise TypeError("query_truncation must be a str, got None")
        self.query_truncation: QueryTruncation = truncation  # type: ignore[assignment]
        check_non_negative(max_wait_ms, "max_wait_ms")
        check_count(max_queue, "max_queue", 1)
        check_count(max_batch_jobs, "max_batch_jobs", 1)
        if not isinstance(paragraph_windows, bool):
            raise TypeError(f"paragraph_windows must be a bool, got {type(paragraph_windows).__name__}")
        self.paragraph_windows = paragraph_windows

        self.model: LoadedModel = load_model(model, device=device, dtype=dtype)
        checkpoint = SelectionOptions(
            threshold=self.model.default_threshold,
            fallback_threshold=self.model.default_fallback_threshold,
            relative_threshold=self.model.default_relative_threshold,
        )
        self.selection: SelectionOptions = given.resolve(checkpoint)
        """The instance's selection options, resolved against the checkpoint's defaults."""
        self.show_progress = show_progress
        if padding is None:
            padding = 0.1 if self.model.device.type == "cpu" else 0.3
        self.scheduler = BatchScheduler(
            self.model,
            max_batch_tokens=budget,
            max_padding=padding,
            max_wait_ms=max_wait_ms,
            max_queue=max_queue,
            max_batch_jobs=max_batch_jobs,
            name=self.model.name,
        )
        """The one queue and worker thread every call of this instance goes through."""

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def threshold(self) -> float:
        return self.selection.threshold  # type: ignore[return-value]  # resolved: never None

    @property
    def fallback_threshold(self) -> float | None:
        return self.selection.fallback_threshold

    @property
    def relative_threshold(self) -> float | None:
        return self.selection.relative_threshold

    @property
    def max_batch_tokens(self) -> int:
        return self.scheduler.max_batch_tokens

    @property
    def max_padding(self) -> float:
        return self.scheduler.max_padding

    def close(self, drain: bool = True, timeout: float | None = None) -> bool:
        """Stop taking calls (they raise :class:`~semantic_highlight.scheduler.SchedulerClosedError`); with
        ``drain``, finish every queued and running call first. Returns whether the worker has stopped
        (see :meth:`BatchScheduler.close`). Needed only for a clean shutdown: an idle worker exits by itself."""
        return self.scheduler.close(drain=drain, timeout=timeout)

    def __repr__(self) -> str:
        return (
            f"SemanticHighlighter(model={self.model.name!r}, device={self.device.type!r}, threshold={self.threshold})"
        )

    @overload
    def highlight(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
        self,
        query: str,
        documents: str,
        *,
        threshold: float | None = ...,
        fallback_threshold: float | None = ...,
        relative_threshold: float | None = ...,
        top_k: int | None = ...,
        min_score: float | None = ...,
        selection: SelectionOptions | None = ...,
        query_truncation: QueryTruncation | None = ...,
        show_progress: bool | None = ...,
        on_batch: Callable[[int, int], None] | None = ...,
    ) -> HighlightResult: ...
    @overload
    def highlight(
        self,
        query: str,
        documents: Sequence[Document],
        *,
        threshold: float | None = ...,
        fallback_threshold: float | None = ...,
        relative_threshold: float | None = ...,
        top_k: int | None = ...,
        min_score: float | None = ...,
        selection: SelectionOptions | None = ...,
        query_truncation: QueryTruncation | None = ...,
        show_progress: bool | None = ...,
        on_batch: Callable[[int, int], None] | None = ...,
    ) -> list[HighlightResult]: ...

    def highlight(
        self,
        query: str,
        documents: Document | Sequence[Document],
        *,
        threshold: float | None = None,
        fallback_threshold: float | None = None,
        relative_threshold: float | None = None,
        top_k: int | None = None,
        min_score: float | None = None,
        selection: SelectionOptions | None = None,
        query_truncation: QueryTruncation | None = None,
        show_progress: bool | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> HighlightResult | list[HighlightResult]:
        """Highlight one document (a str -> one result) or a list of documents (-> results in input order).

        A document given as a list of strings is taken as already split into sentences. The options
        override the instance's for this call (see :meth:`highlight_batch`).
        """
        single = isinstance(documents, str)
        results = self.highlight_batch(
            [(query, documents)],
            threshold=threshold,
            fallback_threshold=fallback_threshold,
            relative_threshold=relative_threshold,
            top_k=top_k,
            min_score=min_score,
            selection=selection,
            query_truncation=query_truncation,
            show_progress=show_progress,
            on_batch=on_batch,
        )[0]
        return results[0] if single else results

    def highlight_batch(
        self,
        pairs: Sequence[tuple[str, Document | Sequence[Document]]],
        *,
        threshold: float | None = None,
        fallback_threshold: float | None = None,
        relative_threshold: float | None = None,
        top_k: int | None = None,
        min_score: float | None = None,
        selection: SelectionOptions | None = None,
        query_truncation: QueryTruncation | None = None,
        show_progress: bool | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> list[list[HighlightResult]]:
        """Score many ``(query, documents)`` pairs in one batched pass; one result list per pair.

        Selection options: each keyword overrides the same field of ``selection``, which overrides the
        instance's (:attr:`selection`). A query must be a non-blank str (``TypeError`` / ``ValueError``); a query
        with no letter or digit ("?!", "……") selects nothing, its documents are still scored.
        ``on_batch(done, total)`` is called after each model batch holding some of this call's windows, with
        the number of them scored so far and in all (progress reporting, e.g. framework callbacks), from the
        scheduler's worker thread. The same as ``submit_batch(...).result()``, with the aggregation run in the
        calling thread.
        """
        call = self._start_call(
            pairs,
            selection,
            query_truncation,
            show_progress,
            on_batch,
            (threshold, fallback_threshold, relative_threshold, top_k, min_score),
        )
        future = self.scheduler.submit(call.windows, on_progress=call.progress)
        try:
            scores = future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt while waiting: drop the job if it has not started
            raise
        finally:
            call.close_bar()
        return call.finish(scores)

    def submit_batch(
        self,
        pairs: Sequence[tuple[str, Document | Sequence[Document]]],
        *,
        threshold: float | None = None,
        fallback_threshold: float | None = None,
        relative_threshold: float | None = None,
        top_k: int | None = None,
        min_score: float | None = None,
        selection: SelectionOptions | None = None,
        query_truncation: QueryTruncation | None = None,
        show_progress: bool | None = None,
        on_batch: Callable[[int, int], None] | None = None,
        deadline: float | None = None,
    ) -> Future[list[list[HighlightResult]]]:
        """:meth:`highlight_batch` without waiting: returns a future of its result.

        Validation, splitting and planning run now, in the calling thread, and raise here; scoring runs in
        the scheduler's worker, shared with concurrent calls; aggregation and selection run there when the
        last window is scored. ``deadline`` (:func:`time.monotonic` time): the future fails with
        :class:`~semantic_highlight.scheduler.DeadlineExceededError` if it passes before scoring starts.
        Cancelling the future before scoring starts drops the call. Raises
        :class:`~semantic_highlight.scheduler.QueueFullError` when ``max_queue`` calls wait.
        """
        call = self._start_call(
            pairs,
            selection,
            query_truncation,
            show_progress,
            on_batch,
            (threshold, fallback_threshold, relative_threshold, top_k, min_score),
        )
        try:
            future = self.scheduler.submit(call.windows, deadline=deadline, on_progress=call.progress, then=call.finish)
        except BaseException:
            call.close_bar()
            raise
        future.add_done_callback(call.close_bar)
        return future

    def resolve_selection(
        self,
        selection: SelectionOptions | None = None,
        *,
        threshold: float | None = None,
        fallback_threshold: float | None = None,
        relative_threshold: float | None = None,
        top_k: int | None = None,
        min_score: float | None = None,
    ) -> SelectionOptions:
        """The options a call with these arguments selects with: keywords over ``selection`` over the instance's."""
        call = SelectionOptions(
            threshold=threshold,
            fallback_threshold=fallback_threshold,
            relative_threshold=relative_threshold,
            top_k=top_k,
            min_score=min_score,
        )
        base = _check_selection(selection)
        return call.resolve(self.selection if base is None else base.resolve(self.selection))

    def plan(
        self,
        pairs: Sequence[tuple[str, Document | Sequence[Document]]],
        *,
        query_truncation: QueryTruncation | None = None,
    ) -> list[Window]:
        """The model windows :meth:`highlight_batch` would score for ``pairs`` (split, tokenized and
        packed, not run): what benchmarks time as the floor and training packs its inputs like."""
        return self._plan(*self._prepare(pairs), self._truncation(query_truncation))

    def _truncation(self, query_truncation: Any) -> QueryTruncation:
        checked = check_choice(query_truncation, "query_truncation", QUERY_TRUNCATIONS)
        return self.query_truncation if checked is None else checked  # type: ignore[return-value]

    def _start_call(
        self,
        pairs: Sequence[tuple[str, Document | Sequence[Document]]],
        selection: SelectionOptions | None,
        query_truncation: QueryTruncation | None,
        show_progress: bool | None,
        on_batch: Callable[[int, int], None] | None,
        overrides: tuple[Any, Any, Any, Any, Any],
    ) -> _Call:
        """Everything a call does before scoring, in the caller's thread: check, split, tokenize, pack."""
        threshold, fallback_threshold, relative_threshold, top_k, min_score = overrides
        options = self.resolve_selection(
            selection,
            threshold=threshold,
            fallback_threshold=fallback_threshold,
            relative_threshold=relative_threshold,
            top_k=top_k,
            min_score=min_score,
        )
        truncation = self._truncation(query_truncation)
        check_callable(on_batch, "on_batch")
        if show_progress is not None and not isinstance(show_progress, bool):
            raise TypeError(f"show_progress must be a bool or None, got {type(show_progress).__name__}")
        queries, prepared = self._prepare(pairs)
        windows = self._plan(queries, prepared, truncation)
        call = _Call(queries, prepared, windows, options, self.model.name, on_batch)
        if (self.show_progress if show_progress is None else show_progress) and windows:
            from tqdm.auto import tqdm

            call.bar = tqdm(total=len(windows), desc="highlight", unit="window")
        return call

    def _prepare(
        self, pairs: Sequence[tuple[str, Document | Sequence[Document]]]
    ) -> tuple[list[str], list[_PreparedDocument]]:
        """Validate ``pairs`` and split every document into sentence spans."""
        if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
            raise TypeError("pairs must be a list of (query, documents) tuples")
        queries: list[str] = []
        docs_per_query: list[list[Document]] = []
        for n, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"pairs[{n}] must be a (query, documents) tuple")
            query, documents = pair
            queries.append(_check_query(query))
            docs_per_query.append(_check_documents(documents, "documents"))

        prepared: list[_PreparedDocument] = []
        for q, documents in enumerate(docs_per_query):
            for doc in documents:
                if isinstance(doc, str):
                    spans = [(s.start, s.end) for s in split_sentences(doc, self.max_sentence_chars)]
                    prepared.append(_PreparedDocument(q, doc, spans))
                else:
                    text, spans = _presplit_spans(doc)
                    prepared.append(_PreparedDocument(q, text, spans))

        return queries, prepared

    def _query_ids(self, queries: list[str], truncation: QueryTruncation) -> list[list[int]]:
        """Each query's tokens, cut to its cap by ``truncation``; one log line per call when any is cut."""
        model = self.model
        limit = query_token_limit(model.max_length, model.max_positions, model.layout)
        texts = [_tokenizable(q) for q in queries]
        out: list[list[int]] = []
        cut: list[int] = []
        first_cut = ""
        for text, enc in zip(texts, model.tokenizer.encode_batch(texts, add_special_tokens=False), strict=True):
            ids = cap_query(enc.ids, enc.offsets, text, limit, truncation)
            if len(ids) < len(enc.ids):
                cut.append(len(enc.ids))
                first_cut = first_cut or text
            out.append(ids)
        if cut:
            logger.warning(
                "%d of %d queries were cut (query_truncation=%r, cap %d tokens%s; longest %d tokens): %r",
                len(cut),
                len(queries),
                truncation,
                limit,
                f", last sentences within {LAST_SENTENCES_TOKENS}" if truncation == "last_sentences" else "",
                max(cut),
                first_cut[:80],
            )
        return out

    def _plan(self, queries: list[str], prepared: list[_PreparedDocument], truncation: QueryTruncation) -> list[Window]:
        model = self.model
        tok = model.tokenizer
        query_ids = self._query_ids(queries, truncation)
        texts = [_tokenizable(p.text[a:b]) for p in prepared for a, b in p.spans]
        encoded = tok.encode_batch(texts, add_special_tokens=False) if texts else []
        blank_cache: dict[tuple[int, ...], bool] = {}

        def is_blank(ids: Sequence[int]) -> bool:
            key = tuple(ids)
            if key not in blank_cache:
                blank_cache[key] = tok.decode(list(ids), skip_special_tokens=True) == ""
            return blank_cache[key]

        windows: list[Window] = []
        cursor = 0
        for i, p in enumerate(prepared):
            sentence_ids = [list(e.ids) for e in encoded[cursor : cursor + len(p.spans)]]
            cursor += len(p.spans)
            windows.extend(
                plan_windows(
                    i,
                    query_ids[p.query],
                    sentence_ids,
                    model.layout,
                    model.max_length,
                    model.max_positions,
                    is_blank,
                    paragraph_starts(p.text, p.spans) if self.paragraph_windows else (),
                )
            )
        return windows
