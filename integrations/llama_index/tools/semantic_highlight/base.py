"""``SemanticHighlightTool``: wrap any LlamaIndex tool so that its output is pruned (or annotated) to the
sentences relevant to its query argument, or to the user message, before an agent's LLM reads it.

All decisions live in :mod:`semantic_highlight.agents` (the core package, imported absolutely); this
module only translates a ``ToolOutput`` (its text blocks, or the nodes of its raw output) into an output
plan and back, and reads the user message from the agent workflow's context.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import TextBlock
from llama_index.core.schema import BaseNode, NodeWithScore
from llama_index.core.tools import FunctionTool, ToolOutput
from llama_index.core.tools.types import AsyncBaseTool, BaseTool, adapt_to_async_tool

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
    plan_items,
)
from semantic_highlight.annotations import DEFAULT_METADATA_KEY, Mode

__all__ = ["CONTEXT_PARAM", "SemanticHighlightTool", "SemanticHighlightToolOutput", "plan_tool_output"]

CONTEXT_PARAM = "semantic_highlight_ctx"
"""The keyword under which agent workflows hand the wrapper their ``Context`` (to read the user message)."""


class SemanticHighlightToolOutput(ToolOutput):
    """A ``ToolOutput`` whose blocks were pruned; ``raw_output`` is still the tool's own output and
    ``semantic_highlight`` the record (query, characters/tokens before and after, original content)."""

    semantic_highlight: dict[str, Any] | None = None


def _node_text(item: Any) -> str | None:
    node = item.node if isinstance(item, NodeWithScore) else item
    return node.get_content() if isinstance(node, BaseNode) else None


def _text_rows(blocks: Sequence[Any]) -> list[Any]:
    return [{"type": "text", "text": b.text} if isinstance(b, TextBlock) else b for b in blocks]


def _to_blocks(output: Any) -> list[Any]:
    """A plan's output (a note, or rows of text dicts and other blocks) as LlamaIndex content blocks."""
    if isinstance(output, str):
        return [TextBlock(text=output)]
    blocks: list[Any] = []
    for row in output:
        text = row["text"] if isinstance(row, dict) else row
        blocks.append(TextBlock(text=text) if isinstance(text, str) else row)
    return blocks


def plan_tool_output(output: ToolOutput, text_keys: Sequence[str] = DEFAULT_TEXT_KEYS) -> OutputPlan | None:
    """The output plan of a ``ToolOutput``: one text per node when the raw output is a list of nodes
    (retrievers), else its text blocks (JSON inside a single block is pruned per object); ``None`` when
    there is no text."""
    raw = output.raw_output
    rows = _text_rows(output.blocks)
    nodes = raw if isinstance(raw, list) else [raw]
    if nodes and all(isinstance(n, (BaseNode, NodeWithScore)) for n in nodes):

        def rebuild(texts: list[Any], keep: list[bool]) -> list[Any]:
            return [{"type": "text", "text": t} for t, k in zip(texts, keep, strict=True) if k]

        return plan_items([_node_text(n) for n in nodes], rebuild, rows, "nodes")
    return plan_blocks(rows, text_keys)


class SemanticHighlightTool(PrunerAccess, FunctionTool):
    """Wraps a LlamaIndex tool: same name, description and schema, output pruned to the relevant sentences.

    The query is the call's own argument (the first of ``query_args`` holding a non-blank str), else the
    user message of the running agent workflow (``FunctionAgent``/``AgentWorkflow`` hand the wrapper their
    ``Context``; a direct sync ``call`` without a query argument passes the output through with a warning).
    Options are those of ``SemanticHighlightMiddleware`` (see ``docs/agents.md``). The output is a
    :class:`SemanticHighlightToolOutput`: pruned blocks, the tool's own ``raw_output``, the record. Errors of
    the wrapped tool are returned as they are; anything that goes wrong while pruning passes the output
    through with a warning. ``pruner`` (a :class:`~semantic_highlight.agents.ToolPruner`) holds the
    highlighter, options and token counter.
    """

    def __init__(
        self,
        tool: BaseTool,
        highlighter: Any = None,
        *,
        model: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
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
        if not isinstance(tool, BaseTool):
            raise TypeError(f"tool must be a LlamaIndex BaseTool, got {type(tool).__name__}")
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
        self.tool: AsyncBaseTool = tool if isinstance(tool, AsyncBaseTool) else adapt_to_async_tool(tool)
        super().__init__(fn=self._unused, metadata=tool.metadata)
        # agent workflows pass their Context to FunctionTools that ask for it: we read the user message there
        self.requires_context = True
        self.ctx_param_name = CONTEXT_PARAM

    @staticmethod
    def _unused(**kwargs: Any) -> None:  # pragma: no cover - call/acall are overridden
        raise NotImplementedError

    def _inner_kwargs(self, kwargs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        """The wrapped tool's arguments: its own context parameter when it wants one."""
        inner = self.tool
        if ctx is not None and isinstance(inner, FunctionTool) and inner.requires_context and inner.ctx_param_name:
            return {**kwargs, inner.ctx_param_name: ctx}
        return kwargs

    def _finish(self, output: ToolOutput, source: str, outcome: PruneOutcome) -> ToolOutput:
        pruned = SemanticHighlightToolOutput(
            tool_name=output.tool_name,
            blocks=_to_blocks(outcome.output) if outcome.changed else list(output.blocks),
            raw_input=output.raw_input,
            raw_output=output.raw_output,
            is_error=output.is_error,
        )
        pruned.semantic_highlight = self.pruner.record(outcome, source, output.content)
        return pruned

    def _job(self, output: Any, kwargs: dict[str, Any], user: str | None) -> tuple[str, str, OutputPlan] | None:
        """``(query, where it came from, plan)``, or ``None`` to pass ``output`` through."""
        if not isinstance(output, ToolOutput) or output.is_error:
            return None
        query = self.pruner.find_query(self.metadata.get_name(), kwargs, user, "user_message")
        plan = None if query is None else plan_tool_output(output, self.pruner.options.text_keys)
        return None if query is None or plan is None else (query[0], query[1], plan)

    def _failed(self, output: Any, exc: Exception) -> Any:
        ToolPruner.passed_through(self.metadata.get_name(), exc)
        return output

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        """Run the wrapped tool and prune its output (the query must be one of its arguments here)."""
        ctx = kwargs.pop(CONTEXT_PARAM, None)
        output = self.tool.call(*args, **self._inner_kwargs(kwargs, ctx))
        try:
            job = self._job(output, kwargs, None)
            if job is None:
                return output
            return self._finish(output, job[1], self.pruner.prune(job[0], job[2]))
        except Exception as exc:  # never break the agent loop on an output we cannot prune
            return self._failed(output, exc)

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        """Run the wrapped tool and prune its output without blocking the event loop."""
        ctx = kwargs.pop(CONTEXT_PARAM, None)
        output = await self.tool.acall(*args, **self._inner_kwargs(kwargs, ctx))
        try:
            user = None if ctx is None else await ctx.store.get("user_msg_str", default=None)
            job = self._job(output, kwargs, user)
            if job is None:
                return output
            return self._finish(output, job[1], await self.pruner.aprune(job[0], job[2]))
        except Exception as exc:  # never break the agent loop on an output we cannot prune
            return self._failed(output, exc)
