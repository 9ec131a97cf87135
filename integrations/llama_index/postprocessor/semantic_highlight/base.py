"""``SemanticHighlightPostprocessor``: annotate or prune LlamaIndex nodes by meaning.

All the logic lives in :mod:`semantic_highlight.annotations` (the core package, imported
absolutely: this package's own name is ``semantic_highlight`` too); this module only maps
``NodeWithScore`` objects to text and back and emits instrumentation events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle

from semantic_highlight import SemanticHighlighter
from semantic_highlight.annotations import (
    DEFAULT_METADATA_KEY,
    AnnotateOptions,
    ChunkBatch,
    annotate_chunks,
    resolve_highlighter,
)

__all__ = ["SemanticHighlightEndEvent", "SemanticHighlightPostprocessor", "SemanticHighlightStartEvent"]

dispatcher = get_dispatcher(__name__)

RETRIEVAL_SCORE_KEY = "retrieval_score"


class SemanticHighlightStartEvent(BaseEvent):
    """Sent before a batch of nodes is scored."""

    query: str
    num_nodes: int
    mode: str

    @classmethod
    def class_name(cls) -> str:
        return "SemanticHighlightStartEvent"


class SemanticHighlightEndEvent(BaseEvent):
    """Sent after a batch: counts and the wall time of scoring and selection."""

    query: str
    mode: str
    num_nodes: int
    num_scored: int
    num_highlighted: int
    num_passed_through: int
    num_returned: int
    seconds: float

    @classmethod
    def class_name(cls) -> str:
        return "SemanticHighlightEndEvent"


def _exclude(keys: list[str], key: str) -> list[str]:
    return keys if key in keys else [*keys, key]


class SemanticHighlightPostprocessor(BaseNodePostprocessor):
    """Annotate (``mode="annotate"``) or prune (``mode="prune"``) nodes with the sentences that answer the query.

    The annotation ``{"spans": [...], "score", "model", "threshold"}`` is stored under
    ``metadata_key`` and excluded from both the LLM and the embedding views of the node, so it
    never reaches a prompt or a reranker; offsets refer to ``node.get_content(MetadataMode.NONE)``
    (the original text, also in prune mode). Nodes are never mutated: new nodes with the same
    ``node_id`` are returned.
    """

    mode: Literal["annotate", "prune"] = Field(
        default="annotate", description="annotate: keep the text, add metadata; prune: keep only the highlights."
    )
    threshold: float | None = Field(default=None, description="Highlight threshold (None: the model's default).")
    fallback_threshold: float | None = Field(
        default=None,
        description="A node with no sentence above threshold keeps its best one above this (None: the model's).",
    )
    relative_threshold: float | None = Field(
        default=None,
        description="A highlighted best sentence brings every sentence scoring at least this share of it, "
        "in (0, 1] (None: the model's).",
    )
    top_k: int | None = Field(default=None, description="At most this many highlighted sentences per node.")
    drop_empty: bool | None = Field(
        default=None, description="Drop nodes with nothing highlighted (None: only in prune mode)."
    )
    top_n: int | None = Field(default=None, description="Keep the top_n nodes by highlight score, reordered.")
    context_sentences: int = Field(default=0, description="Prune mode: sentences kept around each highlight.")
    metadata_key: str = Field(default=DEFAULT_METADATA_KEY, description="Metadata key of the annotation.")
    replace_score: bool | None = Field(
        default=None, description="Replace node.score by the highlight score (None: only when top_n is set)."
    )
    keep_retrieval_score: bool = Field(
        default=False, description="When the score is replaced, keep the old one in metadata['retrieval_score']."
    )
    model: str | None = Field(default=None, description="Checkpoint folder or hub id (None: the embedded default).")
    device: str | None = Field(default=None, description="Device to build the highlighter on.")
    dtype: str | None = Field(default=None, description="Weights dtype of the highlighter.")

    _highlighter: SemanticHighlighter = PrivateAttr()

    def __init__(self, highlighter: SemanticHighlighter | None = None, **data: Any) -> None:
        if "model" in data and data["model"] is not None:
            data["model"] = str(data["model"])
        super().__init__(**data)
        self._options()  # validate the settings early
        self._highlighter = resolve_highlighter(highlighter, self.model, self.device, self.dtype)

    @classmethod
    def class_name(cls) -> str:
        return "SemanticHighlightPostprocessor"

    @property
    def highlighter(self) -> SemanticHighlighter:
        return self._highlighter

    def _options(self) -> AnnotateOptions:
        return AnnotateOptions.from_settings(self)

    @staticmethod
    def _query(query_bundle: QueryBundle | None) -> str:
        if query_bundle is None:
            raise ValueError("SemanticHighlightPostprocessor needs a query: pass query_bundle or query_str")
        return query_bundle.query_str

    def _score(self, nodes: Sequence[NodeWithScore], query: str) -> tuple[list[NodeWithScore], ChunkBatch]:
        """One batched pass over ``nodes``; returns new nodes (inputs are never mutated)."""
        options = self._options()
        nodes = list(nodes)
        contents: list[object] = []
        for n in nodes:
            try:
                contents.append(n.node.get_content(metadata_mode=MetadataMode.NONE))
            except Exception:  # odd node types: pass through, never lose a node
                contents.append(None)
        labels = [n.node.node_id for n in nodes]
        batch = annotate_chunks(self._highlighter, query, contents, options, labels=labels)
        replace = options.top_n is not None if self.replace_score is None else self.replace_score
        out: list[NodeWithScore] = []
        for chunk in batch.kept:
            original = nodes[chunk.index]
            node: BaseNode = original.node.model_copy(deep=True)
            score = original.score
            if chunk.result is not None:
                node.metadata[self.metadata_key] = chunk.metadata
                node.excluded_llm_metadata_keys = _exclude(node.excluded_llm_metadata_keys, self.metadata_key)
                node.excluded_embed_metadata_keys = _exclude(node.excluded_embed_metadata_keys, self.metadata_key)
                if options.mode == "prune":
                    node.set_content(chunk.text or "")
            if replace:  # one scale for every returned node: a passed-through one has no highlight score
                if self.keep_retrieval_score and original.score is not None:
                    node.metadata[RETRIEVAL_SCORE_KEY] = original.score
                    for attr in ("excluded_llm_metadata_keys", "excluded_embed_metadata_keys"):
                        setattr(node, attr, _exclude(getattr(node, attr), RETRIEVAL_SCORE_KEY))
                score = chunk.score if chunk.result is not None else None
            out.append(NodeWithScore(node=node, score=score))
        return out, batch

    @staticmethod
    def _end_event(query: str, batch: ChunkBatch) -> SemanticHighlightEndEvent:
        return SemanticHighlightEndEvent(
            query=query,
            mode=batch.options.mode,
            num_nodes=len(batch.chunks),
            num_scored=batch.scored,
            num_highlighted=batch.highlighted,
            num_passed_through=batch.passed_through,
            num_returned=len(batch.kept),
            seconds=batch.seconds,
        )

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = self._query(query_bundle)
        dispatcher.event(SemanticHighlightStartEvent(query=query, num_nodes=len(nodes), mode=self.mode))
        out, batch = self._score(nodes, query)
        dispatcher.event(self._end_event(query, batch))
        return out

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = self._query(query_bundle)
        await dispatcher.aevent(SemanticHighlightStartEvent(query=query, num_nodes=len(nodes), mode=self.mode))
        # the model runs in a worker thread so the event loop stays free; the highlighter is thread-safe
        out, batch = await asyncio.to_thread(self._score, nodes, query)
        await dispatcher.aevent(self._end_event(query, batch))
        return out
