"""LlamaIndex agent tools of semantic-highlight: wrap any tool so that its output is pruned to the
sentences relevant to the query before the agent's LLM reads it."""

try:
    import llama_index.core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "llama_index.tools.semantic_highlight needs LlamaIndex; install it with: "
        'pip install "semantic-highlight[agents]"'
    ) from exc

from llama_index.tools.semantic_highlight.base import (
    CONTEXT_PARAM,
    SemanticHighlightTool,
    SemanticHighlightToolOutput,
    plan_tool_output,
)

__all__ = ["CONTEXT_PARAM", "SemanticHighlightTool", "SemanticHighlightToolOutput", "plan_tool_output"]
