"""Real third-party clients against a live highlight server (no mocks): the Cohere SDK (v1 and v2 clients),
langchain-cohere's CohereRerank, llama-index's Cohere and TEI rerank postprocessors, our LangChain and
LlamaIndex wrappers given a RemoteHighlighter, the README's curl examples, schemathesis on the OpenAPI
schema (bounded: a few examples per operation), and RemoteHighlighter's retries behind a proxy that fails."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("fastapi")

import httpx
from conftest import ROOT
from hypothesis import HealthCheck, settings
from semantic_highlight import HighlightResult, SemanticHighlighter
from semantic_highlight.serve import RemoteHighlighter, RemoteHighlightError, ServeSettings, create_app
from semantic_highlight.serve.background import BackgroundServer
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

QUERY = "How tall is the Eiffel Tower?"
DOCS = [
    "Paris is the capital of France. The Seine crosses the city.",
    "The Eiffel Tower is a wrought-iron tower in Paris. It is about 330 metres tall. Tourists buy crêpes nearby.",
    "埃菲尔铁塔位于巴黎。铁塔高约三百三十米。附近有很多咖啡馆。",
    "Cats are obligate carnivores. They eat meat and fish.",
]
KEY = "test-key-123"


@pytest.fixture(scope="module")
def engine(xlmr: SemanticHighlighter) -> SemanticHighlighter:
    return xlmr


@pytest.fixture(scope="module")
def url(engine: SemanticHighlighter) -> Iterator[str]:
    """An open server (no key): what the rerank clients and schemathesis talk to."""
    with BackgroundServer(create_app(engine, ServeSettings(max_documents=16, max_chars=20_000, max_items=4))) as u:
        yield u


@pytest.fixture(scope="module")
def keyed_url(engine: SemanticHighlighter) -> Iterator[str]:
    """A server that requires ``Authorization: Bearer KEY``: clients must send it."""
    with BackgroundServer(create_app(engine, ServeSettings(api_key=KEY))) as u:
        yield u


def ranking(engine: SemanticHighlighter, docs: list[str]) -> list[tuple[int, float]]:
    """What every rerank route must answer: (index, ranking-head score), best first."""
    results = engine.highlight(QUERY, docs)
    scored = [(i, r.ranking_score or 0.0) for i, r in enumerate(results)]
    return sorted(scored, key=lambda x: (-x[1], x[0]))


# --- Cohere SDK and frameworks built on it ------------------------------------------------------------


def test_cohere_sdk_v2_and_v1(keyed_url: str, engine: SemanticHighlighter) -> None:
    cohere = pytest.importorskip("cohere")
    expected = ranking(engine, DOCS)
    v2 = cohere.ClientV2(base_url=keyed_url, api_key=KEY)
    response = v2.rerank(model="semantic-highlight", query=QUERY, documents=DOCS, top_n=3)
    assert [(r.index, r.relevance_score) for r in response.results] == expected[:3]
    assert response.meta is not None and response.meta.model_extra is not None
    assert response.meta.model_extra.get("relevance_score_source") == "ranking_head"
    v1 = cohere.Client(base_url=keyed_url, api_key=KEY)
    response = v1.rerank(model="semantic-highlight", query=QUERY, documents=DOCS, return_documents=True)
    assert [(r.index, r.relevance_score) for r in response.results] == expected
    assert [r.document.text for r in response.results] == [DOCS[i] for i, _ in expected]
    with pytest.raises(cohere.core.ApiError) as info:  # a wrong key is the SDK's own error type, status 401
        cohere.ClientV2(base_url=keyed_url, api_key="wrong").rerank(model="m", query=QUERY, documents=DOCS)
    assert info.value.status_code == 401


def test_langchain_cohere_rerank(keyed_url: str, engine: SemanticHighlighter) -> None:
    pytest.importorskip("langchain_cohere")
    from langchain_cohere import CohereRerank
    from langchain_core.documents import Document
    from pydantic import SecretStr

    reranker = CohereRerank(base_url=keyed_url, cohere_api_key=SecretStr(KEY), model="semantic-highlight", top_n=2)
    docs = [Document(page_content=d, metadata={"n": i}) for i, d in enumerate(DOCS)]
    out = reranker.compress_documents(docs, QUERY)
    expected = ranking(engine, DOCS)[:2]
    assert [(d.metadata["n"], d.metadata["relevance_score"]) for d in out] == expected


def test_llama_index_cohere_and_tei_postprocessors(url: str, keyed_url: str, engine: SemanticHighlighter) -> None:
    pytest.importorskip("llama_index.postprocessor.tei_rerank")
    from llama_index.core.schema import NodeWithScore, TextNode
    from llama_index.postprocessor.cohere_rerank import CohereRerank
    from llama_index.postprocessor.tei_rerank import TextEmbeddingInference

    nodes = [NodeWithScore(node=TextNode(text=d, id_=f"n{i}"), score=0.0) for i, d in enumerate(DOCS)]
    expected = [(f"n{i}", score) for i, score in ranking(engine, DOCS)]
    cohere_pp = CohereRerank(top_n=2, model="semantic-highlight", api_key=KEY, base_url=keyed_url)
    out = cohere_pp.postprocess_nodes(nodes, query_str=QUERY)
    assert [(n.node.node_id, n.score) for n in out] == expected[:2]
    tei = TextEmbeddingInference(base_url=keyed_url, top_n=3, auth_token=f"Bearer {KEY}")
    out = tei.postprocess_nodes(nodes, query_str=QUERY)
    assert [(n.node.node_id, n.score) for n in out] == expected[:3]
    out = TextEmbeddingInference(base_url=url, top_n=4).postprocess_nodes(nodes, query_str=QUERY)  # open server
    assert [(n.node.node_id, n.score) for n in out] == expected


# --- our wrappers, given a RemoteHighlighter -------------------------------------------------------


def test_langchain_wrappers_with_remote_highlighter(keyed_url: str, engine: SemanticHighlighter) -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.documents import Document
    from langchain_semantic_highlight import SemanticHighlightCompressor

    remote = RemoteHighlighter(keyed_url, api_key=KEY)
    docs = [Document(page_content=d, metadata={"n": i}) for i, d in enumerate(DOCS)]
    local = SemanticHighlightCompressor(highlighter=engine, mode="prune", threshold=0.3, top_n=3)
    over_http = SemanticHighlightCompressor(highlighter=remote, mode="prune", threshold=0.3, top_n=3)
    want = local.compress_documents(docs, QUERY)
    assert _strip_timing(over_http.compress_documents(docs, QUERY)) == _strip_timing(want)
    assert _strip_timing(asyncio.run(over_http.acompress_documents(docs, QUERY))) == _strip_timing(want)


def test_llama_index_postprocessor_with_remote_highlighter(keyed_url: str, engine: SemanticHighlighter) -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.schema import NodeWithScore, TextNode
    from llama_index.postprocessor.semantic_highlight import SemanticHighlightPostprocessor

    remote = RemoteHighlighter(keyed_url, api_key=KEY)
    nodes = [NodeWithScore(node=TextNode(text=d, id_=f"n{i}"), score=0.5) for i, d in enumerate(DOCS)]
    local = SemanticHighlightPostprocessor(highlighter=engine, mode="annotate", top_n=2)
    over_http = SemanticHighlightPostprocessor(highlighter=remote, mode="annotate", top_n=2)
    want = [(n.node.node_id, n.score, n.node.metadata) for n in local.postprocess_nodes(nodes, query_str=QUERY)]
    got = [(n.node.node_id, n.score, n.node.metadata) for n in over_http.postprocess_nodes(nodes, query_str=QUERY)]
    assert _strip_timing(got) == _strip_timing(want)
    anodes = asyncio.run(over_http.apostprocess_nodes(nodes, query_str=QUERY))
    assert _strip_timing([(n.node.node_id, n.score, n.node.metadata) for n in anodes]) == _strip_timing(want)


def _strip_timing(value: Any) -> Any:
    """Wrapper output with timing fields removed (they differ between any two runs)."""
    if hasattr(value, "page_content"):
        return (value.page_content, _strip_timing(value.metadata))
    if isinstance(value, dict):
        return {k: _strip_timing(v) for k, v in value.items() if "seconds" not in k and "elapsed" not in k}
    if isinstance(value, (list, tuple)):
        return [_strip_timing(v) for v in value]
    return value


# --- README curl examples ---------------------------------------------------------------------------


def readme_curl_commands() -> list[str]:
    """The curl commands in README's "Highlight server" section (shell blocks, one command per block line)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Highlight server\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README.md has no '## Highlight server' section"
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", section.group(1), re.S):
        joined = block.replace("\\\n", " ")
        commands += [line.strip() for line in joined.splitlines() if line.strip().startswith("curl ")]
    return commands


