"""LlamaIndex integration of semantic-highlight: a node postprocessor that annotates or prunes
retrieved nodes with the sentences that answer the query, by meaning."""

try:
    import llama_index.core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "llama_index.postprocessor.semantic_highlight needs LlamaIndex; install it with: pip install llama-index-core "
        '(or, in a clone of semantic-highlight: pip install -e ".[llama-index]")'
    ) from exc

from llama_index.postprocessor.semantic_highlight.base import (
    SemanticHighlightBatchEvent,
    SemanticHighlightEndEvent,
    SemanticHighlightPostprocessor,
    SemanticHighlightStartEvent,
)

__all__ = [
    "SemanticHighlightBatchEvent",
    "SemanticHighlightEndEvent",
    "SemanticHighlightPostprocessor",
    "SemanticHighlightStartEvent",
]
