"""The MCP server (`semantic-highlight mcp`) driven by real MCP clients.

- the official SDK client over stdio, against the CLI started as a subprocess (tiny fixture model for the
  plumbing, the embedded default model once for relevance);
- the official client over streamable HTTP (a subprocess on a free 127.0.0.1 port, with an API key);
- `langchain-mcp-adapters` tools in a LangChain `create_agent` loop and `llama-index-tools-mcp` tools in a
  LlamaIndex `FunctionAgent`, each with a scripted fake model: we assert the text the model receives on its
  next turn.

Each server process is started once per module and every exchange with it is recorded up front
(`anyio.run` in a module fixture), so the tests below only read the record.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

pytest.importorskip("mcp")

from conftest import FIXTURES, ToolCallScript, default_model_available, mixed_threshold, scripted_chat_model
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import CallToolResult, TextContent
from semantic_highlight.mcp.server import NO_RELEVANT_CONTENT

TINY = FIXTURES / "op-tiny-xlmr"
SERVER = [sys.executable, "-m", "semantic_highlight.cli", "mcp"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
API_KEY = "test-key-123"

QUERY = "Who wrote the screenplay of the film?"
DOCS = [
    "The film was directed by Anna Berg. The screenplay was written by Lee Park and Sam Ortiz. "
    "It stars Mia Chen as a pilot. It opened in 2019 to good reviews.",
    "Rain is expected on Tuesday. Temperatures stay mild through the week.",
    "The studio also released a soundtrack album. Its lead single reached number three.",
]
MAX_CHARS = 5000
NOTE = NO_RELEVANT_CONTENT.format(query=QUERY)

pytestmark = pytest.mark.skipif(not TINY.is_dir(), reason="../shared/fixtures is not available")


def text_of(result: CallToolResult) -> str:
    assert all(isinstance(c, TextContent) for c in result.content)
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


def expected_output(highlighter: Any, query: str, docs: list[str], **options: Any) -> dict[str, Any]:
    """The `highlight` tool's structured output, built from an in-process call on the same checkpoint."""
    results = highlighter.highlight(query, docs, **options)
    return {
        "model": results[0].model,
        "threshold": results[0].threshold,
        "results": [
            {
                "index": i,
                "score": r.score,
                "spans": [{"start": s.start, "end": s.end, "text": s.text, "score": s.score} for s in r.highlights],
                "pruned_text": r.pruned_text,
                "chars": len(r.text),
                "kept_chars": len(r.pruned_text),
            }
            for i, r in enumerate(results)
        ],
    }


# --- stdio, official client -----------------------------------------------------------------------

BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("highlight", {"query": QUERY}, "exactly one of `text`"),
    ("highlight", {"query": QUERY, "text": "a.", "texts": ["b."]}, "exactly one of `text`"),
    ("highlight", {"query": QUERY, "texts": []}, "`texts` is empty"),
    ("highlight", {"query": "   ", "text": "a."}, "query must not be blank"),
    ("highlight", {"query": QUERY, "text": "a.", "threshold": 3}, "threshold"),
    ("highlight", {"query": QUERY, "text": "a.", "top_k": 0}, "top_k"),
    ("highlight", {"query": QUERY, "text": 5}, "text"),
    ("highlight", {"query": QUERY, "texts": ["a.", None]}, "texts"),
    ("prune", {"query": QUERY}, "text"),
    ("prune", {"query": QUERY, "text": "x" * (MAX_CHARS + 1)}, "too long"),
    ("no_such_tool", {"query": QUERY}, "no_such_tool"),
]


async def _stdio_exchange(args: list[str], calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    params = StdioServerParameters(command=SERVER[0], args=[*SERVER[1:], *args], env=ENV)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        tools = await session.list_tools()
        results = [await session.call_tool(name, arguments) for name, arguments in calls]
    return {"init": init, "tools": {t.name: t for t in tools.tools}, "results": results}


@pytest.fixture(scope="module")
def stdio_tiny(xlmr: Any, http_server: Any) -> dict[str, Any]:
    """One stdio session with the tiny model: tool list, good calls, bad calls, then a good call again.
    (``http_server`` only starts the HTTP server early, to overlap the two start-ups.)"""
    threshold = mixed_threshold(xlmr, QUERY, DOCS)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("highlight", {"query": QUERY, "text": DOCS[0]}),
        ("highlight", {"query": QUERY, "texts": DOCS, "threshold": threshold, "top_k": 2}),
        ("prune", {"query": QUERY, "text": DOCS[0]}),
        ("prune", {"query": QUERY, "text": "  \n "}),
        *[(name, arguments) for name, arguments, _ in BAD_CALLS],
        ("prune", {"query": QUERY, "text": DOCS[1]}),
    ]
    record = anyio.run(_stdio_exchange, ["--model", str(TINY), "--device", "cpu", "--max-chars", str(MAX_CHARS)], calls)
    record["threshold"] = threshold
    return record


