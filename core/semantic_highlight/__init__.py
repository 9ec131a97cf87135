"""semantic-highlight: highlight the sentences that answer a query, by meaning, in English and Chinese."""

from .highlighter import SemanticHighlighter
from .results import HighlightResult, Sentence
from .splitting import Span, split_sentences

__all__ = ["HighlightResult", "SemanticHighlighter", "Sentence", "Span", "split_sentences"]
__version__ = "0.1.0"
