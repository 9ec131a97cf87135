"""LlamaIndex agents: ``SemanticHighlightTool`` in real ``FunctionAgent`` / ``AgentWorkflow`` runs (LlamaIndex's
mock function-calling LLM with a scripted tool call, real tools, a retriever over a ``VectorStoreIndex``) and
the ``QueryEngineTool`` recipe with our postprocessor, asserting the exact text the LLM receives after the
tool call. Offline; the embedded default model decides which sentences are relevant."""

from __future__ import annotations

import ast
import logging
from typing import Any

import pytest

pytest.importorskip("llama_index.core")

from conftest import AGENT_ANSWER as ANSWER
from conftest import AGENT_DOCS as DOCS
from conftest import AGENT_PAGE as PAGE
from conftest import AGENT_QUERY as QUERY
from conftest import AGENT_UNRELATED as UNRELATED
from conftest import BrokenHighlighter, DuckHighlighter
from conftest import ToolCallScript as Script
from llama_index.core import VectorStoreIndex
from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent
from llama_index.core.base.llms.types import TextBlock
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import ChatMessage, MockLLM
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.core.tools import FunctionTool, QueryEngineTool
from llama_index.postprocessor.semantic_highlight import SemanticHighlightPostprocessor
from llama_index.tools.semantic_highlight import SemanticHighlightTool, SemanticHighlightToolOutput
from semantic_highlight.agents import DEFAULT_EMPTY_NOTE


async def run_agent(tool: Any, args: dict[str, Any], user: str = "Tell me about famous landmarks.") -> Script:
    script = Script(tool.metadata.name, args)
    agent = FunctionAgent(tools=[tool], llm=MockFunctionCallingLLM(response_generator=script))
    await agent.run(user_msg=user)
    return script


def texts(message: ChatMessage) -> list[str]:
    return [b.text for b in message.blocks if isinstance(b, TextBlock)]


def web_search(query: str) -> str:
    """Search the web and return the page text."""
    return PAGE


def fetch_page(url: str) -> str:
    """Fetch a web page by URL."""
    return PAGE


def search_json(query: str) -> list[dict[str, Any]]:
    """Search and return hits."""
    return [{"title": f"hit {i}", "snippet": text} for i, text in enumerate(DOCS)]


@pytest.fixture(scope="module")
def index() -> VectorStoreIndex:
    nodes = [TextNode(text=text, id_=f"n{i}") for i, text in enumerate(DOCS)]
    return VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=8))


async def test_function_tool_output_is_pruned_before_the_llm_reads_it(agent_highlighter: Any) -> None:
    script = await run_agent(
        SemanticHighlightTool(FunctionTool.from_defaults(web_search), agent_highlighter), {"query": QUERY}
    )
    assert texts(script.tool_message()) == [ANSWER]


async def test_query_falls_back_to_the_user_message(agent_highlighter: Any) -> None:
    tool = SemanticHighlightTool(FunctionTool.from_defaults(fetch_page), agent_highlighter)
    events = []
    script = Script("fetch_page", {"url": "https://example.org"})
    agent = FunctionAgent(tools=[tool], llm=MockFunctionCallingLLM(response_generator=script))
    handler = agent.run(user_msg=QUERY)
    async for event in handler.stream_events():
        events.append(event)
    await handler
    assert texts(script.tool_message()) == [ANSWER]
    (result,) = [e for e in events if type(e).__name__ == "ToolCallResult"]
    output = result.tool_output
    assert isinstance(output, SemanticHighlightToolOutput) and output.raw_output == PAGE  # the tool's own output
    record = output.semantic_highlight
    assert record["query"] == QUERY and record["query_source"] == "user_message"
    assert (record["chars_before"], record["chars_after"]) == (len(PAGE), len(ANSWER))
    assert record["original_content"] == PAGE and record["tokens_after"] < record["tokens_before"] / 5


async def test_retriever_tool_returns_one_block_per_relevant_node(
    agent_highlighter: Any, index: VectorStoreIndex
) -> None:
    retriever = index.as_retriever(similarity_top_k=3)

    def search_docs(query: str) -> list[NodeWithScore]:
        """Search the document store."""
        return retriever.retrieve(query)

    tool = SemanticHighlightTool(FunctionTool.from_defaults(search_docs), agent_highlighter)
    script = await run_agent(tool, {"query": QUERY})
    assert texts(script.tool_message()) == [ANSWER]


async def test_json_output_drops_irrelevant_hits(agent_highlighter: Any) -> None:
    script = await run_agent(
        SemanticHighlightTool(FunctionTool.from_defaults(search_json), agent_highlighter), {"query": QUERY}
    )
    (text,) = texts(script.tool_message())
    assert ast.literal_eval(text) == [{"title": "hit 0", "snippet": ANSWER}]  # str() of the list, as the tool gave


async def test_query_engine_tool_recipe_with_the_postprocessor(agent_highlighter: Any, index: VectorStoreIndex) -> None:
    """The recipe for QueryEngineTool: prune inside the query engine with our postprocessor."""
    engine = index.as_query_engine(
        llm=MockLLM(),  # echoes its prompt: the tool's answer shows the context the engine's LLM got
        similarity_top_k=3,
        node_postprocessors=[SemanticHighlightPostprocessor(highlighter=agent_highlighter, mode="prune")],
    )
    tool = QueryEngineTool.from_defaults(engine, name="landmarks", description="Answers questions about landmarks.")
    script = await run_agent(tool, {"input": QUERY})
    (text,) = texts(script.tool_message())
    assert ANSWER in text and "Bananas" not in text and "Ming dynasty" not in text