def test_stdio_lists_both_tools_with_schemas(stdio_tiny: dict[str, Any]) -> None:
    assert stdio_tiny["init"].serverInfo.name == "semantic-highlight"
    assert "prune" in (stdio_tiny["init"].instructions or "")
    tools = stdio_tiny["tools"]
    assert set(tools) == {"highlight", "prune"}
    hl, pr = tools["highlight"], tools["prune"]
    assert hl.inputSchema["required"] == ["query"]
    assert set(hl.inputSchema["properties"]) == {"query", "text", "texts", "threshold", "top_k"}
    assert all(p.get("description") for p in hl.inputSchema["properties"].values())
    assert pr.inputSchema["required"] == ["query", "text"]
    assert hl.outputSchema is not None and set(hl.outputSchema["required"]) == {"model", "threshold", "results"}
    assert pr.outputSchema is None  # plain text result
    for tool in (hl, pr):
        assert tool.description and not tool.description.startswith(" ")
        assert tool.annotations is not None and tool.annotations.readOnlyHint is True


def test_stdio_highlight_equals_in_process_results(stdio_tiny: dict[str, Any], xlmr: Any) -> None:
    one, many = stdio_tiny["results"][:2]
    assert not one.isError and not many.isError
    assert one.structuredContent == expected_output(xlmr, QUERY, [DOCS[0]])
    want = expected_output(xlmr, QUERY, DOCS, threshold=stdio_tiny["threshold"], top_k=2)
    assert many.structuredContent == want
    assert json.loads(text_of(many)) == want  # the text block is the same JSON (MCP: structured + serialised)
    kept = [r["kept_chars"] for r in want["results"]]
    assert 0 < sum(kept) < sum(len(d) for d in DOCS)  # the threshold keeps some sentences, not all


def test_stdio_prune_returns_the_pruned_text_or_a_note(stdio_tiny: dict[str, Any], xlmr: Any) -> None:
    pruned, blank = stdio_tiny["results"][2:4]
    assert not pruned.isError and pruned.structuredContent is None
    assert text_of(pruned) == (xlmr.highlight(QUERY, DOCS[0]).pruned_text or NOTE)
    assert text_of(blank) == NOTE


def test_stdio_bad_arguments_are_tool_errors_and_the_server_lives_on(stdio_tiny: dict[str, Any], xlmr: Any) -> None:
    bad = stdio_tiny["results"][4 : 4 + len(BAD_CALLS)]
    for (name, arguments, needle), result in zip(BAD_CALLS, bad, strict=True):
        assert result.isError, (name, arguments)
        assert needle in text_of(result), (name, arguments, text_of(result))
    last = stdio_tiny["results"][-1]
    assert not last.isError
    assert text_of(last) == (xlmr.highlight(QUERY, DOCS[1]).pruned_text or NOTE)


@pytest.mark.skipif(not default_model_available(), reason="the embedded default model is not shipped")
def test_stdio_default_model_keeps_the_answer_and_drops_the_rest() -> None:
    text = (
        "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris. "
        "It was designed by the engineering company of Gustave Eiffel and built from 1887 to 1889. "
        "Paris also hosts the Louvre, the most visited art museum in the world."
    )
    zh = "北京是中华人民共和国的首都。长城全长两万多公里，修建历时两千多年。北京的冬天寒冷干燥。"
    record = anyio.run(
        _stdio_exchange,
        ["--device", "cpu"],
        [
            ("prune", {"query": "Who designed the Eiffel Tower?", "text": text}),
            ("highlight", {"query": "长城有多长？", "text": zh}),
        ],
    )
    pruned, highlighted = record["results"]
    kept = text_of(pruned)
    assert "Gustave Eiffel" in kept and "Louvre" not in kept
    assert len(kept) < len(text)
    spans = highlighted.structuredContent["results"][0]["spans"]
    assert [s["text"] for s in spans] == ["长城全长两万多公里，修建历时两千多年。"]
    assert zh[spans[0]["start"] : spans[0]["end"]] == spans[0]["text"]


