"""``SemanticHighlightPostprocessor``: annotate or prune LlamaIndex nodes by meaning.

All the logic lives in :mod:`semantic_highlight.annotations` (the core package, imported
absolutely: this package's own name is ``semantic_highlight`` too); this module only maps
``NodeWithScore`` objects to text and back and emits instrumentation and callback events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from llama_index.core.bridge.pydantic import ConfigDict, Field, model_validator
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
from pydantic import SkipValidation

from semantic_highlight import SemanticHighlighter  # noqa: F401  (the core engine, as base.SemanticHighlighter)
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

__all__ = [
    "ORIGINAL_END_KEY",
    "ORIGINAL_START_KEY",
    "RETRIEVAL_SCORE_KEY",
    "SemanticHighlightBatchEvent",
    "SemanticHighlightEndEvent",
    "SemanticHighlightPostprocessor",
    "SemanticHighlightStartEvent",
]

logger = logging.getLogger(__name__)
dispatcher = get_dispatcher(__name__)

RETRIEVAL_SCORE_KEY = "retrieval_score"
ORIGINAL_START_KEY = "original_start_char_idx"
"""Key in the annotation dict: the pruned node's ``start_char_idx`` before pruning (the node's is set to None)."""
ORIGINAL_END_KEY = "original_end_char_idx"
"""Key in the annotation dict: the pruned node's ``end_char_idx`` before pruning (the node's is set to None)."""


class SemanticHighlightStartEvent(BaseEvent):
    """Sent before a batch of nodes is scored."""

    query: str
    num_nodes: int
    mode: str

    @classmethod
    def class_name(cls) -> str:
        return "SemanticHighlightStartEvent"


class SemanticHighlightBatchEvent(BaseEvent):
    """Sent after each model batch: ``done`` of ``total`` windows scored (progress)."""

    query: str
    done: int
    total: int

    @classmethod
    def class_name(cls) -> str:
        return "SemanticHighlightBatchEvent"


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
    return list(keys) if key in keys else [*keys, key]


def _label(node: object, i: int) -> str:
    """A node's name in warnings: its id, else its position."""
    try:
        return str(node.node.node_id)  # type: ignore[attr-defined]
    except Exception:
        return f"#{i}"


def _content(node: object) -> object:
    try:
        return node.node.get_content(metadata_mode=MetadataMode.NONE)  # type: ignore[attr-defined]
    except Exception:  # odd node types, a node of None: pass through, never lose a node
        return None


def _model_name(highlighter: object) -> str:
    name = getattr(getattr(highlighter, "model", None), "name", None) or getattr(highlighter, "model_name", None)
    return str(name or type(highlighter).__name__)


