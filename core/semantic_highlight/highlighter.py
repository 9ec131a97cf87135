"""SemanticHighlighter: the one entry point. Resolves the model, then runs the pipeline
split -> pack -> score -> aggregate -> select for every (query, document) pair of a call at once."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, overload

import torch

from .aggregate import build_result, check_count, check_relative_threshold, check_threshold, select, sentence_scores
from .models import LoadedModel, load_model
from .packing import Window, plan_windows, query_token_limit
from .results import HighlightResult
from .scoring import score_windows
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


@dataclass
class _Pair:
    query: int
    text: str
    spans: list[tuple[int, int]]


def _presplit_spans(sentences: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Offsets of caller-split sentences in their concatenation; blank ones are dropped, and a
    multi-line sentence with fewer end marks than lines is re-split into lines (reference rule)."""
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
                if line.strip() or not spans or spans[-1][1] != cursor:
                    spans.append((cursor, cursor + len(line)))
                else:  # a blank line stays with the line before it
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
        max_padding: a batch stops growing when its padded size would exceed ``1 + max_padding``
            times its real tokens; ``None``: 0.1 on CPU, 0.3 on GPUs (fewer, larger kernels).
        show_progress: show a progress bar over batches.
        max_sentence_chars: sentences longer than this are cut at clause marks (``None``: never).

    One instance is safe to share between threads.
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
    ) -> None:
        if not isinstance(max_batch_tokens, int) or max_batch_tokens < 1:
            raise ValueError(f"max_batch_tokens must be a positive int, got {max_batch_tokens!r}")
        self.model: LoadedModel = load_model(model, device=device, dtype=dtype)
        checked = check_threshold(threshold, "threshold")
        self.threshold: float = self.model.default_threshold if checked is None else checked
        fallback = check_threshold(fallback_threshold, "fallback_threshold")
        self.fallback_threshold: float | None = self.model.default_fallback_threshold if fallback is None else fallback
        relative = check_relative_threshold(relative_threshold)
        self.relative_threshold: float | None = self.model.default_relative_threshold if relative is None else relative
        self.max_batch_tokens = max_batch_tokens
        self.max_padding = (
            (0.1 if self.model.device.type == "cpu" else 0.3) if max_padding is None else float(max_padding)
        )
        self.show_progress = show_progress
        self.max_sentence_chars = check_count(max_sentence_chars, "max_sentence_chars", 1)
        self._lock = threading.Lock()

    @property
    def device(self) -> torch.device:
        return self.model.device

    def __repr__(self) -> str:
        return (
            f"SemanticHighlighter(model={self.model.name!r}, device={self.device.type!r}, threshold={self.threshold})"
        )

    @overload
    def highlight(self, query: str, documents: str, **options: Any) -> HighlightResult: ...
    @overload
    def highlight(self, query: str, documents: Sequence[Document], **options: Any) -> list[HighlightResult]: ...

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
        show_progress: bool | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> HighlightResult | list[HighlightResult]:
        """Highlight one document (a str -> one result) or a list of documents (-> results in input order).

        A document given as a list of strings is taken as already split into sentences.
        """
        single = isinstance(documents, str)
        results = self.highlight_batch(
            [(query, documents)],
            threshold=threshold,
            fallback_threshold=fallback_threshold,
            relative_threshold=relative_threshold,
            top_k=top_k,
            min_score=min_score,
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
        show_progress: bool | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> list[list[HighlightResult]]:
        """Score many ``(query, documents)`` pairs in one batched pass; one result list per pair.

        ``on_batch(done, total)`` is called after each model batch with the number of windows
        scored so far and in all (for progress reporting, e.g. framework callbacks).
        """
        cut = check_threshold(threshold, "threshold")
        cut = self.threshold if cut is None else cut
        floor = check_threshold(min_score, "min_score")
        fallback = check_threshold(fallback_threshold, "fallback_threshold")
        fallback = self.fallback_threshold if fallback is None else fallback
        relative = check_relative_threshold(relative_threshold)
        relative = self.relative_threshold if relative is None else relative
        top_k = check_count(top_k, "top_k", 0)
        queries, prepared = self._prepare(pairs)
        windows = self._plan(queries, prepared)
        progress = self.show_progress if show_progress is None else show_progress
        with self._lock:
            scores = self._run(windows, progress, on_batch)

        fragments: list[list[list[float]]] = [[[] for _ in p.spans] for p in prepared]
        ranking: list[float | None] = [None] * len(prepared)
        for window, result in zip(windows, scores, strict=True):
            for frag, mean in zip(window.fragments, result.fragment_means, strict=True):
                fragments[window.pair][frag.sentence].append(mean)
            if result.ranking is not None:
                previous = ranking[window.pair]
                ranking[window.pair] = result.ranking if previous is None else max(previous, result.ranking)

        out: list[list[HighlightResult]] = [[] for _ in queries]
        for i, p in enumerate(prepared):
            sentence_score = sentence_scores(fragments[i])
            chosen = select(sentence_score, cut, top_k, floor, fallback, relative)
            out[p.query].append(
                build_result(
                    queries[p.query],
                    p.text,
                    p.spans,
                    sentence_score,
                    chosen,
                    cut,
                    ranking[i],
                    self.model.name,
                    fallback,
                    relative,
                )
            )
        return out

    def plan(self, pairs: Sequence[tuple[str, Document | Sequence[Document]]]) -> list[Window]:
        """The model windows :meth:`highlight_batch` would score for ``pairs`` (split, tokenized and
        packed, not run): what benchmarks time as the floor and training packs its inputs like."""
        return self._plan(*self._prepare(pairs))

    def _prepare(self, pairs: Sequence[tuple[str, Document | Sequence[Document]]]) -> tuple[list[str], list[_Pair]]:
        """Validate ``pairs`` and split every document into sentence spans."""
        if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
            raise TypeError("pairs must be a list of (query, documents) tuples")
        queries: list[str] = []
        docs_per_query: list[list[Document]] = []
        for n, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"pairs[{n}] must be a (query, documents) tuple")
            query, documents = pair
            if not isinstance(query, str):
                raise TypeError(f"query must be a str, got {type(query).__name__}")
            queries.append(query)
            docs_per_query.append(_check_documents(documents, "documents"))

        prepared: list[_Pair] = []
        for q, documents in enumerate(docs_per_query):
            for doc in documents:
                if isinstance(doc, str):
                    spans = [(s.start, s.end) for s in split_sentences(doc, self.max_sentence_chars)]
                    prepared.append(_Pair(q, doc, spans))
                else:
                    text, spans = _presplit_spans(doc)
                    prepared.append(_Pair(q, text, spans))

        return queries, prepared

    def _plan(self, queries: list[str], prepared: list[_Pair]) -> list[Window]:
        model = self.model
        tok = model.tokenizer
        limit = query_token_limit(model.max_length, model.max_positions, model.layout)
        query_ids: list[list[int]] = []
        encoded_queries = tok.encode_batch([_tokenizable(q) for q in queries], add_special_tokens=False)
        for query, enc in zip(queries, encoded_queries, strict=True):
            ids = list(enc.ids)
            if len(ids) > limit:
                logger.warning("query of %d tokens capped to %d: %r", len(ids), limit, query[:80])
                ids = ids[:limit]
            query_ids.append(ids)
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
                    i, query_ids[p.query], sentence_ids, model.layout, model.max_length, model.max_positions, is_blank
                )
            )
        return windows

    def _run(self, windows: list[Window], progress: bool, on_batch: Callable[[int, int], None] | None) -> list[Any]:
        total = len(windows)
        done = 0
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc="highlight", unit="window")

        def step(n: int) -> None:
            nonlocal done
            done += n
            if bar is not None:
                bar.update(n)
            if on_batch is not None:
                on_batch(done, total)

        try:
            return score_windows(
                self.model, windows, self.max_batch_tokens, on_batch=step, max_padding=self.max_padding
            )
        finally:
            if bar is not None:
                bar.close()
