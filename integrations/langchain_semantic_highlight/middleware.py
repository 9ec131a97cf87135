"""``SemanticHighlightMiddleware``: prune (or annotate) tool results in ``create_agent`` agents before the model
reads them.

All decisions live in :mod:`semantic_highlight.agents`; this module only translates a ``ToolMessage``
(its content: a str, JSON, a list of content blocks, the ``str()`` of a list of ``Document``; or a
``content_and_artifact`` retriever tool's formatted text with its documents as the artifact) into an
output plan and back, and finds the query (the tool call's own argument, else the latest human message).
"""

from __future__ import annotations

import ast
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain_core.documents import Document
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command
from semantic_highlight.agents import (
    DEFAULT_EMPTY_NOTE,
    DEFAULT_MARKS,
    DEFAULT_QUERY_ARGS,
    DEFAULT_TEXT_KEYS,
    OnEmpty,
    OutputPlan,
    PruneOutcome,
    PrunerAccess,
    TokenCounter,
    ToolPruner,
    plan_blocks,
    plan_embedded,
    plan_items,
    plan_text,
)
from semantic_highlight.annotations import DEFAULT_METADATA_KEY, Mode

__all__ = ["SemanticHighlightMiddleware", "latest_human_text", "plan_tool_message"]


def latest_human_text(state: Any) -> str | None:
    """The text of the latest human message in an agent state (a dict or object with ``messages``)."""
    messages = state.get("messages") if isinstance(state, dict) else getattr(state, "messages", None)
    for message in reversed(list(messages or [])):
        if isinstance(message, HumanMessage):
            text = message.text
            return text if isinstance(text, str) and text.strip() else None
    return None


def _documents(value: Any) -> list[Document] | None:
    if isinstance(value, (list, tuple)) and value and all(isinstance(d, Document) for d in value):
        return list(value)
    return None


