"""The web page at ``/`` in a real headless Chromium: type a query and passages, submit, and the sentences the page
marks are exactly the ones ``POST /v1/highlight`` selects (same offsets, same scores); errors are shown readably.

Needs Debian's ``chromium`` (Playwright drives it; Playwright's own browser download is not used). Outside CI a
missing browser skips these tests; in CI (``CI`` set) it fails them. Screenshots go to ``build/test-artifacts/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, default_model_available, integration_highlighter, mixed_threshold

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

ARTIFACTS = ROOT / "build" / "test-artifacts"
KEY = "page-test-key"
QUERY = "Who wrote the film?"
PASSAGES = [
    "The film was directed by A, with a screenplay by A and B. It stars C and D. It was released in 1999.",
    "这部电影由张三执导。剧本由李四和王五撰写。影片于1999年上映，票房很好。",
    "The screenplay was written by Li Si. 他还写过两部小说。The music is by E.",
]


def _required(ok: bool, why: str) -> None:
    """Skip when a browser prerequisite is missing, except in CI where the page must be tested."""
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{why} (required in CI: apt-get install chromium)")
        pytest.skip(why)


def _chromium() -> str | None:
    path = os.environ.get("SEMANTIC_HIGHLIGHT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if Path(path).is_file() else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    _required(executable is not None, "Debian's chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _required(False, "playwright (python) is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield b
        b.close()


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app on a free loopback port until ``/ready``; yields the page's URL (with its trailing slash)."""
    from semantic_highlight.serve.background import BackgroundServer

    with BackgroundServer(app) as url:
        yield url + "/"


@pytest.fixture(scope="module")
def tiny_server(xlmr: Any) -> Iterator[str]:
    """The tiny random fixture model behind an API key."""
    from semantic_highlight.serve import ServeSettings, create_app

    with serving(create_app(highlighter=xlmr, settings=ServeSettings(api_key=KEY))) as base:
        yield base


def _fill(page: Any, query: str, passages: list[str]) -> None:
    page.fill("#query", query)
    for i, text in enumerate(passages):
        if i:
            page.click("#add-passage")
        page.locator("#passages textarea").nth(i).fill(text)


