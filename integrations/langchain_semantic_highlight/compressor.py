"""``SemanticHighlightCompressor``: a LangChain document compressor that annotates or prunes documents.

All the logic lives in :mod:`semantic_highlight.annotations`; this module only maps ``Document``
objects to text and back, and reports progress as LangChain custom events.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import Callbacks, adispatch_custom_event, dispatch_custom_event
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config, get_callback_manager_for_config
from pydantic import BaseModel, ConfigDict, Field, model_validator
from semantic_highlight import SemanticHighlighter
from semantic_highlight.annotations import (
    DEFAULT_METADATA_KEY,
    AnnotateOptions,
    ChunkBatch,
    annotate_chunks,
    resolve_highlighter,
)

__all__ = ["EVENT_BATCH", "EVENT_END", "EVENT_START", "SemanticHighlightCompressor"]

logger = logging.getLogger(__name__)

EVENT_START = "semantic_highlight_start"
"""Custom event sent before a batch is scored: ``{"query", "chunks", "mode"}``."""
EVENT_BATCH = "semantic_highlight_batch"
"""Custom event sent after each model batch: ``{"query", "done", "total"}`` (windows scored so far / in all)."""
EVENT_END = "semantic_highlight_end"
"""Custom event sent after a batch: ``ChunkBatch.stats()`` (counts and ``seconds``) plus ``"query"``."""


def _event_config(callbacks: Callbacks) -> RunnableConfig | None:
    """The config to dispatch custom events with, or ``None`` when there is no parent run
    (``dispatch_custom_event`` raises without one)."""
    config = ensure_config({"callbacks": callbacks} if callbacks is not None else None)
    try:
        manager = get_callback_manager_for_config(config)
    except Exception:  # unusual callbacks objects: events are optional, never fail the call
        return None
    return config if manager.parent_run_id is not None else None


class _HighlightSettings(BaseModel):
    """Settings and document plumbing shared by the compressor and the retriever."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    highlighter: SemanticHighlighter | None = Field(default=None, exclude=True)
    """An existing highlighter (shared between wrappers and threads); built from ``model`` when ``None``."""
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
    drop_empty: bool | None = None
    """Drop documents with nothing highlighted; ``None``: drop only in prune mode."""
    top_n: int | None = None
    """Keep the ``top_n`` best documents by highlight score, reordered (off by default)."""
    context_sentences: int = 0
    """Prune mode: keep this many sentences around each highlight."""
    metadata_key: str = DEFAULT_METADATA_KEY

    @model_validator(mode="after")
    def _build(self) -> Any:
        self._options()  # validate the settings early
        self.highlighter = resolve_highlighter(self.highlighter, self.model, self.device, self.dtype)
        return self

    def _options(self) -> AnnotateOptions:
        return AnnotateOptions.from_settings(self)

    def _score(
        self,
        documents: Sequence[Document],
        query: str,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> tuple[list[Document], ChunkBatch]:
        """One batched pass over ``documents``; returns new documents (inputs are never mutated)."""
        assert self.highlighter is not None
        options = self._options()
        docs = list(documents)
        contents = [getattr(d, "page_content", None) for d in docs]
        labels = [str(getattr(d, "id", None) or f"#{i}") for i, d in enumerate(docs)]
        batch = annotate_chunks(self.highlighter, query, contents, options, labels=labels, on_batch=on_batch)
        out: list[Document] = []
        for chunk in batch.kept:
            doc = docs[chunk.index]
            if not isinstance(doc, Document):  # not ours to rebuild: pass it on as is
                out.append(doc)
                continue
            metadata = copy.deepcopy(doc.metadata)
            update: dict[str, Any] = {"metadata": metadata}
            if chunk.result is not None:
                metadata[self.metadata_key] = chunk.metadata
                update["page_content"] = chunk.text
                if options.top_n is not None:
                    metadata["relevance_score"] = chunk.score
            out.append(doc.model_copy(update=update))
        return out, batch

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
        config = _event_config(callbacks)
        if config is not None:
            await adispatch_custom_event(EVENT_START, self._start_data(documents, query), config=config)
        # the model runs in a worker thread so the event loop stays free; the highlighter is thread-safe
        loop = asyncio.get_running_loop()
        pending: list[Any] = []

        def progress(done: int, total: int) -> None:  # runs in the worker thread: hand the event to the loop
            if config is not None:
                data = {"query": query, "done": done, "total": total}
                event = adispatch_custom_event(EVENT_BATCH, data, config=config)
                pending.append(asyncio.run_coroutine_threadsafe(event, loop))

        out, batch = await asyncio.to_thread(self._score, documents, query, progress)
        for future in pending:
            await asyncio.wrap_future(future)
        if config is not None:
            await adispatch_custom_event(EVENT_END, {"query": query, **batch.stats()}, config=config)
        return out


class SemanticHighlightCompressor(_HighlightSettings, BaseDocumentCompressor):
    """Annotate (``mode="annotate"``) or prune (``mode="prune"``) documents with the sentences that answer the query.

    Annotate mode keeps ``page_content`` and adds ``metadata[metadata_key] = {"spans": [...], "score",
    "model", "threshold"}`` (offsets into ``page_content``); prune mode replaces ``page_content`` with
    the highlighted sentences and keeps the original offsets in the metadata. With ``top_n``, the
    documents are reordered by highlight score and ``metadata["relevance_score"]`` is set.
    Documents are never mutated: new ``Document`` objects with the same ``id`` are returned.
    """

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        return self._highlight_documents(documents, query, callbacks)

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        return await self._ahighlight_documents(documents, query, callbacks)