class SemanticHighlightPostprocessor(BaseNodePostprocessor):
    """Annotate (``mode="annotate"``) or prune (``mode="prune"``) nodes with the sentences that answer the query.

    The annotation ``{"spans": [...], "score", "model", "threshold"}`` is stored under
    ``metadata_key`` and excluded from both the LLM and the embedding views of the node, so it
    never reaches a prompt or a reranker; offsets refer to the original node text (also in prune
    mode, where the text is replaced, stripped at its ends, and the node's ``start_char_idx``/
    ``end_char_idx`` become ``None``, the old values kept in the annotation under
    ``original_start_char_idx``/``original_end_char_idx``). Nodes are never mutated: new nodes with
    the same ``node_id`` are returned. With ``top_n`` the postprocessor acts as a reranker and sends
    LlamaIndex's ``ReRankStartEvent``/``ReRankEndEvent`` and ``RERANKING`` callback events.
    Unknown settings raise ``TypeError``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    highlighter: SkipValidation[HighlighterLike | None] = Field(
        default=None,
        exclude=True,
        description="An existing highlighter (SemanticHighlighter or a remote client); built from model when None.",
    )
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
    on_empty: OnEmpty | None = Field(
        default=None,
        description="A node with nothing highlighted: drop, keep_original or keep_best "
        "(None: drop in prune mode, keep_original in annotate mode).",
    )
    min_keep: int = Field(
        default=DEFAULT_MIN_KEEP,
        description="When on_empty drops, still return at least this many nodes (their best sentence); 0: off.",
    )
    drop_empty: bool | None = Field(
        default=None, description="Deprecated: on_empty='drop' (True) or on_empty='keep_original' (False)."
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

    @model_validator(mode="before")
    @classmethod
    def _check_input(cls, data: Any) -> Any:
        known = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
        data = check_wrapper_settings(cls.__name__, data, known)
        if isinstance(data, dict) and data.get("model") is not None:
            data = {**data, "model": str(data["model"])}  # a Path: stored as str (to_dict is JSON)
        return data

    @model_validator(mode="after")
    def _build(self) -> Any:
        self._options()  # validate the settings early
        self.highlighter = resolve_highlighter(self.highlighter, self.model, self.device, self.dtype)
        return self

    @classmethod
    def class_name(cls) -> str:
        return "SemanticHighlightPostprocessor"

    def _options(self) -> AnnotateOptions:
        return AnnotateOptions.from_settings(self)

    @staticmethod
    def _query(query_bundle: QueryBundle | None) -> str:
        if query_bundle is None:
            raise ValueError("SemanticHighlightPostprocessor needs a query: pass query_bundle or query_str")
        return query_bundle.query_str

    def _rebuild(self, original: NodeWithScore, chunk: ChunkAnnotation, replace: bool) -> NodeWithScore:
        """The node ``chunk`` says to return. Only what changes is copied: a new node (shallow copy) with
        a new metadata dict and exclusion lists, never a deep copy; a node passed through with no score
        change comes back as given. A node that cannot be rebuilt passes through with a warning."""
        if chunk.result is None and (not replace or getattr(original, "node", None) is None):
            return original  # passed through (already logged)
        try:
            node = original.node
            update: dict[str, Any] = {}
            metadata: dict[str, Any] | None = None
            if chunk.result is not None and chunk.metadata is not None:
                annotation = dict(chunk.metadata)
                if self.mode == "prune" and chunk.text != chunk.result.text:  # text replaced: old offsets are stale
                    annotation[ORIGINAL_START_KEY] = getattr(node, "start_char_idx", None)
                    annotation[ORIGINAL_END_KEY] = getattr(node, "end_char_idx", None)
                    if hasattr(node, "start_char_idx"):
                        update.update(start_char_idx=None, end_char_idx=None)
                metadata = {**node.metadata, self.metadata_key: annotation}
            score = original.score
            if replace:
                if self.keep_retrieval_score and original.score is not None:
                    metadata = {
                        **(node.metadata if metadata is None else metadata),
                        RETRIEVAL_SCORE_KEY: original.score,
                    }
                score = chunk.score if chunk.result is not None else None
            if metadata is not None:
                update["metadata"] = metadata
                for attr in ("excluded_llm_metadata_keys", "excluded_embed_metadata_keys"):
                    keys = list(getattr(node, attr))
                    for key in (self.metadata_key, RETRIEVAL_SCORE_KEY):
                        if key in metadata:
                            keys = _exclude(keys, key)
                    update[attr] = keys
            new = node.model_copy(update=update) if update else node
            if self.mode == "prune" and chunk.result is not None and chunk.text != chunk.result.text:
                new.set_content(chunk.text or "")
            return NodeWithScore(node=new, score=score)
        except Exception as exc:  # e.g. NodeWithScore.model_construct(node=None): never lose a node
            logger.warning(
                "semantic-highlight: node %s passed through unchanged: %s: %s",
                _label(original, chunk.index),
                type(exc).__name__,
                exc,
            )
            return original

    def _nodes(self, nodes: list[NodeWithScore], batch: ChunkBatch) -> list[NodeWithScore]:
        replace = batch.options.top_n is not None if self.replace_score is None else self.replace_score
        return [self._rebuild(nodes[c.index], c, replace) for c in batch.kept]

    def _on_batch(self, query: str) -> Callable[[int, int], None]:
        def progress(done: int, total: int) -> None:
            dispatcher.event(SemanticHighlightBatchEvent(query=query, done=done, total=total))

        return progress

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

    @contextmanager
    def _rerank_events(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle, out: list[NodeWithScore]
    ) -> Iterator[None]:
        """LlamaIndex's standard rerank events around the call when ``top_n`` reorders (else nothing):
        ``ReRankStartEvent``/``ReRankEndEvent`` to the dispatcher and a ``RERANKING`` callback event."""
        if self.top_n is None:
            yield
            return
        name = _model_name(self.highlighter)
        dispatcher.event(ReRankStartEvent(query=query_bundle, nodes=nodes, top_n=self.top_n, model_name=name))
        payload: dict[str, Any] = {
            EventPayload.NODES: nodes,
            EventPayload.MODEL_NAME: name,
            EventPayload.QUERY_STR: query_bundle.query_str,
            EventPayload.TOP_K: self.top_n,
        }
        with self.callback_manager.event(CBEventType.RERANKING, payload=payload) as event:
            yield
            event.on_end(payload={EventPayload.NODES: out})
        dispatcher.event(ReRankEndEvent(nodes=out))

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = self._query(query_bundle)
        assert query_bundle is not None and self.highlighter is not None
        nodes = list(nodes)
        out: list[NodeWithScore] = []
        dispatcher.event(SemanticHighlightStartEvent(query=query, num_nodes=len(nodes), mode=self.mode))
        with self._rerank_events(nodes, query_bundle, out):
            contents = [_content(n) for n in nodes]
            labels = [_label(n, i) for i, n in enumerate(nodes)]
            batch = annotate_chunks(
                self.highlighter, query, contents, self._options(), labels=labels, on_batch=self._on_batch(query)
            )
            out.extend(self._nodes(nodes, batch))
        dispatcher.event(self._end_event(query, batch))
        return out

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        """The async path: a remote highlighter's ``ahighlight_batch`` is awaited; an in-process model
        runs in a worker thread, so the event loop stays free (the highlighter is thread-safe)."""
        query = self._query(query_bundle)
        assert query_bundle is not None and self.highlighter is not None
        nodes = list(nodes)
        out: list[NodeWithScore] = []
        await dispatcher.aevent(SemanticHighlightStartEvent(query=query, num_nodes=len(nodes), mode=self.mode))
        with self._rerank_events(nodes, query_bundle, out):
            contents = [_content(n) for n in nodes]
            labels = [_label(n, i) for i, n in enumerate(nodes)]
            batch = await aannotate_chunks(
                self.highlighter, query, contents, self._options(), labels=labels, on_batch=self._on_batch(query)
            )
            out.extend(self._nodes(nodes, batch))
        await dispatcher.aevent(self._end_event(query, batch))
        return out