async def test_agent_workflow_with_annotate_mode(agent_highlighter: Any) -> None:
    tool = SemanticHighlightTool(FunctionTool.from_defaults(web_search), agent_highlighter, mode="annotate")
    script = Script("web_search", {"query": QUERY})
    agent = FunctionAgent(name="searcher", tools=[tool], llm=MockFunctionCallingLLM(response_generator=script))
    await AgentWorkflow(agents=[agent]).run(user_msg="Tell me about landmarks.")
    assert texts(script.tool_message()) == [PAGE.replace(ANSWER, f"<mark>{ANSWER}</mark>")]


async def test_async_uses_the_remote_highlighters_async_api(agent_highlighter: Any) -> None:
    remote = DuckHighlighter(agent_highlighter)  # RemoteHighlighter's shape: the same results, awaited
    script = await run_agent(SemanticHighlightTool(FunctionTool.from_defaults(web_search), remote), {"query": QUERY})
    assert texts(script.tool_message()) == [ANSWER] and [name for name, _ in remote.calls] == ["ahighlight"]


def test_sync_call_prunes_with_the_query_argument(agent_highlighter: Any, caplog: pytest.LogCaptureFixture) -> None:
    tool = SemanticHighlightTool(FunctionTool.from_defaults(web_search), agent_highlighter, context_sentences=1)
    output = tool.call(query=QUERY)
    second = "Its wrought-iron lattice was designed by the engineering company of Gustave Eiffel. "
    assert output.content == second + ANSWER + " " + "Bananas are a good source of potassium and vitamin B6."
    assert (
        tool.metadata.name == "web_search"
        and tool.metadata.fn_schema_str == FunctionTool.from_defaults(web_search).metadata.fn_schema_str
    )
    no_query = SemanticHighlightTool(FunctionTool.from_defaults(fetch_page), agent_highlighter)
    with caplog.at_level(logging.WARNING):
        assert no_query.call(url="x").content == PAGE
    assert "no query argument and no user message" in caplog.text


async def test_nothing_relevant_keeps_the_best_sentence_or_a_note(agent_highlighter: Any) -> None:
    best = await SemanticHighlightTool(FunctionTool.from_defaults(web_search), agent_highlighter).acall(query=UNRELATED)
    (result,) = agent_highlighter.highlight(UNRELATED, [PAGE])
    assert not result.highlights
    assert best.content == max(result.sentences, key=lambda s: s.score).text.strip()
    note = await SemanticHighlightTool(
        FunctionTool.from_defaults(web_search), agent_highlighter, on_empty="note"
    ).acall(query=UNRELATED)
    assert note.content == DEFAULT_EMPTY_NOTE.replace("{query}", UNRELATED)


async def test_short_outputs_and_tool_errors_pass_through(
    agent_highlighter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    short = await SemanticHighlightTool(
        FunctionTool.from_defaults(web_search), agent_highlighter, min_chars=10_000
    ).acall(query=QUERY)
    assert short.content == PAGE and short.semantic_highlight["skipped"].startswith("shorter than min_chars")

    def failing(query: str) -> str:
        """Fail."""
        raise ValueError("boom")

    script = await run_agent(
        SemanticHighlightTool(FunctionTool.from_defaults(failing), agent_highlighter), {"query": QUERY}
    )
    assert texts(script.tool_message()) == ["boom"]  # the agent's own error report, untouched

    with caplog.at_level(logging.WARNING):
        script = await run_agent(
            SemanticHighlightTool(FunctionTool.from_defaults(web_search), BrokenHighlighter()), {"query": QUERY}
        )
    assert texts(script.tool_message()) == [PAGE]
    assert "passed through unpruned: RuntimeError: server unavailable" in caplog.text


async def test_wrapped_tool_that_wants_the_context_still_gets_it(agent_highlighter: Any) -> None:
    from llama_index.core.workflow import Context

    seen: list[bool] = []

    async def search_with_context(ctx: Context, query: str) -> str:
        """Search, with the workflow context."""
        seen.append(isinstance(ctx, Context))
        return PAGE

    search_with_context.__annotations__["ctx"] = Context  # this module's annotations are strings

    script = await run_agent(
        SemanticHighlightTool(FunctionTool.from_defaults(search_with_context), agent_highlighter), {"query": QUERY}
    )
    assert seen == [True] and texts(script.tool_message()) == [ANSWER]


def test_settings_are_validated(agent_highlighter: Any) -> None:
    tool = FunctionTool.from_defaults(web_search)
    wrapped = SemanticHighlightTool(tool, agent_highlighter, top_k=2)
    assert wrapped.highlighter is agent_highlighter and wrapped.options.top_k == 2  # the pruner's, read-only
    with pytest.raises(ValueError, match="mode"):
        SemanticHighlightTool(tool, agent_highlighter, mode="summarize")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="text_keys"):
        SemanticHighlightTool(tool, agent_highlighter, text_keys="text")
    with pytest.raises(TypeError, match="BaseTool"):
        SemanticHighlightTool(web_search, agent_highlighter)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="highlight"):
        SemanticHighlightTool(tool, object())