def _api(base: str, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(base + "v1/highlight", json=body, headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def _page_marks(page: Any) -> list[list[tuple[int, int, str, float]]]:
    """Per result card: (start, end, text, score) of every marked sentence, read from the DOM."""
    return page.evaluate(
        """() => [...document.querySelectorAll("article.result")].map(card =>
             [...card.querySelectorAll("mark.hl")].map(m =>
               [Number(m.dataset.start), Number(m.dataset.end), m.textContent, Number(m.dataset.score)]))"""
    )


def _api_marks(data: dict[str, Any]) -> list[list[list[Any]]]:
    return [[[h["start"], h["end"], h["text"].rstrip(), h["score"]] for h in r["highlights"]] for r in data["results"]]


def _check_page_equals_api(page: Any, data: dict[str, Any]) -> None:
    assert page.locator("article.result").count() == len(data["results"])
    assert _page_marks(page) == _api_marks(data)
    pruned = page.evaluate(
        """() => [...document.querySelectorAll("article.result")].map(card => {
             const pre = card.querySelector(".pruned-text"); return pre ? pre.textContent : ""; })"""
    )
    assert pruned == [r["pruned_text"] for r in data["results"]]
    # The document text is shown whole: marks and unmarked sentences together read as the passage.
    shown = page.evaluate("""() => [...document.querySelectorAll("article.result .doc")].map(d => d.textContent)""")
    assert shown == [r["text"] for r in data["results"]]


def _screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("""() => document.querySelectorAll("details.scores").forEach(d => (d.open = true))""")
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_page_marks_what_the_api_selects(browser: Any, tiny_server: str, xlmr: Any) -> None:
    threshold = mixed_threshold(xlmr, QUERY, PASSAGES)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(tiny_server)
    _fill(page, QUERY, PASSAGES)
    page.click(".options summary")
    page.fill("#threshold", repr(threshold))
    page.fill("#api-key", KEY)
    page.click("#submit")
    page.wait_for_selector("article.result")

    data = _api(tiny_server, {"query": QUERY, "documents": PASSAGES, "threshold": threshold}, KEY)
    _check_page_equals_api(page, data)
    marks = _page_marks(page)
    assert any(marks), "the threshold selects something"
    assert sum(len(r["sentences"]) for r in data["results"]) > sum(map(len, marks)), "and leaves something out"
    assert "highlighted in 3 passages" in page.inner_text("#status")
    assert page.locator("#error").is_hidden()
    assert errors == []
    _screenshot(page, "serve_page_tiny.png")
    page.close()


def test_page_skips_blank_passages_and_keeps_numbering(browser: Any, tiny_server: str, xlmr: Any) -> None:
    page = browser.new_page()
    page.goto(tiny_server)
    _fill(page, QUERY, [PASSAGES[0], "  \n ", PASSAGES[2]])
    page.click(".options summary")
    page.fill("#api-key", KEY)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("article.result")
    assert page.locator("article.result h2").all_inner_texts() == ["Passage 1", "Passage 3"]
    _check_page_equals_api(page, _api(tiny_server, {"query": QUERY, "documents": [PASSAGES[0], PASSAGES[2]]}, KEY))
    page.close()


def test_page_shows_errors_readably(browser: Any, tiny_server: str) -> None:
    page = browser.new_page()
    page.goto(tiny_server)
    page.click("#submit")  # nothing typed: the browser's own "required" check keeps the form from being sent
    assert page.locator("#error").is_hidden()
    page.fill("#query", QUERY)
    page.click("#submit")
    assert "No passage" in page.inner_text("#error")

    _fill(page, QUERY, [PASSAGES[0]])
    page.click("#submit")  # no key: the server's 401, as text, and the key field opened for the user
    page.wait_for_selector("#error:not([hidden])")
    page.wait_for_function("""() => document.querySelector("#error").textContent.includes("401")""")
    message = page.inner_text("#error")
    assert "Error 401" in message and "API key" in message
    assert page.locator("#api-key").is_visible()
    assert page.locator("article.result").count() == 0

    page.fill("#api-key", "wrong")
    page.click("#submit")
    page.wait_for_function("""() => document.querySelector("#error").textContent.includes("invalid")""")
    page.fill("#api-key", KEY)
    page.click("#submit")
    page.wait_for_selector("article.result")
    assert page.locator("#error").is_hidden()
    page.close()


@pytest.mark.skipif(not default_model_available(), reason="the embedded default model is not shipped here")
def test_page_with_the_default_model(browser: Any) -> None:
    """The embedded model on the page's own bilingual examples: it finds the answer sentence in each passage."""
    from semantic_highlight.serve import ServeSettings, create_app

    with serving(create_app(highlighter=integration_highlighter(), settings=ServeSettings())) as base:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(base)
        for example, name in (("#example-zh", "serve_page_default_zh.png"), ("#example-en", "serve_page_default.png")):
            page.click(example)
            query = page.input_value("#query")
            passages = page.locator("#passages textarea").evaluate_all("areas => areas.map(a => a.value)")
            page.click("#submit")
            page.wait_for_function(
                "q => document.querySelector('#status').textContent.includes('highlighted')", arg=query
            )
            data = _api(base, {"query": query, "documents": passages})
            _check_page_equals_api(page, data)
            assert _page_marks(page)[0], "the example's first passage holds the answer"
            _screenshot(page, name)
            page.evaluate("() => document.querySelector('#status').textContent = ''")
        assert page.inner_text("#model") == data["model"]
        page.close()


def test_page_is_served_offline_with_its_assets(tiny_server: str) -> None:
    """``/`` and its CSS/JS come from the package (no CDN, no key needed); the page names only relative URLs."""
    page = httpx.get(tiny_server)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in ("static/style.css", "static/app.js"):
        assert f'"{asset}"' in page.text
        assert httpx.get(tiny_server + asset).status_code == 200
    for name in ("index.html", "app.js", "style.css"):
        text = (ROOT / "core" / "semantic_highlight" / "serve" / "static" / name).read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text


def test_docs_page_renders_with_the_network_cut_off(browser: Any, tiny_server: str) -> None:
    """``/docs`` (Swagger UI) shows one block per operation of ``/openapi.json`` while every request to another host
    is blocked, as on a server in a private network."""
    schema = httpx.get(tiny_server + "openapi.json").json()
    operations = sum(len(methods) for methods in schema["paths"].values())
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    outside: list[str] = []
    errors: list[str] = []

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(tiny_server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(tiny_server + "docs")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() == operations
    assert "/v1/highlight" in page.inner_text(".swagger-ui")
    assert outside == [] and errors == []
    page.close()
