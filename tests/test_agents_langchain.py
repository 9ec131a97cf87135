"""LangChain agents: ``SemanticHighlightMiddleware`` in real ``create_agent`` loops (a scripted tool-calling fake
chat model, real tools, a retriever tool over an in-memory vector store), asserting the exact text the model
receives on the turn after the tool call; and ``create_highlight_tool``. Offline; the embedded default model
decides which sentences are relevant."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

pytest.importorskip("langchain")

from conftest import AGENT_ANSWER as ANSWER
from conftest import AGENT_DOCS as DOCS
from conftest import AGENT_PAGE as PAGE
from conftest import AGENT_QUERY as QUERY
from conftest import AGENT_UNRELATED as UNRELATED
from conftest import BrokenHighlighter, DuckHighlighter, scripted_chat_model
from langchain.agents import create_agent
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool, create_retriever_tool, tool
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_semantic_highlight import SemanticHighlightMiddleware, create_highlight_tool
from semantic_highlight.agents import DEFAULT_EMPTY_NOTE, approximate_tokens

KEY = "semantic_highlight"


def scripted(name: str, args: dict[str, Any]) -> Any:
    call = AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "call-1", "type": "tool_call"}])
    return scripted_chat_model([call, AIMessage(content="Done.")])


def run_agent(
    tools: list[BaseTool],
    middleware: SemanticHighlightMiddleware,
    args: dict[str, Any],
    user: str = "Tell me about famous landmarks.",
) -> ToolMessage:
    """One agent run (tool call, then an answer); the tool message the model received on its second turn."""
    model = scripted(tools[0].name, args)
    create_agent(model, tools=tools, middleware=[middleware]).invoke({"messages": [("user", user)]})
    assert len(model.received) == 2
    (message,) = [m for m in model.received[1] if isinstance(m, ToolMessage)]
    return message


async def arun_agent(tools: list[BaseTool], middleware: SemanticHighlightMiddleware, args: dict[str, Any]) -> Any:
    model = scripted(tools[0].name, args)
    agent = create_agent(model, tools=tools, middleware=[middleware])
    await agent.ainvoke({"messages": [("user", "Tell me about famous landmarks.")]})
    (message,) = [m for m in model.received[1] if isinstance(m, ToolMessage)]
    return message


@tool
def web_search(query: str) -> str:
    """Search the web and return the page text."""
    return PAGE


@tool
def fetch_page(url: str) -> str:
    """Fetch a web page by URL."""
    return PAGE


@tool
def search_documents(query: str) -> list[Document]:
    """Search the document store."""
    return [Document(page_content=text, metadata={"source": f"doc{i}"}, id=f"d{i}") for i, text in enumerate(DOCS)]


@tool
def search_json(query: str) -> list[dict[str, Any]]:
    """Search and return JSON hits."""
    return [{"title": f"hit {i}", "snippet": text, "rank": i} for i, text in enumerate(DOCS)]


@pytest.fixture(scope="module")
def store() -> InMemoryVectorStore:
    return InMemoryVectorStore.from_texts(DOCS, DeterministicFakeEmbedding(size=32))


def test_plain_string_tool_is_pruned_before_the_model_reads_it(agent_highlighter: Any) -> None:
    message = run_agent([web_search], SemanticHighlightMiddleware(agent_highlighter), {"query": QUERY})
    assert message.content == ANSWER
    record = message.response_metadata[KEY]
    assert record["query"] == QUERY and record["query_source"] == "args.query"
    assert record["original_content"] == PAGE
    assert (record["chars_before"], record["chars_after"]) == (len(PAGE), len(ANSWER))
    count = SemanticHighlightMiddleware(agent_highlighter).token_counter
    assert (record["tokens_before"], record["tokens_after"]) == (count(PAGE), count(ANSWER))
    assert record["tokens_after"] < record["tokens_before"] / 5
    assert message.name == "web_search" and message.tool_call_id == "call-1"


def test_retriever_tool_output_is_pruned(agent_highlighter: Any, store: InMemoryVectorStore) -> None:
    retriever_tool = create_retriever_tool(store.as_retriever(search_kwargs={"k": 3}), "search_docs", "Search docs.")
    message = run_agent([retriever_tool], SemanticHighlightMiddleware(agent_highlighter), {"query": QUERY})
    assert message.content == ANSWER  # one text: the irrelevant sentences go, with the blank lines around them
    record = message.response_metadata[KEY]
    assert record["shape"] == "text" and record["original_content"].count("\n\n") == 2


def test_content_and_artifact_retriever_tool_keeps_its_documents(
    agent_highlighter: Any, store: InMemoryVectorStore
) -> None:
    retriever = store.as_retriever(search_kwargs={"k": 3})
    retriever_tool = create_retriever_tool(retriever, "docs", "Search docs.", response_format="content_and_artifact")
    message = run_agent([retriever_tool], SemanticHighlightMiddleware(agent_highlighter), {"query": QUERY})
    assert message.content == ANSWER
    assert sorted(d.page_content for d in message.artifact) == sorted(DOCS)  # the full documents stay available
    record = message.response_metadata[KEY]
    assert record["shape"] == "documents+artifact" and (record["items"], record["items_kept"]) == (3, 1)


def test_documents_list_tool_keeps_the_document_format(agent_highlighter: Any) -> None:
    message = run_agent([search_documents], SemanticHighlightMiddleware(agent_highlighter), {"query": QUERY})
    expected = [Document(page_content=ANSWER, metadata={"source": "doc0"}, id="d0")]
    assert message.content == str(expected)
    assert message.response_metadata[KEY]["original_content"] == str(search_documents.func(QUERY))


def test_json_tool_drops_irrelevant_hits_and_keeps_fields(agent_highlighter: Any) -> None:
    message = run_agent([search_json], SemanticHighlightMiddleware(agent_highlighter), {"query": QUERY})
    assert json.loads(message.content) == [{"title": "hit 0", "snippet": ANSWER, "rank": 0}]


def test_query_falls_back_to_the_latest_human_message(agent_highlighter: Any) -> None:
    message = run_agent(
        [fetch_page], SemanticHighlightMiddleware(agent_highlighter), {"url": "https://example.org"}, user=QUERY
    )
    assert message.content == ANSWER
    assert message.response_metadata[KEY]["query_source"] == "human_message"


def test_configured_query_argument_names(agent_highlighter: Any) -> None:
    middleware = SemanticHighlightMiddleware(agent_highlighter, query_args=["url"])
    message = run_agent([fetch_page], middleware, {"url": QUERY}, user=UNRELATED)
    assert message.response_metadata[KEY]["query_source"] == "args.url" and message.content == ANSWER


async def test_async_agent_uses_the_remote_highlighters_async_api(agent_highlighter: Any) -> None:
    remote = DuckHighlighter(agent_highlighter)  # RemoteHighlighter's shape: the same results, awaited
    message = await arun_agent([web_search], SemanticHighlightMiddleware(remote, min_chars=0), {"query": QUERY})
    assert message.content == ANSWER and [name for name, _ in remote.calls] == ["ahighlight"]
    assert message.response_metadata[KEY]["tokens_before"] == approximate_tokens(PAGE)  # no local tokenizer


def test_remote_highlighter_over_http_sync_and_async(agent_highlighter: Any) -> None:
    """A real ``RemoteHighlighter`` against a live ``semantic-highlight serve`` app on the same model."""
    pytest.importorskip("fastapi")
    from semantic_highlight.serve import RemoteHighlighter, ServeSettings, create_app
    from semantic_highlight.serve.background import BackgroundServer

    with BackgroundServer(create_app(agent_highlighter, ServeSettings())) as url:
        middleware = SemanticHighlightMiddleware(RemoteHighlighter(url))
        message = run_agent([search_json], middleware, {"query": QUERY})
        async_message = asyncio.run(arun_agent([search_json], middleware, {"query": QUERY}))
    assert (
        json.loads(message.content)
        == json.loads(async_message.content)
        == [{"title": "hit 0", "snippet": ANSWER, "rank": 0}]
    )


async def test_async_agent_with_in_process_highlighter_matches_sync(agent_highlighter: Any) -> None:
    message = await arun_agent([search_json], SemanticHighlightMiddleware(agent_highlighter), {"query": QUERY})
    sync = run_agent([search_json], SemanticHighlightMiddleware(agent_highlighter), {"query": QUERY})
    assert message.content == sync.content


def test_only_the_named_tools_are_pruned(agent_highlighter: Any) -> None:
    message = run_agent(
        [web_search], SemanticHighlightMiddleware(agent_highlighter, tools=["other_tool"]), {"query": QUERY}
    )
    assert message.content == PAGE and KEY not in message.response_metadata
    message = run_agent(
        [web_search], SemanticHighlightMiddleware(agent_highlighter, tools=[web_search]), {"query": QUERY}
    )
    assert message.content == ANSWER


def test_annotate_mode_marks_relevant_sentences(agent_highlighter: Any) -> None:
    message = run_agent([web_search], SemanticHighlightMiddleware(agent_highlighter, mode="annotate"), {"query": QUERY})
    assert message.content == PAGE.replace(ANSWER, f"<mark>{ANSWER}</mark>")
    custom = SemanticHighlightMiddleware(agent_highlighter, mode="annotate", marks=("**", "**"))
    assert run_agent([web_search], custom, {"query": QUERY}).content == PAGE.replace(ANSWER, f"**{ANSWER}**")


def test_context_sentences_keep_neighbours(agent_highlighter: Any) -> None:
    message = run_agent(
        [web_search], SemanticHighlightMiddleware(agent_highlighter, context_sentences=1), {"query": QUERY}
    )
    second = "Its wrought-iron lattice was designed by the engineering company of Gustave Eiffel. "
    third = "Bananas are a good source of potassium and vitamin B6. "
    assert message.content == second + ANSWER + " " + third.strip()


def test_short_outputs_are_left_alone(agent_highlighter: Any) -> None:
    message = run_agent(
        [web_search], SemanticHighlightMiddleware(agent_highlighter, min_chars=len(PAGE) + 1), {"query": QUERY}
    )
    assert message.content == PAGE
    record = message.response_metadata[KEY]
    assert record["skipped"].startswith("shorter than min_chars") and record["chars_after"] == len(PAGE)


def test_nothing_relevant_keeps_the_best_sentence_or_a_note(agent_highlighter: Any) -> None:
    best = run_agent([web_search], SemanticHighlightMiddleware(agent_highlighter), {"query": UNRELATED})
    results = agent_highlighter.highlight(UNRELATED, [PAGE])
    assert not results[0].highlights
    top = max(results[0].sentences, key=lambda s: s.score)
    assert best.content == top.text.strip() and best.response_metadata[KEY]["on_empty"] == "best"
    note = run_agent(
        [web_search], SemanticHighlightMiddleware(agent_highlighter, on_empty="note"), {"query": UNRELATED}
    )
    assert note.content == DEFAULT_EMPTY_NOTE.replace("{query}", UNRELATED)
    custom = SemanticHighlightMiddleware(agent_highlighter, on_empty="note", empty_note="Nothing about {query} here.")
    assert run_agent([web_search], custom, {"query": UNRELATED}).content == f"Nothing about {UNRELATED} here."


def test_nothing_relevant_in_any_document_keeps_the_best_one(agent_highlighter: Any) -> None:
    message = run_agent([search_documents], SemanticHighlightMiddleware(agent_highlighter), {"query": UNRELATED})
    results = agent_highlighter.highlight(UNRELATED, DOCS)
    assert not any(r.highlights for r in results)
    best = max(range(len(DOCS)), key=lambda i: results[i].score)
    top = max(results[best].sentences, key=lambda s: s.score)
    assert message.content == str(
        [Document(page_content=top.text.strip(), metadata={"source": f"doc{best}"}, id=f"d{best}")]
    )
    assert message.response_metadata[KEY]["on_empty"] == "best"


def test_content_blocks_are_pruned_and_other_blocks_kept(agent_highlighter: Any) -> None:
    image = {"type": "image", "url": "https://example.org/a.png"}

    @tool
    def blocks_tool(query: str) -> list[dict[str, Any]]:
        """Return content blocks."""
        return [{"type": "text", "text": DOCS[0]}, image, {"type": "text", "text": DOCS[1]}]

    message = run_agent([blocks_tool], SemanticHighlightMiddleware(agent_highlighter, min_chars=0), {"query": QUERY})
    assert message.content == [{"type": "text", "text": ANSWER}, image]


def test_bad_tool_outputs_pass_through(agent_highlighter: Any, caplog: pytest.LogCaptureFixture) -> None:
    @tool
    def number_tool(query: str) -> int:
        """Return a number."""
        return 42

    @tool
    def failing_tool(query: str) -> str:
        """Fail."""
        raise ValueError("boom")

    message = run_agent([number_tool], SemanticHighlightMiddleware(agent_highlighter, min_chars=0), {"query": QUERY})
    assert message.content == "42"

    with caplog.at_level(logging.WARNING):
        message = run_agent([web_search], SemanticHighlightMiddleware(BrokenHighlighter()), {"query": QUERY})
    assert message.content == PAGE
    assert "passed through unpruned: RuntimeError: server unavailable" in caplog.text

    model = scripted("failing_tool", {"query": QUERY})
    agent = create_agent(model, tools=[failing_tool], middleware=[SemanticHighlightMiddleware(agent_highlighter)])
    with pytest.raises(ValueError, match="boom"):  # the tool's own error is not ours to swallow
        agent.invoke({"messages": [("user", "hi")]})


def test_empty_text_output_passes_through(agent_highlighter: Any) -> None:
    @tool
    def blank_tool(query: str) -> str:
        """Return nothing."""
        return "   "

    message = run_agent([blank_tool], SemanticHighlightMiddleware(agent_highlighter, min_chars=0), {"query": QUERY})
    assert message.content == "   " and message.response_metadata[KEY]["skipped"] == "no text to score"


def test_settings_are_validated(agent_highlighter: Any) -> None:
    middleware = SemanticHighlightMiddleware(agent_highlighter, top_k=2)
    assert middleware.highlighter is agent_highlighter and middleware.options.top_k == 2  # the pruner's, read-only
    with pytest.raises(ValueError, match="mode"):
        SemanticHighlightMiddleware(agent_highlighter, mode="summarize")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="query_args"):  # a str is one name, not a sequence of names
        SemanticHighlightMiddleware(agent_highlighter, query_args="query")
    with pytest.raises(ValueError, match="on_empty"):
        SemanticHighlightMiddleware(agent_highlighter, on_empty="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_chars"):
        SemanticHighlightMiddleware(agent_highlighter, min_chars=-1)
    with pytest.raises(TypeError, match="highlight"):
        SemanticHighlightMiddleware(object())
    with pytest.raises(TypeError, match="tools"):
        SemanticHighlightMiddleware(agent_highlighter, tools="web_search")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        SemanticHighlightMiddleware(agent_highlighter, model="x")


def test_highlight_tool_returns_relevant_sentences(agent_highlighter: Any) -> None:
    highlight_tool = create_highlight_tool(agent_highlighter)
    assert set(highlight_tool.args) == {"query", "text"}
    call = {"type": "tool_call", "name": highlight_tool.name, "args": {"query": QUERY, "text": PAGE}, "id": "t1"}
    message = highlight_tool.invoke(call)
    assert message.content == ANSWER
    assert message.artifact["highlights"][0]["spans"][0]["text"] == ANSWER + " "
    empty = highlight_tool.invoke({**call, "args": {"query": QUERY, "text": ""}})
    assert empty.content == DEFAULT_EMPTY_NOTE.replace("{query}", QUERY)


async def test_highlight_tool_in_an_async_agent(agent_highlighter: Any) -> None:
    highlight_tool = create_highlight_tool(agent_highlighter)
    model = scripted(highlight_tool.name, {"query": QUERY, "text": PAGE})
    await create_agent(model, tools=[highlight_tool]).ainvoke({"messages": [("user", "Read this page.")]})
    (message,) = [m for m in model.received[1] if isinstance(m, ToolMessage)]
    assert message.content == ANSWER
