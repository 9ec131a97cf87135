"""``create_highlight_tool``: a LangChain tool (query, text) -> the sentences of ``text`` relevant to ``query``,
for agents that fetch text themselves (a web page, a file) and want only the part that answers."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field
from semantic_highlight.agents import DEFAULT_EMPTY_NOTE, OnEmpty, PruneOutcome, ToolPruner, plan_plain

__all__ = ["DEFAULT_TOOL_DESCRIPTION", "HighlightToolInput", "create_highlight_tool"]

DEFAULT_TOOL_DESCRIPTION = (
    "Extract the sentences of a text that are relevant to a query. Give the query (a question or topic) and the "
    "full text (a page, a document, a long tool result); returns only the relevant sentences, in their original "
    "order, so you can read long texts without pasting them whole."
)


class HighlightToolInput(BaseModel):
    """Arguments of the highlight tool."""

    query: str = Field(description="The question or topic to find relevant sentences for.")
    text: str = Field(description="The full text to search; any length.")


def create_highlight_tool(
    highlighter: Any = None,
    *,
    model: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    name: str = "highlight_relevant_sentences",
    description: str = DEFAULT_TOOL_DESCRIPTION,
    threshold: float | None = None,
    fallback_threshold: float | None = None,
    relative_threshold: float | None = None,
    top_k: int | None = None,
    context_sentences: int = 0,
    on_empty: OnEmpty = "best",
    empty_note: str = DEFAULT_EMPTY_NOTE,
) -> BaseTool:
    """A ``StructuredTool`` (``content_and_artifact``) taking ``query`` and ``text`` and returning the relevant
    sentences (or, when none is, the best one or ``empty_note``, per ``on_empty``); the artifact is the record
    (highlights with offsets into ``text``, characters and tokens before/after). Sync and async; the async
    path uses a remote highlighter's ``ahighlight`` or a worker thread."""
    pruner = ToolPruner.create(
        highlighter,
        model=model,
        device=device,
        dtype=dtype,
        mode="prune",
        threshold=threshold,
        fallback_threshold=fallback_threshold,
        relative_threshold=relative_threshold,
        top_k=top_k,
        context_sentences=context_sentences,
        min_chars=0,
        on_empty=on_empty,
        empty_note=empty_note,
    )

    def result(query: str, outcome: PruneOutcome) -> tuple[str, dict[str, Any]]:
        text = str(outcome.output)
        return (text if text.strip() else pruner.options.note(query)), outcome.record  # never an empty answer

    def run(query: str, text: str) -> tuple[str, dict[str, Any]]:
        return result(query, pruner.prune(query, plan_plain(text)))

    async def arun(query: str, text: str) -> tuple[str, dict[str, Any]]:
        return result(query, await pruner.aprune(query, plan_plain(text)))

    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=name,
        description=description,
        args_schema=HighlightToolInput,
        response_format="content_and_artifact",
    )
