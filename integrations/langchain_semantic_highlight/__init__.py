"""LangChain integration of semantic-highlight: annotate or prune retrieved documents by meaning.

``SemanticHighlightCompressor`` is a document compressor (use it in ``ContextualCompressionRetriever``
or ``DocumentCompressorPipeline``); ``SemanticHighlightRetriever`` wraps any retriever.
"""

try:
    import langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "langchain_semantic_highlight needs LangChain; install it with: pip install langchain-core langchain-classic "
        '(or, in a clone of semantic-highlight: pip install -e ".[langchain]")'
    ) from exc

from semantic_highlight.annotations import DEFAULT_METADATA_KEY

from .compressor import SemanticHighlightCompressor
from .retriever import SemanticHighlightRetriever
from .tools import create_highlight_tool

__all__ = [
    "DEFAULT_METADATA_KEY",
    "SemanticHighlightCompressor",
    "SemanticHighlightMiddleware",
    "SemanticHighlightRetriever",
    "create_highlight_tool",
]


def __getattr__(name: str) -> object:
    """``SemanticHighlightMiddleware`` is imported on first use: it needs ``langchain`` (the agents extra)."""
    if name == "SemanticHighlightMiddleware":
        try:
            from .middleware import SemanticHighlightMiddleware
        except ImportError as exc:
            raise ImportError(
                "SemanticHighlightMiddleware needs langchain>=1.0; install it with: "
                'pip install "semantic-highlight[agents]"'
            ) from exc
        return SemanticHighlightMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