def _parse_document_repr(content: str) -> list[Document] | None:
    """``str(list_of_documents)`` back into documents (what a tool returning ``Document`` objects shows the
    model), read with ``ast`` (nothing is evaluated); ``None`` unless every element is such a ``Document``."""
    if not content.lstrip().startswith(("[Document(", "Document(")):
        return None
    try:
        tree = ast.parse(content.strip(), mode="eval").body
        calls = tree.elts if isinstance(tree, ast.List) else [tree]
        docs = []
        for call in calls:
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Document"):
                return None
            if call.args:
                return None
            docs.append(Document(**{kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return docs or None


def _document_plan(docs: list[Document], original: str, listed: bool) -> OutputPlan:
    def rebuild(texts: list[Any], keep: list[bool]) -> str:
        new = [d.model_copy(update={"page_content": t}) for d, t, k in zip(docs, texts, keep, strict=True) if k]
        return str(new) if listed else str(new[0]) if new else str(new)

    return plan_items([d.page_content for d in docs], rebuild, original, "documents")


def plan_tool_message(message: ToolMessage, text_keys: Sequence[str] = DEFAULT_TEXT_KEYS) -> OutputPlan | None:
    """The output plan of a tool's ``ToolMessage``, or ``None`` when it holds no text."""
    content = message.content
    if isinstance(content, str):
        docs = _documents(message.artifact)
        if docs is not None:  # a content_and_artifact retriever tool: prune each document where it sits
            plan = plan_embedded(content, [d.page_content for d in docs], "documents+artifact")
            if plan is not None:
                return plan
        docs = _parse_document_repr(content)
        if docs is not None:
            return _document_plan(docs, content, content.lstrip().startswith("["))
        return plan_text(content, text_keys)
    if isinstance(content, list):
        return plan_blocks(content, text_keys)
    return None


@dataclass(frozen=True)
class _Job:
    message: ToolMessage
    query: str
    query_source: str
    plan: OutputPlan


class SemanticHighlightMiddleware(PrunerAccess, AgentMiddleware):
    """Prunes (or annotates) tool results to the sentences relevant to the query before the model sees them.

    Args:
        highlighter: a ``SemanticHighlighter`` or a remote one (``RemoteHighlighter``, anything with its
            ``highlight``/``highlight_batch``; ``ahighlight`` is used in async agents when present); ``None`` builds
            one from ``model``/``device``/``dtype``.
        tools: names (or tools) whose results are pruned; ``None``: every tool.
        mode: ``"prune"`` (keep the relevant sentences) or ``"annotate"`` (keep the text, wrap them in ``marks``).
        threshold / fallback_threshold / relative_threshold / top_k: selection (``None``: the model's defaults).
        context_sentences: also keep this many sentences around each relevant one.
        min_chars: leave results with fewer characters of text alone.
        on_empty: nothing relevant: ``"best"`` keeps the best sentence, ``"note"`` sends ``empty_note`` instead.
        query_args: the tool-call arguments read as the query; otherwise the latest human message is used.
        text_keys: fields holding the text of JSON objects.
        token_counter: counts tokens for the record (default: the model's tokenizer, else an estimate).
        metadata_key: the ``response_metadata`` key of the record.

    The new ``ToolMessage`` keeps ``artifact``, ``id``, ``name`` and ``status``; ``response_metadata[metadata_key]``
    holds the record (``query``, ``query_source``, ``chars_before``/``chars_after``, ``tokens_before``/
    ``tokens_after``, ``items``/``items_kept``, ``on_empty``, highlights per item) and ``original_content``.
    Anything that goes wrong while pruning passes the result through unchanged with a warning. ``pruner`` (a
    :class:`~semantic_highlight.agents.ToolPruner`) holds the highlighter, options and token counter.
    """

    def __init__(
        self,
        highlighter: Any = None,
        *,
        model: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        tools: Sequence[str | BaseTool] | None = None,
        mode: Mode = "prune",
        threshold: float | None = None,
        fallback_threshold: float | None = None,
        relative_threshold: float | None = None,
        top_k: int | None = None,
        context_sentences: int = 0,
        min_chars: int = 400,
        on_empty: OnEmpty = "best",
        empty_note: str = DEFAULT_EMPTY_NOTE,
        marks: tuple[str, str] = DEFAULT_MARKS,
        query_args: Sequence[str] = DEFAULT_QUERY_ARGS,
        text_keys: Sequence[str] = DEFAULT_TEXT_KEYS,
        token_counter: TokenCounter | None = None,
        metadata_key: str = DEFAULT_METADATA_KEY,
    ) -> None:
        super().__init__()
        if tools is not None and (isinstance(tools, str) or not isinstance(tools, Sequence)):
            raise TypeError(f"tools must be a sequence of tool names or tools, got {type(tools).__name__}")
        self.tool_names: frozenset[str] | None = (
            None if tools is None else frozenset(t.name if isinstance(t, BaseTool) else str(t) for t in tools)
        )
        self.pruner = ToolPruner.create(
            highlighter,
            model=model,
            device=device,
            dtype=dtype,
            token_counter=token_counter,
            metadata_key=metadata_key,
            mode=mode,
            threshold=threshold,
            fallback_threshold=fallback_threshold,
            relative_threshold=relative_threshold,
            top_k=top_k,
            context_sentences=context_sentences,
            min_chars=min_chars,
            on_empty=on_empty,
            empty_note=empty_note,
            marks=marks,
            query_args=query_args,
            text_keys=text_keys,
        )

    def _job(self, request: ToolCallRequest, result: ToolMessage | Command[Any]) -> _Job | None:
        """What to prune, or ``None`` to pass ``result`` through."""
        name = request.tool_call.get("name", "")
        if self.tool_names is not None and name not in self.tool_names:
            return None
        if not isinstance(result, ToolMessage):  # a Command updates state; not ours to rewrite
            return None
        if result.status == "error":
            return None
        args = request.tool_call.get("args")
        query = self.pruner.find_query(name, args, latest_human_text(request.state), "human_message")
        if query is None:
            return None
        plan = plan_tool_message(result, self.pruner.options.text_keys)
        if plan is None:
            return None
        return _Job(result, query[0], query[1], plan)

    def _apply(self, job: _Job, outcome: PruneOutcome) -> ToolMessage:
        record = self.pruner.record(outcome, job.query_source, job.message.content)
        metadata = {**job.message.response_metadata, self.pruner.metadata_key: record}
        update: dict[str, Any] = {"response_metadata": metadata}
        if outcome.changed:
            update["content"] = outcome.output
        return job.message.model_copy(update=update)

    @staticmethod
    def _failed(result: ToolMessage | Command[Any], exc: Exception) -> ToolMessage | Command[Any]:
        ToolPruner.passed_through(getattr(result, "name", None) or "tool", exc)
        return result

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        result = handler(request)
        try:
            job = self._job(request, result)
            if job is None:
                return result
            return self._apply(job, self.pruner.prune(job.query, job.plan))
        except Exception as exc:  # never break the agent loop on a tool output we cannot prune
            return self._failed(result, exc)

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        result = await handler(request)
        try:
            job = self._job(request, result)
            if job is None:
                return result
            return self._apply(job, await self.pruner.aprune(job.query, job.plan))
        except Exception as exc:  # never break the agent loop on a tool output we cannot prune
            return self._failed(result, exc)
