"""The MCP tools around one loaded highlighter, on the official SDK's ``FastMCP`` (``mcp`` 1.x).

Two tools:

- ``highlight(query, text | texts, threshold?, top_k?)`` -> structured output: per document the
  highlighted spans (character offsets into that document, sentence text, score) and the pruned text.
- ``prune(query, text)`` -> the relevant sentences only, as plain text (what an agent pastes into
  its context instead of the whole page); a short note when nothing is relevant, never an empty string.

The model is loaded once, by the caller, before the server starts. Each call runs the engine in a
worker thread (the event loop keeps serving other sessions); the highlighter's own lock serialises
model passes. Bad arguments raise ``ValueError``, which the SDK returns as a tool result with
``isError: true``: the session and the server stay up.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from ..highlighter import SemanticHighlighter
    from ..results import HighlightResult

__all__ = [
    "DEFAULT_MAX_CHARS",
    "NO_RELEVANT_CONTENT",
    "DocumentHighlights",
    "HighlightOutput",
    "HighlightSpan",
    "build_server",
]

DEFAULT_MAX_CHARS = 2_000_000
"""Most characters (all documents of one call together) a tool call may carry; bounds one call's time."""

NO_RELEVANT_CONTENT = "[semantic-highlight] Nothing in this text is relevant to: {query}"
"""What ``prune`` returns when nothing is selected (``{query}`` filled in): an empty result confuses models.
Worded like the agent middleware's note (``semantic_highlight.agents.DEFAULT_EMPTY_NOTE``)."""

INSTRUCTIONS = (
    "Semantic highlighting: finds the sentences of a text that answer a query by meaning (not keyword "
    "overlap), in English and Chinese. Use `prune` to shrink a long tool output, web page or document to "
    "the sentences relevant to the question before reading it; use `highlight` when you need the exact "
    "character offsets and scores of the relevant sentences, or several documents at once."
)

_QUERY = Field(
    description="The question or information need the text is read for, in natural language "
    "(e.g. the user's question). Sentences are kept when they help answer it.",
    min_length=1,
)


class HighlightSpan(BaseModel):
    """One highlighted sentence of a document."""

    start: int = Field(description="Offset of the sentence's first character in the document.")
    end: int = Field(description="Offset just past the sentence (trailing whitespace included).")
    text: str = Field(description="The sentence: document[start:end].")
    score: float = Field(description="Relevance of the sentence to the query, 0 to 1.")


class DocumentHighlights(BaseModel):
    """The highlights of one document."""

    index: int = Field(description="Position of the document in the request (0 for `text`).")
    score: float = Field(description="Best sentence score of the document, 0 to 1: how relevant it is.")
    spans: list[HighlightSpan] = Field(description="Highlighted sentences, in document order.")
    pruned_text: str = Field(description="The highlighted sentences joined in document order; empty if none.")
    chars: int = Field(description="Characters in the document.")
    kept_chars: int = Field(description="Characters in pruned_text.")


class HighlightOutput(BaseModel):
    """The result of a ``highlight`` call."""

    model: str = Field(description="The highlighting model that scored the sentences.")
    threshold: float = Field(description="Score a sentence had to exceed (before the model's fallback rules).")
    results: list[DocumentHighlights] = Field(description="One entry per document, in request order.")


def _document_highlights(index: int, result: HighlightResult) -> DocumentHighlights:
    spans = [HighlightSpan(start=s.start, end=s.end, text=s.text, score=s.score) for s in result.highlights]
    pruned = result.pruned_text
    return DocumentHighlights(
        index=index,
        score=result.score,
        spans=spans,
        pruned_text=pruned,
        chars=len(result.text),
        kept_chars=len(pruned),
    )


def _check_query(query: str) -> str:
    if not query.strip():
        raise ValueError("query must not be blank: give the question the text is read for")
    return query


def _check_size(texts: list[str], max_chars: int) -> None:
    total = sum(len(t) for t in texts)
    if total > max_chars:
        raise ValueError(f"the text is too long: {total} characters in this call, this server accepts {max_chars}")


def build_server(
    highlighter: SemanticHighlighter,
    *,
    name: str = "semantic-highlight",
    max_chars: int = DEFAULT_MAX_CHARS,
    **settings: Any,
) -> FastMCP:
    """A ``FastMCP`` server with the ``highlight`` and ``prune`` tools bound to ``highlighter``.

    ``settings`` go to ``FastMCP`` (``host``, ``port``, ``log_level``, ``stateless_http``, ...).
    """
    if not isinstance(max_chars, int) or max_chars < 1:
        raise ValueError(f"max_chars must be a positive int, got {max_chars!r}")
    server = FastMCP(name=name, instructions=INSTRUCTIONS, **settings)
    read_only = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)

    async def run(query: str, documents: list[str], **options: Any) -> list[HighlightResult]:
        def call() -> list[HighlightResult]:
            return highlighter.highlight(query, documents, **options)

        return await anyio.to_thread.run_sync(call)

    async def highlight(
        query: Annotated[str, _QUERY],
        text: Annotated[
            str | None, Field(description="One document to highlight. Give either `text` or `texts`.")
        ] = None,
        texts: Annotated[
            list[str] | None,
            Field(description="Several documents, scored in one pass; results come back in the same order."),
        ] = None,
        threshold: Annotated[
            float | None,
            Field(
                ge=0.0,
                le=1.0,
                description="Keep sentences scoring above this (0 to 1). Omit to use the model's calibrated "
                "default; lower keeps more.",
            ),
        ] = None,
        top_k: Annotated[
            int | None, Field(ge=1, description="At most this many sentences per document (the best ones).")
        ] = None,
    ) -> HighlightOutput:
        """Find the sentences of one or more documents that answer the query, by meaning.

        Returns, per document, the highlighted sentences with character offsets and scores, and the
        pruned text (the highlighted sentences only). Use it to cite or mark the relevant passages;
        use `prune` when you only need the shorter text.
        """
        _check_query(query)
        if (text is None) == (texts is None):
            raise ValueError("give exactly one of `text` (one document) or `texts` (a list of documents)")
        documents = [text] if text is not None else list(texts or [])
        if not documents:
            raise ValueError("`texts` is empty: give at least one document")
        _check_size(documents, max_chars)
        results = await run(query, documents, threshold=threshold, top_k=top_k)
        return HighlightOutput(
            model=results[0].model,
            threshold=results[0].threshold,
            results=[_document_highlights(i, r) for i, r in enumerate(results)],
        )

    async def prune(
        query: Annotated[str, _QUERY],
        text: Annotated[
            str, Field(description="The long text to shrink: a tool output, web page, file or retrieved passage.")
        ],
    ) -> str:
        """Shorten a text to the sentences relevant to the query, in their original order and wording.

        Call it on a long text before reading it to save context. Returns the kept sentences as plain
        text, or a one-line note when no sentence is relevant.
        """
        _check_query(query)
        _check_size([text], max_chars)
        (result,) = await run(query, [text])
        return result.pruned_text or NO_RELEVANT_CONTENT.format(query=query)

    for fn, title, structured in (
        (highlight, "Highlight relevant sentences", True),
        (prune, "Keep only the relevant sentences", False),
    ):
        server.add_tool(
            fn,
            title=title,
            description=inspect.cleandoc(fn.__doc__ or ""),
            annotations=read_only,
            structured_output=structured,
        )
    return server
