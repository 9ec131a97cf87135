"""Build training data with an LLM annotator: reasoning -> labels -> filtering -> training samples.

``annotate_file`` labels ``{"query", "context"}`` pairs (or writes queries for bare passages and
labels those) through any :class:`ChatBackend` (an OpenAI-compatible endpoint or a LangChain chat
model) and appends samples the training tooling can read after :func:`write_training_jsonl`.
"""

from .convert import load_examples, write_training_jsonl
from .filters import REASONS, Verdict, check_label, cited_sentences
from .llm import ChatBackend, ChatResponse, LangChainBackend, LLMError, OpenAICompatibleBackend, Usage
from .parse import extract_json_object
from .pipeline import AnnotateConfig, AnnotateReport, annotate, annotate_file, detect_lang, load_prompt

__all__ = [
    "REASONS",
    "AnnotateConfig",
    "AnnotateReport",
    "ChatBackend",
    "ChatResponse",
    "LLMError",
    "LangChainBackend",
    "OpenAICompatibleBackend",
    "Usage",
    "Verdict",
    "annotate",
    "annotate_file",
    "check_label",
    "cited_sentences",
    "detect_lang",
    "extract_json_object",
    "load_examples",
    "load_prompt",
    "write_training_jsonl",
]