def test_cli_rejects_a_public_host_without_a_key(capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    from semantic_highlight.mcp import main

    monkeypatch.delenv("SEMANTIC_HIGHLIGHT_MCP_API_KEY", raising=False)
    assert main(["--transport", "http", "--host", "0.0.0.0", "--model", str(TINY)]) == 2
    out = capsys.readouterr()
    assert "--api-key" in out.err and out.out == ""


# --- streamable HTTP ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[subprocess.Popen[bytes], int, Any]]:
    """`semantic-highlight mcp --transport http` with the tiny model and an API key, started (not yet waited
    for) as soon as the module's first fixture needs it, so its start-up overlaps the stdio session's."""
    port = _free_port()
    args = ["--transport", "http", "--port", str(port), "--model", str(TINY), "--device", "cpu"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([*SERVER, *args, "--api-key", API_KEY], env=ENV, stdout=log, stderr=log)
        try:
            yield proc, port, log
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def http_url(http_server: tuple[subprocess.Popen[bytes], int, Any]) -> str:
    """The server's /mcp URL once its port accepts connections (the model is loaded before it binds)."""
    proc, port, log = http_server
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"the MCP server exited ({proc.returncode}): {log.read().decode()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return f"http://127.0.0.1:{port}/mcp"
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail("the MCP server did not open its port within 120 s")
            time.sleep(0.3)


AUTH = {"Authorization": f"Bearer {API_KEY}"}


def test_http_official_client(http_url: str, xlmr: Any) -> None:
    async def exchange() -> list[CallToolResult]:
        async with (
            create_mcp_http_client(headers=AUTH) as http,
            streamable_http_client(http_url, http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return [
                await session.call_tool("highlight", {"query": QUERY, "texts": DOCS}),
                await session.call_tool("highlight", {"query": QUERY}),
                await session.call_tool("prune", {"query": QUERY, "text": DOCS[0]}),
            ]

    good, bad, pruned = anyio.run(exchange)
    assert good.structuredContent == expected_output(xlmr, QUERY, DOCS)
    assert bad.isError and "exactly one of `text`" in text_of(bad)
    assert text_of(pruned) == (xlmr.highlight(QUERY, DOCS[0]).pruned_text or NOTE)


def test_http_requires_the_api_key(http_url: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    for sent in ({}, {"Authorization": "Bearer wrong"}):
        response = httpx.post(http_url, json=body, headers={**headers, **sent}, timeout=30)
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "missing or wrong API key"


# --- agent frameworks as MCP clients --------------------------------------------------------------

PAGE = (
    "The film was directed by Anna Berg. The screenplay was written by Lee Park and Sam Ortiz. "
    "It stars Mia Chen as a pilot. It opened in 2019 to good reviews. The studio also released a soundtrack album"
)


def test_langchain_mcp_adapters_in_a_create_agent_loop(http_url: str, xlmr: Any) -> None:
    pytest.importorskip("langchain_mcp_adapters")
    from langchain.agents import create_agent
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langchain_mcp_adapters.client import MultiServerMCPClient

    model = scripted_chat_model(
        [
            AIMessage("", tool_calls=[{"name": "prune", "args": {"query": QUERY, "text": PAGE}, "id": "c1"}]),
            AIMessage("", tool_calls=[{"name": "highlight", "args": {"query": QUERY}, "id": "c2"}]),
            AIMessage("Lee Park and Sam Ortiz."),
        ]
    )

    async def run() -> dict[str, Any]:
        connection: Any = {"transport": "streamable_http", "url": http_url, "headers": AUTH}
        client = MultiServerMCPClient({"semantic-highlight": connection})
        tools = await client.get_tools()
        assert {t.name for t in tools} == {"highlight", "prune"}
        agent = create_agent(model=model, tools=tools)
        return await agent.ainvoke({"messages": [HumanMessage(QUERY)]})

    state = anyio.run(run)
    assert state["messages"][-1].content == "Lee Park and Sam Ortiz."
    assert len(model.received) == 3
    first_tool = model.received[1][-1]
    assert isinstance(first_tool, ToolMessage) and first_tool.tool_call_id == "c1"
    assert first_tool.text == (xlmr.highlight(QUERY, PAGE).pruned_text or NOTE)
    error = model.received[2][-1]  # a bad call reaches the model as an error message; the loop goes on
    assert isinstance(error, ToolMessage) and error.tool_call_id == "c2"
    assert error.status == "error" and "exactly one of `text`" in error.text


def test_llama_index_mcp_tool_spec_in_a_function_agent(http_url: str, xlmr: Any) -> None:
    pytest.importorskip("llama_index.tools.mcp")
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.llms.mock import MockFunctionCallingLLM
    from llama_index.tools.mcp import BasicMCPClient, McpToolSpec

    # turn 1: call `prune` on the page; turn 2: answer
    script = ToolCallScript("prune", {"query": QUERY, "text": PAGE}, answer="Lee Park and Sam Ortiz.")

    async def run() -> str:
        spec = McpToolSpec(client=BasicMCPClient(http_url, headers=AUTH))
        tools = await spec.to_tool_list_async()
        assert {t.metadata.name for t in tools} == {"highlight", "prune"}
        agent = FunctionAgent(tools=tools, llm=MockFunctionCallingLLM(response_generator=script))
        return str(await agent.run(user_msg=QUERY))

    answer = anyio.run(run)
    assert "Lee Park and Sam Ortiz." in answer
    tool_message = script.tool_message()  # the second and last turn
    # llama-index-tools-mcp hands the model str(CallToolResult): the pruned text inside the result's repr
    pruned = xlmr.highlight(QUERY, PAGE).pruned_text or NOTE
    assert f"text={pruned!r}" in (tool_message.content or "")
    assert "isError=False" in (tool_message.content or "")
