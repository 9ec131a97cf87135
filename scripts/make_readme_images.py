"""Draw the README's pictures into ``docs/img/`` (small PNGs), so they are regenerated rather than hand-made.

- ``highlight.png``: English and Chinese passages highlighted by the model (``HighlightResult.to_html``, its score
  shown beside each mark), next to what keyword highlighting marks, screenshotted with headless Chromium
  (Debian's ``chromium`` through Playwright; CJK text needs a CJK font such as fonts-wqy-zenhei).
- ``f1_threshold.png``: micro F1 against threshold of the main model and the keyword and embedding baselines,
  one panel per dataset, from the ``results.json`` that ``semantic-highlight eval --sweep`` writes.
- ``tokens_recall.png``: share of gold sentences kept against share of context tokens kept along the same sweeps
  (the token-savings report), one panel per model.

Several ``--eval-json`` files are merged in order (a later run wins on the same dataset and model), e.g. a
baselines run and the model's run. A baseline missing from them (the embedding one needs a converted e5 encoder)
is left out of the pictures and named on stdout.

    python scripts/make_readme_images.py --eval-json eval_out/baselines/results.json \
        --eval-json eval_out/model/results.json
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from semantic_highlight.eval.figures import savings_figure, sweep_figure
from semantic_highlight.eval.runner import ResultTable

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ("keyword", "embedding")
EXAMPLES = [
    ("iPhone performance", "The A15 chip scores over a million in benchmarks, and apps open with no lag. "
     "The case comes in blue. It ships with a USB-C cable."),
    ("Who wrote the film?", "The film was directed by Ann Lee, with a screenplay by Ann Lee and Bo Park. "
     "It stars Cy Dunn and Di Moss. It was released in 1999."),
    ("这款手机续航怎么样？", "电池容量为5000毫安时，重度使用一整天后还剩三成电量。"
     "屏幕是6.7英寸的OLED。机身有黑、白两种颜色。"),
    ("谁写了这部电影的剧本？", "这部电影由张三执导。剧本由李四和王五撰写。影片于1999年上映，票房很好。"),
]  # fmt: skip
"""(query, passage): paraphrased questions keyword matching misses, and ones it half-gets, in both languages."""

_PAGE_CSS = """
body { margin: 0; background: #fff; color: #1f2328; font: 15px/1.5 "DejaVu Sans", "WenQuanYi Zen Hei", sans-serif; }
#card { width: 860px; padding: 10px 14px; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; font-size: 13px; color: #57606a; padding: 2px 8px; }
td { vertical-align: top; padding: 6px 8px; border-top: 1px solid #d8dee4; width: 50%; }
.q { font-weight: 600; font-size: 14px; padding-bottom: 0; border-top: 1px solid #d8dee4; }
.q + tr td { border-top: none; padding-top: 2px; }
mark { background: #ffe066; border-radius: 2px; padding: 0 1px; }
mark[title]::after { content: " " attr(title); font-size: 10px; color: #8a6d00; vertical-align: super; }
.kw mark { background: #d0e4ff; }
"""


def find_chromium() -> str | None:
    """``$SEMANTIC_HIGHLIGHT_CHROMIUM``, else ``chromium`` on PATH, else ``/usr/bin/chromium`` (None if absent)."""
    path = os.environ.get("SEMANTIC_HIGHLIGHT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if Path(path).is_file() else None


def load_tables(paths: Sequence[str | os.PathLike[str]]) -> ResultTable:
    """The ``results.json`` files merged in order (a later one wins on the same dataset and model)."""
    tables = [ResultTable.from_dict(json.loads(Path(p).read_text(encoding="utf-8"))) for p in paths]
    if not tables:
        raise ValueError("no --eval-json given")
    limits = {t.meta.get("limit") for t in tables}
    if len(limits) > 1:
        print(
            f"note: the eval runs differ in --limit ({sorted(map(str, limits))}); curves are not on the same examples"
        )
    merged = tables[0]
    for t in tables[1:]:
        merged = merged.merge(t)
    return merged


def pick_models(table: ResultTable, main: str | None) -> list[str]:
    """The main model (``main``, else the first model with curves that is no baseline) then the baselines
    present; a missing one is named on stdout. ``ValueError`` when there is no sweep curve to draw."""
    with_curves = list(dict.fromkeys(c.model for c in table.curves))
    if not with_curves:
        raise ValueError("the eval JSON has no sweep curves: run `semantic-highlight eval --sweep`")
    if main is None:
        main = next((m for m in with_curves if m not in BASELINES), None)
    elif main not in with_curves:
        raise ValueError(f"model {main!r} has no curves in the eval JSON (it has {', '.join(with_curves)})")
    models = [m for m in (main, *BASELINES) if m is not None and m in with_curves]
    missing = [b for b in BASELINES if b not in with_curves]
    if main is None:
        print("note: no model besides the baselines in the eval JSON; drawing the baselines only")
    if missing:
        print(f"note: not in the eval JSON, left out of the curves: {', '.join(missing)} baseline")
    return models


def _save(fig: Any, path: Path, dpi: int) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def draw_curves(
    table: ResultTable, out: Path, main: str | None = None, datasets: Sequence[str] | None = None
) -> list[Path]:
    """``f1_threshold.png`` and, when the JSON has the savings curves, ``tokens_recall.png`` under ``out``."""
    models = pick_models(table, main)
    names = list(datasets or dict.fromkeys(c.dataset for c in table.curves))
    absent = [b for b in BASELINES if b not in models]
    note = f"; {' and '.join(absent)} baseline not in this run" if absent else ""
    paths = []
    fig = sweep_figure(
        table, names, models, cols=4, panel=(3.3, 2.6), annotate=False,
        title=f"micro F1 vs threshold (● best, × operating threshold{note})",
    )  # fmt: skip
    if fig is not None:
        paths.append(_save(fig, out / "f1_threshold.png", 80))
    fig = savings_figure(
        table, models, names, panel=(3.6, 3.2), title="context tokens kept vs gold sentences kept (● operating point)"
    )
    if fig is not None:
        paths.append(_save(fig, out / "tokens_recall.png", 100))
    else:
        print(
            "note: the eval JSON has no token-savings curves (written before the savings report); no tokens_recall.png"
        )
    return paths


def _keyword_html(query: str, result: Any) -> str:
    """The passage with the sentences keyword matching selects marked (same sentences as the model's result)."""
    from semantic_highlight.datasets.types import Example
    from semantic_highlight.eval.baselines import KeywordBaseline
    from semantic_highlight.results import marked_html

    text, starts = result.text, [s.start for s in result.sentences]
    bounds = [*starts[1:], len(text)]
    sentences = tuple(text[a:b] for a, b in zip(starts, bounds, strict=True))
    keyword = KeywordBaseline()
    (scores,) = keyword.score([Example("x", query, sentences, frozenset())])
    spans = [(a, b, s) for a, b, s in zip(starts, bounds, scores, strict=True) if s > keyword.threshold]
    return marked_html(text, spans)


def highlight_page(highlighter: Any, examples: Sequence[tuple[str, str]] = EXAMPLES) -> str:
    """An HTML page: per example, the query, then keyword highlighting beside the model's ``to_html``."""
    rows = []
    for query, passage in examples:
        (result,) = highlighter.highlight(query, [passage])
        rows.append(f'<tr class="q"><td colspan="2">{html.escape(query)}</td></tr>')
        rows.append(
            f'<tr><td class="kw">{_keyword_html(query, result)}</td><td>{result.to_html(show_scores=True)}</td></tr>'
        )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>{_PAGE_CSS}</style></head><body><div id="card">'
        "<table><tr><th>keyword highlighting (query words)</th><th>semantic-highlight (by meaning; sentence score)</th>"
        f"</tr>{''.join(rows)}</table></div></body></html>"
    )


def draw_highlight(highlighter: Any, out: Path, chromium: str | None = None) -> Path:
    """``highlight.png``: :func:`highlight_page` screenshotted with headless Chromium."""
    from playwright.sync_api import sync_playwright

    executable = chromium or find_chromium()
    if executable is None:
        raise FileNotFoundError(
            "no chromium to screenshot with (apt-get install chromium, or set SEMANTIC_HIGHLIGHT_CHROMIUM)"
        )
    out.mkdir(parents=True, exist_ok=True)
    path = out / "highlight.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 900, "height": 400})
            page.set_content(highlight_page(highlighter))
            page.locator("#card").screenshot(path=str(path))
        finally:
            browser.close()
    return path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eval-json", action="append", default=[], metavar="PATH",
                   help="results.json of `semantic-highlight eval --sweep`; repeatable, merged in order")  # fmt: skip
    p.add_argument("--out", default=str(ROOT / "docs" / "img"), help="folder for the PNGs (default: docs/img)")
    p.add_argument("--model", default=None, help="checkpoint for highlight.png (default: the embedded default model)")
    p.add_argument("--threshold", type=float, default=None, help="highlight.png: threshold (default: the model's)")
    p.add_argument(
        "--main-model", default=None, help="model name in the eval JSON to draw (default: the first non-baseline)"
    )
    p.add_argument("--datasets", nargs="+", default=None, help="datasets to draw (default: all in the eval JSON)")
    p.add_argument("--no-highlight", action="store_true", help="skip highlight.png (no model, no browser)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    written: list[Path] = []
    try:
        if args.eval_json:
            written += draw_curves(load_tables(args.eval_json), out, args.main_model, args.datasets)
        else:
            print("note: no --eval-json; the curves are not drawn")
        if not args.no_highlight:
            from semantic_highlight import SemanticHighlighter

            highlighter = SemanticHighlighter(model=args.model, device="cpu", threshold=args.threshold)
            written.append(draw_highlight(highlighter, out))
    except (OSError, ValueError) as exc:
        print(f"make_readme_images: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
