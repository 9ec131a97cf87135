"""``results.html`` of ``semantic-highlight eval``: opened in a real headless Chromium (Debian's ``chromium`` through
Playwright, as in test_serve_page.py), its metrics table, sweep curves and gold/predicted marks are the ones the
evaluation produced; nothing is loaded from elsewhere and every text is escaped. Also how cases are sampled."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, require_shared
from semantic_highlight.datasets.types import Example
from semantic_highlight.eval.samples import CASES_PER_DATASET, MAX_CASE_CHARS, merge_cases, pick_cases

ROWS: list[dict[str, Any]] = [
    {"query": "capital of France", "sentences": ["Paris is the capital of France. ", "It rains."], "relevant": [0]},
    {"query": "what barks", "sentences": ["Cats sleep. ", "Dogs <b>bark</b> & howl. ", "Birds."], "relevant": [1]},
    {"query": "长城在哪里", "sentences": ["长城很长。", "它位于中国北方。"], "relevant": [1]},
    {"query": "quantum <script>alert(1)</script>", "sentences": ["Nothing to see. ", "Still nothing."], "relevant": []},
    {"query": "boiling point of water", "sentences": ["Water boils at 100 C. ", "Ice melts at 0 C."], "relevant": [0]},
]  # fmt: skip


def _chromium() -> str | None:
    path = os.environ.get("SEMANTIC_HIGHLIGHT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if Path(path).is_file() else None


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    """A Chromium page; skipped without Debian's chromium or Playwright, except in CI, where it fails."""
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        executable = None
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and playwright are required in CI (apt-get install chromium)")
        pytest.skip("Debian's chromium or playwright (python) is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser.new_page(viewport={"width": 1200, "height": 900})
        browser.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``eval --sweep --out`` of the tiny fixture model and the keyword baseline on :data:`ROWS`."""
    require_shared(FIXTURES / "op-tiny-xlmr")
    from semantic_highlight.eval.cli import main

    tmp = tmp_path_factory.mktemp("html")
    data = tmp / "tiny.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS), encoding="utf-8")
    argv = ["-m", str(FIXTURES / "op-tiny-xlmr"), "-m", "keyword", "-d", str(data), "--sweep", "--out", str(tmp)]
    assert main([*argv, "--no-progress", "-q"]) == 0
    return tmp


def test_eval_writes_a_self_contained_html_report(report: Path, page: Any) -> None:
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    text = (report / "results.html").read_text(encoding="utf-8")
    assert re.search(r"https?://", text) is None  # no CDN, no external file: one self-contained page
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((report / "results.html").as_uri())
    assert requests == [(report / "results.html").as_uri()]

    # the metrics table: one row per model x dataset, with the F1 of results.json
    table = page.evaluate(
        """() => [...document.querySelectorAll("#metrics tbody tr")].map(tr =>
             [tr.dataset.dataset, tr.dataset.model, ...[...tr.cells].map(td => td.textContent)])"""
    )
    head = page.evaluate("""() => [...document.querySelectorAll("#metrics thead th")].map(th => th.textContent)""")
    f1 = head.index("F1") + 2
    assert [(r[0], r[1], r[f1]) for r in table] == [
        ("tiny", row["model"], f"{row['f1']:.3f}") for row in results["rows"]
    ]
    # the curves: decoded inline images
    widths = page.evaluate(
        """() => ["#sweep-curves img", "#savings-curves img"].map(s => document.querySelector(s).naturalWidth)"""
    )
    assert all(w > 300 for w in widths), widths

    # gold and predicted marks, per case and model, are the sentences results.json says
    cases = results["cases"]
    assert len(cases) == len(ROWS) <= CASES_PER_DATASET  # a small dataset is shown whole
    shown = page.evaluate(
        """() => [...document.querySelectorAll("article.case")].map(a => ({
             id: a.dataset.id,
             query: a.querySelector(".query").textContent,
             gold: [...a.querySelectorAll(".gold-col mark.gold")].map(m => m.textContent),
             models: Object.fromEntries([...a.querySelectorAll(".pred-col")].map(c => [c.dataset.model, {
               tp: [...c.querySelectorAll("mark.tp")].map(m => m.textContent),
               fp: [...c.querySelectorAll("mark.fp")].map(m => m.textContent),
               miss: [...c.querySelectorAll("span.miss")].map(m => m.textContent)}]))}))"""
    )
    assert [s["id"] for s in shown] == [c["id"] for c in cases]
    for case, got in zip(cases, shown, strict=True):
        sents, gold = case["sentences"], case["gold"]
        assert got["query"] == "Query: " + case["query"]
        assert got["gold"] == [s.rstrip() for s, g in zip(sents, gold, strict=True) if g]
        assert set(got["models"]) == {"op-tiny-xlmr", "keyword"}
        for model, marks in got["models"].items():
            sel = case["predictions"][model]["selected"]
            assert marks["tp"] == [s.rstrip() for s, g, p in zip(sents, gold, sel, strict=True) if g and p]
            assert marks["fp"] == [s.rstrip() for s, g, p in zip(sents, gold, sel, strict=True) if p and not g]
            assert marks["miss"] == [s.rstrip() for s, g, p in zip(sents, gold, sel, strict=True) if g and not p]
    # with every example sampled, the cases' selections add up to the metrics
    for row in results["rows"]:
        sel = [c["predictions"][row["model"]]["selected"] for c in cases]
        tp = sum(g and p for c, s in zip(cases, sel, strict=True) for g, p in zip(c["gold"], s, strict=True))
        assert tp == row["tp"]
    # "Dogs <b>bark</b> & howl." is shown as the text it is, and the query's <script> stays text
    assert "Dogs <b>bark</b> & howl." in shown[[c["query"] for c in cases].index("what barks")]["gold"]
    assert page.evaluate("""() => [document.querySelectorAll("script, b").length, document.title]""") == [
        0,
        "semantic-highlight evaluation",
    ]


def test_pick_cases_puts_misses_then_false_marks_first() -> None:
    gold = [[True, False], [False, False], [True, False], [False, True], [False, False], [True, True]]
    pred = [[True, False], [True, False], [False, False], [False, True], [False, False], [True, False]]
    # missed: 2, 5; wrong mark only: 1; correct: 0, 3, 4
    assert pick_cases(gold, pred, 3) == [2, 1, 0]
    assert pick_cases(gold, pred, 6) == [2, 5, 1, 0, 3, 4]  # a short group leaves its share to the others
    assert pick_cases(gold, pred, 100) == [2, 5, 1, 0, 3, 4]
    assert pick_cases(gold, pred, 0) == []
    long = [10, 10, MAX_CASE_CHARS + 1, 10, 10, 10]
    assert pick_cases(gold, pred, 3, long) == [5, 1, 0]  # a long example only when no short one is left
    assert pick_cases(gold, pred, 6, long) == [2, 5, 1, 0, 3, 4]
    assert pick_cases([[True]], [[False]], 3, [MAX_CASE_CHARS + 1]) == [0]


def test_appended_runs_merge_their_cases() -> None:
    from semantic_highlight.eval.runner import EvalDataset, evaluate

    examples = [
        Example(f"e{i}", r["query"], tuple(r["sentences"]), frozenset(r["relevant"]), lang="en")
        for i, r in enumerate(ROWS)
    ]
    first = evaluate(["keyword"], [EvalDataset("tiny", examples, "en")])
    again = evaluate(["keyword"], [EvalDataset("tiny", examples, "en")])
    again.cases[0].predictions = {"other": again.cases[0].predictions["keyword"]}
    merged = first.merge(again)
    assert set(merged.cases[0].predictions) == {"keyword", "other"}  # the older run's model kept on the same case
    assert merge_cases(first.cases, []) == first.cases  # datasets the newer run did not sample stay
