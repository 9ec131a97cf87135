"""The highlight server (``semantic_highlight.serve``): routes, errors, limits, auth, readiness, metrics,
back-pressure (429/504), client disconnects, and RemoteHighlighter, against real uvicorn servers on
127.0.0.1 free ports with the tiny fixture model."""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import httpx
from conftest import FIXTURES
from semantic_highlight import HighlightResult, SemanticHighlighter
from semantic_highlight.serve import RemoteHighlighter, RemoteHighlightError, ServeSettings, create_app
from semantic_highlight.serve.background import BackgroundServer

TINY = str(FIXTURES / "op-tiny-xlmr")
EN = "The A15 chip scores over a million in benchmarks, and apps open with no lag. The case comes in blue."
ZH = "这款手机搭载A15芯片，跑分超过一百万，打开应用毫无卡顿。外壳有蓝色可选。"
PRESPLIT = ["The film was directed by A. ", "B wrote the screenplay.", " It stars C."]


@pytest.fixture(scope="module")
def engine(xlmr: SemanticHighlighter) -> SemanticHighlighter:
    """The session's tiny engine (conftest), served as is: its scheduler batches whatever is queued."""
    return xlmr


SLOW_WAIT_MS = 3000


@pytest.fixture(scope="module")
def slow() -> Iterator[SemanticHighlighter]:
    """An engine whose scheduler waits SLOW_WAIT_MS before a first batch (requests stay queued meanwhile); queue of
    one. The wait is long so that a second request reaches the full queue in time on a loaded machine too."""
    if not (FIXTURES / "op-tiny-xlmr").is_dir():
        pytest.skip("../shared/fixtures is not available")
    h = SemanticHighlighter(
        model=TINY, device="cpu", dtype="float32", max_batch_tokens=10**6, max_wait_ms=SLOW_WAIT_MS, max_queue=1
    )
    yield h
    h.close()


@pytest.fixture(scope="module")
def server(engine: SemanticHighlighter) -> Iterator[str]:
    with BackgroundServer(create_app(engine, ServeSettings(max_documents=8, max_chars=5000, max_items=3))) as url:
        yield url


def post(url: str, path: str, body: Any, **kw: Any) -> httpx.Response:
    return httpx.post(url + path, json=body, timeout=30, **kw)


