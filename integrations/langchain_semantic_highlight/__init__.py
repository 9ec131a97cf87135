"""LangChain integration of semantic-highlight: annotate or prune retrieved documents by meaning.

``SemanticHighlightCompressor`` is a document compressor (use it in ``ContextualCompressionRetriever``
or ``DocumentCompressorPipeline``); ``SemanticHighlightRetriever`` wraps any retriever.
"""

try:
    import langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        'langchain_semantic_highlight needs LangChain; install it with: pip install "semantic-highlight[langchain]"'
    ) from exc

from semantic_highlight.annotations import DEFAULT_METADATA_KEY

from .compressor import SemanticHighlightCompressor
from .retriever import SemanticHighlightRetriever

__all__ = ["DEFAULT_METADATA_KEY", "SemanticHighlightCompressor", "SemanticHighlightRetriever"]
