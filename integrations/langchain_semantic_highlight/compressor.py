"""``SemanticHighlightCompressor``: a LangChain document compressor that annotates or prunes documents.

All the logic lives in :mod:`semantic_highlight.annotations`; this module only maps ``Document``
objects to text and back, and reports progress as LangChain custom events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import Callbacks, adispatch_custom_event, dispatch_custom_event
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config, get_callback_manager_for_config
from pydantic import BaseModel, ConfigDict, Field, SkipValidation, model_validator
from semantic_highlight.annotations import (
    DEFAULT_METADATA_KEY,
    DEFAULT_MIN_KEEP,
    AnnotateOptions,
    ChunkAnnotation,
    ChunkBatch,
    HighlighterLike,
    OnEmpty,
    aannotate_chunks,
    annotate_chunks,
    resolve_highlighter,
)
from semantic_highlight.wrapper_settings import check_wrapper_settings

__all__ = ["EVENT_BATCH", "EVENT_END", "EVENT_START", "RETRIEVAL_SCORE_KEY", "SemanticHighlightCompressor"]

logger = logging.getLogger(__name__)

EVENT_START = "semantic_highlight_start"
"""Custom event sent before a batch is scored: ``{"query", "chunks", "mode"}``."""
EVENT_BATCH = "semantic_highlight_batch"
"""Custom event sent after each model batch: ``{"query", "done", "total"}`` (windows scored so far / in all)."""
EVENT_END = "semantic_highlight_end"
"""Custom event sent after a batch: ``ChunkBatch.stats()`` (counts and ``seconds``) plus ``"query"``."""
RELEVANCE_SCORE_KEY = "relevance_score"
"""Where the highlight score goes when scores are replaced (LangChain rerankers' key)."""
RETRIEVAL_SCORE_KEY = "retrieval_score"
"""Where a replaced ``relevance_score`` is kept with ``keep_retrieval_score=True``."""


def _event_config(callbacks: Callbacks) -> RunnableConfig | None:
    """The config to dispatch custom events with, or ``None`` when there is no parent run
    (``dispatch_custom_event`` raises without one)."""
    config = ensure_config({"callbacks": callbacks} if callbacks is not None else None)
    try:
        manager = get_callback_manager_for_config(config)
    except Exception:  # unusual callbacks objects: events are optional, never fail the call
        return None
    return config if manager.parent_run_id is not None else None


def _label(doc: object, i: int) -> str:
    """A document's name in warnings: its id, else its position."""
    try:
        return str(getattr(doc, "id", None) or f"#{i}")
    except Exception:
        return f"#{i}"


class _HighlightSettings(BaseModel):
    """Settings and document plumbing shared by the compressor and the retriever."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    highlighter: SkipValidation[HighlighterLike | None] = Field(default=None, exclude=True)
    """An existing highlighter (shared between wrappers and threads): a ``SemanticHighlighter`` or a
    remote client with the same ``highlight``/``highlight_batch``; built from ``model`` when ``None``."""
    model: str | Path | None = None
    """Checkpoint folder or hub id used when ``highlighter`` is not given (``None``: the embedded default)."""
    device: str | None = None
    dtype: str | None = None
    mode: Literal["annotate", "prune"] = "annotate"
    threshold: float | None = None
    fallback_threshold: float | None = None
    """A document with no sentence above ``threshold`` keeps its best one above this (``None``: the model's)."""
    relative_threshold: float | None = None
    """A highlighted best sentence brings every sentence scoring at least this share of it, in (0, 1]
    (``None``: the model's)."""
    top_k: int | None = None
    """At most this many highlighted sentences per document."""
    on_empty: OnEmpty | None = None
    """A document with nothing highlighted: ``"drop"``, ``"keep_original"`` or ``"keep_best"``
    (``None``: drop in prune mode, keep the original in annotate mode)."""
    min_keep: int = DEFAULT_MIN_KEEP
    """When ``on_empty`` drops, still return at least this many documents (their best sentence); 0: off."""
    drop_empty: bool | None = None
    """Deprecated: ``on_empty="drop"`` (``True``) or ``on_empty="keep_original"`` (``False``)."""
    top_n: int | None = None
    """Keep the ``top_n`` best documents by highlight score, reordered (off by default)."""
    context_sentences: int = 0
    """Prune mode: keep this many sentences around each highlight."""
    metadata_key: str = DEFAULT_METADATA_KEY
    replace_score: bool | None = None
    """Set ``metadata["relevance_score"]`` to the highlight score (``None``: only when ``top_n`` is set)."""
    keep_retrieval_score: bool = False
    """When ``relevance_score`` is set over an existing one, keep the old one in ``metadata["retrieval_score"]``."""

    @model_validator(mode="before")
    @classmethod
    def _check_input(cls, data: Any) -> Any:
        known = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
        return check_wrapper_settings(cls.__name__, data, known)

    @model_validator(mode="after")
    def _build(self) -> Any:
        self._options()  # validate the settings early
        self.highlighter = resolve_highlighter(self.highlighter, self.model, self.device, self.dtype)
        return self

    def _options(self) -> AnnotateOptions:
        return AnnotateOptions.from_settings(self)

    @staticmethod
    def _contents(documents: Sequence[Document]) -> tuple[list[Document], list[object], list[str]]:
        docs = list(documents)
        contents = [getattr(d, "page_content", None) for d in docs]
        return docs, contents, [_label(d, i) for i, d in enumerate(docs)]

    def _rebuild(self, doc: Document, chunk: ChunkAnnotation, replace: bool) -> Document:
        """The document ``chunk`` says to return: a new ``Document`` with the new text and a new top-level
        metadata dict (values shared, never deep-copied); passed-through chunks come back as given."""
        if chunk.result is None or not isinstance(doc, Document):
            return doc
        try:
            metadata = dict(doc.metadata)
            metadata[self.metadata_key] = chunk.metadata
            if replace:
                if self.keep_retrieval_score and RELEVANCE_SCORE_KEY in metadata:
                    metadata[RETRIEVAL_SCORE_KEY] = metadata[RELEVANCE_SCORE_KEY]
                metadata[RELEVANCE_SCORE_KEY] = chunk.score
            return doc.model_copy(update={"page_content": chunk.text, "metadata": metadata})
        except Exception as exc:  # e.g. metadata=None from model_construct: never lose the document
            logger.warning(
                "semantic-highlight: document %s passed through unannotated: %s: %s",
                _label(doc, chunk.index),
                type(exc).__name__,
                exc,
            )
            return doc

    def _documents(self, docs: list[Document], batch: ChunkBatch) -> list[Document]:
        """New documents for the kept chunks, in output order (inputs are never mutated)."""
        options = batch.options
        replace = options.top_n is not None if self.replace_score is None else self.replace_score
        return [self._rebuild(docs[c.index], c, replace) for c in batch.kept]

    def _score(
        self,
        documents: Sequence[Document],
        query: str,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> tuple[list[Document], ChunkBatch]:
        """One batched pass over ``documents``; returns new documents (inputs are never mutated)."""
        assert self.highlighter is not None
        docs, contents, labels = self._contents(documents)
        batch = annotate_chunks(self.highlighter, query, contents, self._options(), labels=labels, on_batch=on_batch)
        return self._documents(docs, batch), batch

    def _start_data(self, documents: Sequence[Document], query: str) -> dict[str, Any]:
        return {"query": query, "chunks": len(documents), "mode": self.mode}

    def _highlight_documents(self, documents: Sequence[Document], query: str, callbacks: Callbacks) -> list[Document]:
        config = _event_config(callbacks)
        if config is not None:
            dispatch_custom_event(EVENT_START, self._start_data(documents, query), config=config)

        def progress(done: int, total: int) -> None:
            if config is not None:
                dispatch_custom_event(EVENT_BATCH, {"query": query, "done": done, "total": total}, config=config)

        out, batch = self._score(documents, query, progress)
        if config is not None:
            dispatch_custom_event(EVENT_END, {"query": query, **batch.stats()}, config=config)
        return out

    async def _ahighlight_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks
    ) -> list[Document]:
        """The async path: a remote highlighter's ``ahighlight_batch`` is awaited; an in-process model
        runs in a worker thread, so the event loop stays free (the highlighter is thread-safe)."""
        assert self.highlighter is not None
        config = _event_config(callbacks)
        if config is not None:
            await adispatch_custom_event(EVENT_START, self._start_data(documents, query), config=config)
        loop = asyncio.get_running_loop()
        pending: list[Future[Any]] = []

        def progress(done: int, total: int) -> None:  # may run in the worker thread: hand the event to the loop
            if config is not None:
                data = {"query": query, "done": done, "total": total}
                event = adispatch_custom_event(EVENT_BATCH, data, config=config)
                pending.append(asyncio.run_coroutine_threadsafe(event, loop))

        docs, contents, labels = self._contents(documents)
        batch = await aannotate_chunks(
            self.highlighter, query, contents, self._options(), labels=labels, on_batch=progress
        )
        for future in pending:
            await asyncio.wrap_future(future)
        if config is not None:
            await adispatch_custom_event(EVENT_END, {"query": query, **batch.stats()}, config=config)
        return self._documents(docs, batch)


class SemanticHighlightCompressor(_HighlightSettings, BaseDocumentCompressor):
    """Annotate (``mode="annotate"``) or prune (``mode="prune"``) documents with the sentences that answer the query.

    Annotate mode keeps ``page_content`` and adds ``metadata[metadata_key] = {"spans": [...], "score",
    "model", "threshold"}`` (offsets into ``page_content``); prune mode replaces ``page_content`` with
    the highlighted sentences (stripped at its ends) and keeps the original offsets in the metadata.
    A document with nothing highlighted follows ``on_empty``; ``min_keep`` keeps a call from returning
    nothing. With ``top_n`` (or ``replace_score=True``), ``metadata["relevance_score"]`` is set and the
    documents are reordered by highlight score (``top_n`` only). Documents are never mutated: new
    ``Document`` objects with the same ``id`` are returned. Unknown settings raise ``TypeError``.
    """

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        return self._highlight_documents(documents, query, callbacks)

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        return await self._ahighlight_documents(documents, query, callbacks)