def metric(url: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample of the server (0 when absent)."""
    text = httpx.get(url + "/metrics").text
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name and ",".join(sorted((m.group(2) or "").split(","))) == want:
            return float(m.group(3))
    return 0.0


def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- settings -----------------------------------------------------------------------------------------


def test_settings_from_env_then_overrides() -> None:
    env = {
        "SEMANTIC_HIGHLIGHT_MAX_WAIT_MS": "7.5",
        "SEMANTIC_HIGHLIGHT_PORT": "9001",
        "SEMANTIC_HIGHLIGHT_CORS_ORIGINS": "http://a.example, http://b.example",
        "SEMANTIC_HIGHLIGHT_ALLOW_UNAUTHENTICATED": "yes",
        "SEMANTIC_HIGHLIGHT_MAX_BATCH_REQUESTS": "none",
        "SEMANTIC_HIGHLIGHT_API_KEY": "ignored: the key is only read through api_key_env",
    }
    s = ServeSettings.from_env(env, port=9002)
    assert (s.max_wait_ms, s.port, s.allow_unauthenticated, s.max_batch_requests) == (7.5, 9002, True, None)
    assert s.cors_origins == ("http://a.example", "http://b.example")
    assert s.api_key is None and "api_key=" not in repr(ServeSettings(api_key="secret")).replace("api_key_env", "")
    with pytest.raises(ValueError, match="SEMANTIC_HIGHLIGHT_PORT='x'"):
        ServeSettings.from_env({"SEMANTIC_HIGHLIGHT_PORT": "x"})
    with pytest.raises(ValueError, match="max_queue must be a positive integer"):
        ServeSettings(max_queue=0)


def test_settings_refuse_open_non_loopback_bind() -> None:
    ServeSettings(host="127.0.0.1").check_bind(None)
    ServeSettings(host="::1").check_bind(None)
    with pytest.raises(ValueError, match=r"refusing to listen on 0\.0\.0\.0 without an API key"):
        ServeSettings(host="0.0.0.0").check_bind(None)
    ServeSettings(host="0.0.0.0").check_bind("key")
    ServeSettings(host="0.0.0.0", allow_unauthenticated=True).check_bind(None)
    s = ServeSettings(api_key_env="SH_TEST_KEY")
    assert s.resolve_api_key({"SH_TEST_KEY": "k1"}) == "k1"
    with pytest.raises(ValueError, match="SH_TEST_KEY"):
        s.resolve_api_key({})


def test_cli_refuses_open_public_bind_and_bad_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from semantic_highlight.cli import main

    assert main(["serve", "--host", "0.0.0.0", "--model", TINY]) == 2
    monkeypatch.setenv("SEMANTIC_HIGHLIGHT_MAX_WAIT_MS", "soon")
    assert main(["serve", "--model", TINY]) == 2


# --- routes: results equal the in-process engine ----------------------------------------------------


def test_highlight_equals_in_process(server: str, engine: SemanticHighlighter) -> None:
    docs: list[Any] = [EN, ZH, PRESPLIT, "", "   "]
    r = post(server, "/v1/highlight", {"query": "iPhone performance", "documents": docs, "top_k": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == engine.model.name
    expected = engine.highlight("iPhone performance", docs, top_k=1)
    assert [HighlightResult.from_dict(d) for d in body["results"]] == expected
    assert body["results"] == [e.to_dict() for e in expected]


def test_highlight_batch_and_options(server: str, engine: SemanticHighlighter) -> None:
    items: list[dict[str, Any]] = [
        {"query": "Who wrote the film?", "documents": [PRESPLIT]},
        {"query": "手机性能", "documents": [ZH, EN]},
    ]
    options = {"threshold": 0.0, "relative_threshold": 0.9, "min_score": 0.1}
    r = post(server, "/v1/highlight/batch", {"items": items, **options})
    assert r.status_code == 200, r.text
    expected = engine.highlight_batch(
        [(i["query"], i["documents"]) for i in items], threshold=0.0, relative_threshold=0.9, min_score=0.1
    )
    got = [[HighlightResult.from_dict(d) for d in rs] for rs in r.json()["results"]]
    assert got == expected
    assert all(res.threshold == 0.0 and res.relative_threshold == 0.9 for rs in got for res in rs)


def test_lone_surrogates_round_trip(server: str, engine: SemanticHighlighter) -> None:
    body = json.dumps({"query": "q\ud800", "documents": ["a\udc00 b. Next one."]})  # ASCII escapes
    r = httpx.post(server + "/v1/highlight", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["results"][0] == engine.highlight("q\ud800", "a\udc00 b. Next one.").to_dict()


# --- rerank-compatible routes ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/rerank", "/v2/rerank"])
def test_cohere_shape(server: str, engine: SemanticHighlighter, path: str) -> None:
    docs = [EN, {"text": ZH, "id": "x"}, "The store opens at nine."]
    r = post(server, path, {"model": "anything", "query": "phone speed", "documents": docs, "top_n": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = engine.highlight("phone speed", [EN, ZH, "The store opens at nine."])
    ranking = sorted(range(3), key=lambda i: (-expected[i].ranking_score, i))  # type: ignore[operator]
    assert [x["index"] for x in body["results"]] == ranking[:2]
    for x in body["results"]:
        e = expected[x["index"]]
        assert x["relevance_score"] == e.ranking_score
        assert "document" not in x
        assert x["highlights"] == [
            {"start": s.start, "end": s.end, "text": s.text, "score": s.score} for s in e.highlights
        ]
    assert body["meta"]["relevance_score_source"] == "ranking_head"
    assert body["meta"]["api_version"]["version"] == path[2]
    r = post(server, path, {"query": "phone speed", "documents": docs, "return_documents": True})
    assert [x["document"]["text"] for x in r.json()["results"]] == [expected[i].text for i in ranking]


def test_tei_shape(server: str, engine: SemanticHighlighter) -> None:
    texts = [EN, ZH, "The store opens at nine."]
    r = post(server, "/rerank", {"query": "phone speed", "texts": texts, "return_text": True, "truncate": True})
    assert r.status_code == 200, r.text
    expected = engine.highlight("phone speed", texts)
    ranks = r.json()
    assert [x["score"] for x in ranks] == sorted((e.ranking_score or 0.0 for e in expected), reverse=True)
    assert all(x["text"] == texts[x["index"]] for x in ranks)
    raw = post(server, "/rerank", {"query": "phone speed", "texts": texts, "raw_scores": True}).json()
    for x in raw:
        p = expected[x["index"]].ranking_score
        assert p is not None and x["score"] == pytest.approx(math.log(p / (1 - p)))
        assert "text" not in x


# --- errors ---------------------------------------------------------------------------------------------

BAD_REQUESTS = [
    # (path, raw body or JSON, status, error type, param)
    ("/v1/highlight", b"{not json", 400, "invalid_json", None),
    ("/v1/highlight", b"[1, 2]", 400, "invalid_body", None),
    ("/v1/highlight", b"", 400, "invalid_body", None),
    ("/v1/highlight", {"documents": ["a"]}, 422, "invalid_request", "query"),
    ("/v1/highlight", {"query": 3, "documents": ["a"]}, 422, "invalid_request", "query"),
    ("/v1/highlight", {"query": "q", "documents": ["a", ["b", 5]]}, 422, "invalid_request", "documents[1][1]"),
    ("/v1/highlight", {"query": "q", "documents": "a"}, 422, "invalid_request", "documents"),
    ("/v1/highlight", {"query": "q", "documents": ["a"], "treshold": 0.3}, 422, "invalid_request", "treshold"),
    ("/v1/highlight", {"query": "q", "documents": ["a"], "top_k": -1}, 422, "invalid_request", "top_k"),
    ("/v1/highlight", {"query": "q", "documents": ["a"], "top_k": True}, 422, "invalid_request", "top_k"),
    ("/v1/highlight", {"query": "q", "documents": ["a"], "threshold": "0.5"}, 422, "invalid_request", "threshold"),
    ("/v1/highlight", {"query": "q", "documents": ["a"], "relative_threshold": 0}, 422, "invalid_request",
     "relative_threshold"),
    ("/v1/highlight", {"query": "  ", "documents": ["a"]}, 422, "invalid_request", "query"),
    ("/v1/highlight", {"query": "q", "documents": ["a"] * 9}, 413, "too_many_documents", "documents"),
    ("/v1/highlight", {"query": "q", "documents": ["a" * 5001]}, 413, "too_many_characters", "documents"),
    ("/v1/highlight/batch", {"items": [{"query": "q", "documents": []}] * 4}, 413, "too_many_items", "items"),
    ("/v1/highlight/batch", {"items": [{"query": "q"}]}, 422, "invalid_request", "items[0].documents"),
    ("/v2/rerank", {"query": "q", "documents": [{"title": "no text"}]}, 422, "invalid_request", "documents[0].text"),
    ("/v2/rerank", {"query": "q", "documents": ["a"], "top_n": 0}, 422, "invalid_request", "top_n"),
    ("/rerank", {"query": "q", "texts": "a"}, 422, "invalid_request", "texts"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "status", "kind", "param"), BAD_REQUESTS)
def test_bad_input_is_a_json_error_naming_the_field(
    server: str, path: str, body: Any, status: int, kind: str, param: str | None
) -> None:
    if isinstance(body, bytes):
        r = httpx.post(server + path, content=body, headers={"content-type": "application/json"})
    else:
        r = post(server, path, body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert (error["type"], error["param"]) == (kind, param), error
    assert error["message"]


def test_body_limits_and_unknown_routes(engine: SemanticHighlighter) -> None:
    app = create_app(engine, ServeSettings(max_body_bytes=1000))
    with BackgroundServer(app) as url:
        big = {"query": "q", "documents": ["x" * 2000]}
        r = post(url, "/v1/highlight", big)  # Content-Length over the limit
        assert (r.status_code, r.json()["error"]["type"]) == (413, "payload_too_large")
        chunks = iter([json.dumps(big).encode()[:600], json.dumps(big).encode()[600:]])  # chunked, no length
        r = httpx.post(url + "/v1/highlight", content=chunks, headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["error"]["type"]) == (413, "payload_too_large")
        assert httpx.get(url + "/nowhere").json()["error"]["type"] == "not_found"
        assert httpx.get(url + "/v1/highlight").status_code == 405
        r = httpx.post(url + "/v1/highlight", data={"query": "q"})  # a form: not JSON
        assert r.status_code == 400 and "JSON object" in r.json()["error"]["message"]


# --- auth, CORS, service routes ------------------------------------------------------------------------


def test_api_key_and_open_service_routes(engine: SemanticHighlighter) -> None:
    app = create_app(engine, ServeSettings(api_key="s3cret"))
    with BackgroundServer(app) as url:
        body = {"query": "q", "documents": ["a b."]}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            r = post(url, "/v1/highlight", body, headers=headers)
            assert r.status_code == 401, headers
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.json()["error"]["type"] == "unauthorized"
        assert post(url, "/v1/highlight", body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert post(url, "/rerank", {"query": "q", "texts": ["a"]}).status_code == 401
        for path in ("/health", "/ready", "/metrics", "/openapi.json", "/docs"):
            assert httpx.get(url + path).status_code == 200, path
        with pytest.raises(RemoteHighlightError) as info:
            RemoteHighlighter(url, api_key="wrong", max_retries=0).highlight("q", "a")
        assert info.value.status == 401
        assert RemoteHighlighter(url, api_key="s3cret").highlight("q", "a b.") == engine.highlight("q", "a b.")


def test_cors_off_by_default_on_when_configured(server: str, engine: SemanticHighlighter) -> None:
    origin = {"Origin": "http://app.example"}
    assert "access-control-allow-origin" not in httpx.get(server + "/health", headers=origin).headers
    with BackgroundServer(create_app(engine, ServeSettings(cors_origins=("http://app.example",)))) as url:
        r = httpx.options(
            url + "/v1/highlight",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert r.headers["access-control-allow-origin"] == "http://app.example"
        assert (
            "access-control-allow-origin" not in httpx.get(url + "/health", headers={"Origin": "http://evil"}).headers
        )


def test_models_openapi_and_metrics(server: str, engine: SemanticHighlighter) -> None:
    card = httpx.get(server + "/v1/models").json()["data"][0]
    assert card["id"] == engine.model.name and card["max_length"] == engine.model.max_length
    assert card["default_threshold"] == engine.threshold
    assert (card["relevance_score"], card["device"], card["dtype"]) == ("ranking_head", "cpu", "float32")
    schema = httpx.get(server + "/openapi.json").json()
    for path in ("/v1/highlight", "/v1/highlight/batch", "/v1/rerank", "/v2/rerank", "/rerank"):
        assert {"200", "401", "413", "422", "429", "504"} <= set(schema["paths"][path]["post"]["responses"])
    assert schema["components"]["schemas"]["HighlightRequest"]["examples"]
    assert post(server, "/v1/highlight", {"query": "q", "documents": [EN]}).status_code == 200
    assert metric(server, "semantic_highlight_requests_total", route="/v1/highlight", status="200") >= 1
    assert metric(server, "semantic_highlight_batch_requests_count") >= 1
    assert metric(server, "semantic_highlight_tokens_scored_total") > 0
    assert metric(server, "semantic_highlight_ready") == 1
    assert metric(server, "semantic_highlight_queue_depth") == 0


def test_docs_page_needs_nothing_from_another_host(server: str) -> None:
    """Swagger UI works offline: every script, stylesheet and icon ``/docs`` names is served by this server.
    ReDoc is off (its script fetches a logo from its vendor's CDN)."""
    page = httpx.get(server + "/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    origin = httpx.URL(server)
    for absolute in re.findall(r"https?://[^\s\"'<>]+", page.text):
        assert httpx.URL(absolute).netloc == origin.netloc, absolute
    assets = re.findall(r"<(?:script|link)\b[^>]*?\b(?:src|href)=[\"']([^\"']+)", page.text)
    assert any(a.endswith(".js") for a in assets) and len(assets) >= 2, assets
    for asset in assets:
        url = page.url.join(asset)
        assert url.netloc == origin.netloc, asset
        got = httpx.get(url)
        assert got.status_code == 200 and got.content, asset
    assert httpx.get(server + "/redoc").status_code == 404


WAIT = "semantic_highlight_queue_wait_seconds"


def test_queue_wait_is_observed_once_per_queued_request(server: str) -> None:
    before = metric(server, WAIT + "_count")
    blank = post(server, "/v1/highlight", {"query": "q", "documents": ["", "   "]})  # nothing to score: not queued
    assert blank.status_code == 200 and blank.json()["results"][1]["sentences"] == []
    assert post(server, "/v1/highlight", {"query": "q", "documents": [EN, ZH, PRESPLIT]}).status_code == 200
    items = [{"query": "q", "documents": [EN]}, {"query": "手机", "documents": [ZH, EN]}]
    assert post(server, "/v1/highlight/batch", {"items": items}).status_code == 200  # one job for every item
    assert post(server, "/rerank", {"query": "q", "texts": [EN, ZH]}).status_code == 200
    # Batch listeners run just after a job's result is set, so the last observation may trail its answer.
    wait_until(lambda: metric(server, WAIT + "_count") == before + 3)
    assert metric(server, WAIT + "_sum") >= 0
    assert metric(server, WAIT + "_bucket", le="+Inf") == before + 3


# --- readiness, back-pressure, deadlines, disconnects -------------------------------------------------


def test_ready_is_503_until_loaded_and_after_a_failed_load() -> None:
    failures: list[BaseException] = []
    app = create_app(settings=ServeSettings(model="/nonexistent/model"), on_load_error=failures.append)
    with BackgroundServer(app, wait_ready=False) as url:
        wait_until(lambda: bool(failures))
        r = httpx.get(url + "/ready")
        assert r.status_code == 503 and "failed to load" in r.json()["error"]["message"]
        assert httpx.get(url + "/health").status_code == 200
        r = post(url, "/v1/highlight", {"query": "q", "documents": ["a"]})
        assert (r.status_code, r.headers["retry-after"]) == (503, "1")
        with pytest.raises(RemoteHighlightError) as info:  # 503 is retried, then reported
            RemoteHighlighter(url, max_retries=1, backoff=0.01).highlight("q", "a")
        assert (info.value.status, info.value.type) == (503, "not_ready")


def test_full_queue_is_429_with_retry_after(slow: SemanticHighlighter) -> None:
    with BackgroundServer(create_app(slow)) as url:
        first: dict[str, httpx.Response] = {}
        t = threading.Thread(
            target=lambda: first.update(r=post(url, "/v1/highlight", {"query": "q", "documents": ["a"]}))
        )
        t.start()
        wait_until(lambda: metric(url, "semantic_highlight_queue_depth") == 1)
        r = post(url, "/v1/highlight", {"query": "q", "documents": ["b"]})
        assert (r.status_code, r.headers["retry-after"], r.json()["error"]["type"]) == (429, "1", "queue_full")
        t.join()
        assert first["r"].status_code == 200
        # Queued: the warm-up and the first request, each held max_wait_ms before its batch; not the 429.
        wait_until(lambda: metric(url, WAIT + "_count") == 2)
        assert metric(url, WAIT + "_bucket", le="1.0") == 0
        assert metric(url, WAIT + "_sum") >= 2 * SLOW_WAIT_MS / 1000


def test_deadline_is_504(slow: SemanticHighlighter) -> None:
    with BackgroundServer(create_app(slow, ServeSettings(request_timeout_s=0.2))) as url:
        r = post(url, "/v1/highlight", {"query": "q", "documents": ["a"]})
        assert (r.status_code, r.json()["error"]["type"]) == (504, "deadline_exceeded")
        assert metric(url, "semantic_highlight_requests_dropped_total", reason="deadline") == 1
        assert metric(url, WAIT + "_count") == 1  # the warm-up only: the late request never started


def test_client_gone_before_its_batch_is_dropped_and_server_stays_healthy(slow: SemanticHighlighter) -> None:
    with BackgroundServer(create_app(slow)) as url:
        with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes the connection
            httpx.post(url + "/v1/highlight", json={"query": "q", "documents": ["a"]}, timeout=0.3)
        wait_until(lambda: metric(url, "semantic_highlight_requests_dropped_total", reason="client_disconnected") == 1)
        assert metric(url, "semantic_highlight_queue_depth") == 0
        assert post(url, "/v1/highlight", {"query": "q", "documents": ["a"]}).status_code == 200
        assert metric(url, "semantic_highlight_requests_total", route="/v1/highlight", status="499") == 1


def test_app_loads_its_model_client_retries_until_ready_and_requests_share_batches(engine: SemanticHighlighter) -> None:
    app = create_app(settings=ServeSettings(model=TINY, device="cpu", dtype="float32", max_wait_ms=300))
    server = BackgroundServer(app, wait_ready=False)
    url = server.start()
    docs: list[list[Any]] = [[EN, ZH], [PRESPLIT], [ZH + EN], ["Short one."], [EN * 3], [ZH * 2, "x"]]
    try:
        client = RemoteHighlighter(url, max_retries=60)  # 503 + Retry-After: 1 while the model loads
        first = client.highlight("q", ["a b. c d."])
        assert httpx.get(url + "/ready").status_code == 200
        assert first == engine.highlight("q", ["a b. c d."])
        before = metric(url, "semantic_highlight_batch_requests_count")

        async def all_at_once() -> list[Any]:
            return list(await asyncio.gather(*(client.ahighlight("phone speed", d) for d in docs)))

        results = asyncio.run(all_at_once())
        jobs = metric(url, "semantic_highlight_batch_requests_sum") - 2  # the warm-up and the first call
        batches = metric(url, "semantic_highlight_batch_requests_count") - before
    finally:
        server.stop()
    assert jobs / batches > 1, "concurrent requests did not share a batch"
    for got, d in zip(results, docs, strict=True):
        want = engine.highlight("phone speed", d)
        for g, w in zip(got, want, strict=True):
            assert [s.selected for s in g.sentences] == [s.selected for s in w.sentences]
            assert [s.score for s in g.sentences] == pytest.approx([s.score for s in w.sentences], abs=1e-5)


# --- RemoteHighlighter -----------------------------------------------------------------------------------


def test_remote_highlighter_matches_engine(server: str, engine: SemanticHighlighter) -> None:
    remote = RemoteHighlighter(server + "/")
    assert remote.highlight("iPhone performance", EN) == engine.highlight("iPhone performance", EN)
    assert remote.highlight("q", (EN, tuple(PRESPLIT)), top_k=1) == engine.highlight("q", [EN, PRESPLIT], top_k=1)
    pairs = [("iPhone performance", [EN]), ("手机", ZH)]
    assert remote.highlight_batch(pairs, min_score=0.2) == engine.highlight_batch(pairs, min_score=0.2)
    assert asyncio.run(remote.ahighlight("q", EN)) == engine.highlight("q", EN)
    assert asyncio.run(remote.ahighlight_batch(pairs)) == engine.highlight_batch(pairs)
    calls: list[tuple[int, int]] = []
    remote.highlight("q", [EN], on_batch=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 1)]
    assert remote.threshold == engine.threshold
    remote.close()


def test_remote_highlighter_errors(server: str) -> None:
    remote = RemoteHighlighter(server, max_retries=0)
    with pytest.raises(TypeError, match=r"documents\[1\]\[0\] must be a str"):  # checked before sending, as in-process
        remote.highlight("q", ["a", [3]])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="relative_threshold"):
        remote.highlight("q", "a", relative_threshold=2)
    with pytest.raises(RemoteHighlightError) as info:  # the server's own check
        remote.highlight("   ", "a")
    assert (info.value.status, info.value.param) == (422, "query")
    with pytest.raises(RemoteHighlightError) as info:
        remote.highlight("q", ["a"] * 9)
    assert (info.value.status, info.value.type) == (413, "too_many_documents")
    closed = RemoteHighlighter(f"http://127.0.0.1:{free_port()}", max_retries=2, backoff=0.01)
    with pytest.raises(httpx.ConnectError):
        closed.highlight("q", "a")
    with pytest.raises(ValueError, match="base_url"):
        RemoteHighlighter("localhost:8000")