def test_readme_curl_examples_run(keyed_url: str, engine: SemanticHighlighter) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    commands = readme_curl_commands()
    assert len(commands) >= 3, commands
    for command in commands:
        command = command.replace("http://127.0.0.1:8000", keyed_url)
        env = {**os.environ, "HIGHLIGHT_KEY": KEY}
        done = subprocess.run(
            ["bash", "-c", command + " --fail-with-body -sS"], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        body = httpx.Response(200, content=done.stdout.encode()).json()
        if "/v1/highlight" in command and "batch" not in command:
            payload = re.search(r"-d '(.*)'", command, re.S)
            assert payload, command
            request = httpx.Response(200, content=payload.group(1).encode()).json()
            expected = engine.highlight(request["query"], request["documents"])
            assert [HighlightResult.from_dict(r) for r in body["results"]] == expected
        else:
            assert body, command


# --- schemathesis ------------------------------------------------------------------------------------


def test_openapi_schema_holds(url: str) -> None:
    """Schemathesis on every operation (8 generated cases each, derandomized): no 500, every status
    documented, every body and content type as the schema says."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import given
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/highlight", "/v1/highlight/batch", "/v2/rerank", "/rerank"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case: Any) -> None:
            case.call_and_validate(checks=checks)

        run()
    answered = httpx.get(url + "/metrics").text
    assert re.search(r'requests_total\{route="/v1/highlight",status="200"\} [1-9]', answered), "no valid case ran"


# --- RemoteHighlighter's retries ---------------------------------------------------------------------


@dataclass
class FlakyProxy:
    """An ASGI proxy in front of the real app: the next ``fail`` POSTs get ``status`` with a plain-text body, as
    Ray Serve's proxy answers when a replica dies mid-request; with ``bug`` set, the app itself raises on every
    POST (its own error handler answers 500 in its JSON error shape). Counts what it failed and passed on."""

    app: ASGIApp
    fail: int = 0
    status: int = 500
    bug: bool = False
    failed: int = 0
    passed: int = 0

    def arm(self, fail: int = 0, status: int = 500, bug: bool = False) -> None:
        self.fail, self.status, self.bug, self.failed, self.passed = fail, status, bug, 0, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            if self.failed < self.fail:
                self.failed += 1
                await PlainTextResponse("Internal Server Error", status_code=self.status)(scope, receive, send)
                return
            self.passed += 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def flaky(engine: SemanticHighlighter) -> Iterator[tuple[str, FlakyProxy]]:
    app = create_app(engine)
    proxy = FlakyProxy(app)

    @app.middleware("http")
    async def bug(request: Request, call_next: Any) -> Response:
        if proxy.bug and request.method == "POST":
            raise RuntimeError("a bug that this request hits every time")
        response: Response = await call_next(request)
        return response

    with BackgroundServer(proxy) as u:
        yield u, proxy


@pytest.mark.parametrize("status", [500, 502, 504])
def test_remote_highlighter_retries_a_proxys_5xx(
    flaky: tuple[str, FlakyProxy], engine: SemanticHighlighter, status: int
) -> None:
    url, proxy = flaky
    remote = RemoteHighlighter(url, max_retries=2, backoff=0.01)
    proxy.arm(fail=1, status=status)
    assert remote.highlight(QUERY, DOCS[1]) == engine.highlight(QUERY, DOCS[1])
    assert (proxy.failed, proxy.passed) == (1, 1)
    proxy.arm(fail=2, status=status)  # the async path, up to the limit: 2 failures, then the answer
    pairs = [(QUERY, DOCS[:2]), ("水", [DOCS[2]])]
    assert asyncio.run(remote.ahighlight_batch(pairs)) == engine.highlight_batch(pairs)
    assert (proxy.failed, proxy.passed) == (2, 1)
    remote.close()


def test_remote_highlighter_gives_up_after_max_retries(flaky: tuple[str, FlakyProxy]) -> None:
    url, proxy = flaky
    proxy.arm(fail=10, status=502)
    with pytest.raises(RemoteHighlightError) as info:
        RemoteHighlighter(url, max_retries=2, backoff=0.01).highlight(QUERY, DOCS[1])
    assert (info.value.status, info.value.type, info.value.message) == (502, "http_error", "Internal Server Error")
    assert (proxy.failed, proxy.passed) == (3, 0)
    proxy.arm(fail=1, status=500)
    with pytest.raises(RemoteHighlightError):  # max_retries=0: one attempt
        RemoteHighlighter(url, max_retries=0).highlight(QUERY, DOCS[1])
    assert (proxy.failed, proxy.passed) == (1, 0)


def test_remote_highlighter_does_not_retry_the_servers_own_500(flaky: tuple[str, FlakyProxy]) -> None:
    """A 500 in the server's JSON error shape is the app's answer to this request (a bug it would hit again)."""
    url, proxy = flaky
    proxy.arm(bug=True)
    remote = RemoteHighlighter(url, max_retries=3, backoff=0.01)
    with pytest.raises(RemoteHighlightError) as info:
        remote.highlight(QUERY, DOCS[1])
    assert (info.value.status, info.value.type) == (500, "internal_error")
    with pytest.raises(RemoteHighlightError) as info:
        asyncio.run(remote.ahighlight(QUERY, DOCS[1]))
    assert (info.value.status, info.value.type) == (500, "internal_error")
    assert (proxy.failed, proxy.passed) == (0, 2)  # one attempt each
    proxy.arm()
