"""``SemanticHighlightRetriever``: any retriever followed by semantic highlighting, with a ``k`` cap."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever, RetrieverLike
from pydantic import Field, field_validator
from semantic_highlight.aggregate import check_count

from .compressor import _HighlightSettings

__all__ = ["SemanticHighlightRetriever"]


def _check_k(k: Any) -> int | None:
    """``k`` as given when it is ``None`` or an int >= 1: ``TypeError`` for another type, ``ValueError`` below 1."""
    return check_count(k, "k", 1)


class SemanticHighlightRetriever(_HighlightSettings, BaseRetriever):
    """Retrieve with ``base_retriever``, then annotate or prune the documents (same options as
    :class:`SemanticHighlightCompressor`) and return at most ``k`` of them.

    ``k`` (constructor or ``invoke(query, k=...)``) caps the number of documents returned after
    highlighting; other ``invoke`` keyword arguments are passed to ``base_retriever``.
    """

    base_retriever: RetrieverLike
    k: int | None = Field(default=None)
    """Return at most this many documents (``None``: all that survive highlighting)."""

    @field_validator("k", mode="before")
    @classmethod
    def _valid_k(cls, value: int | None) -> int | None:
        return _check_k(value)

    def _cap(self, documents: list[Document], k: int | None) -> list[Document]:
        limit = _check_k(self.k if k is None else k)
        return documents if limit is None else documents[:limit]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[Document]:
        _check_k(k)
        docs = self.base_retriever.invoke(query, config={"callbacks": run_manager.get_child()}, **kwargs)
        return self._cap(self._highlight_documents(docs, query, run_manager.get_child()), k)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[Document]:
        _check_k(k)
        docs = await self.base_retriever.ainvoke(query, config={"callbacks": run_manager.get_child()}, **kwargs)
        return self._cap(await self._ahighlight_documents(docs, query, run_manager.get_child()), k)
