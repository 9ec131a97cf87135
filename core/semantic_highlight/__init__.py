"""semantic-highlight: highlight the sentences that answer a query, by meaning, in English and Chinese."""

from typing import TYPE_CHECKING

from .highlighter import SemanticHighlighter
from .options import SelectionOptions
from .protocols import Highlighter
from .results import HighlightResult, Sentence
from .splitting import Span, split_sentences

if TYPE_CHECKING:
    from .serve.client import RemoteHighlighter as RemoteHighlighter
    from .serve.client import RemoteHighlightError as RemoteHighlightError

__all__ = [
    "HighlightResult",
    "Highlighter",
    "SelectionOptions",
    "SemanticHighlighter",
    "Sentence",
    "Span",
    "split_sentences",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``RemoteHighlighter`` (the HTTP client of ``semantic-highlight serve``) is imported on first use, so
    the core needs no httpx."""
    if name in {"RemoteHighlighter", "RemoteHighlightError"}:
        from .serve import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
