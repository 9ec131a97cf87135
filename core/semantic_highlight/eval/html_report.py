"""``results.html``: one self-contained page per evaluation, for a person to read where a model errs.

The metrics table, the sweep curves (base64 PNGs, when ``--sweep`` drew them) and, per dataset, the sampled
cases (:mod:`semantic_highlight.eval.samples`) with the gold sentences beside each model's selection: a missed gold
sentence and a wrongly marked one are styled apart. One file, nothing loaded from elsewhere (a Content Security
Policy forbids it), every text HTML-escaped.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from semantic_highlight.eval.report import _cells, _header
from semantic_highlight.eval.runner import ResultTable
from semantic_highlight.eval.samples import Case

__all__ = ["to_html", "write_html"]

_CSS = """
body { font: 14px/1.45 system-ui, "Noto Sans", "WenQuanYi Zen Hei", sans-serif; margin: 1.5em auto; max-width: 1280px;
       padding: 0 1em; color: #1f2328; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 2px 6px; text-align: right; }
th { background: #f6f8fa; }
td.text { text-align: left; }
figure { margin: 1em 0; }
figure img { max-width: 100%; }
pre { background: #f6f8fa; padding: 6px; white-space: pre-wrap; }
.case { border: 1px solid #d0d7de; border-radius: 6px; padding: 6px 10px; margin: 10px 0; }
.query { font-weight: 600; }
.cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 10px; }
.col h4 { margin: 4px 0; font-size: 13px; }
.passage { white-space: pre-wrap; font-size: 13px; }
mark.gold { background: #ffe08a; }
mark.tp { background: #a8e6a1; }
mark.fp { background: #ffb3b3; }
span.miss { text-decoration: underline wavy #d1242f; background: #fff1e0; }
.legend span, .legend mark { padding: 0 4px; }
.errors { color: #57606a; font-weight: normal; }
"""

_LEGEND = (
    '<p class="legend"><mark class="gold">gold sentence</mark> <mark class="tp">selected, gold</mark> '
    '<mark class="fp">selected, not gold</mark> <span class="miss">gold, missed</span> '
    "(hover a sentence for its score)</p>"
)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(table: ResultTable) -> str:
    sweep = bool(table.meta.get("sweep"))
    savings = any(r.savings for r in table.rows)
    head = [*_header(table), *(("tokens kept", "gold recall") if savings else ())]
    lines = ['<table id="metrics">', "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead>"]
    lines.append("<tbody>")
    for r in table.rows:
        cells = _cells(r, sweep)
        if savings:
            v = r.savings
            cells += [f"{v['tokens_kept']:.1%}", f"{v['gold_recall']:.3f}"] if v else ["", ""]
        tds = "".join(f'<td class="text">{_e(c)}</td>' if i in (0, 1, 3) else f"<td>{_e(c)}</td>"
                      for i, c in enumerate(cells))  # fmt: skip
        lines.append(f'<tr data-dataset="{_e(r.dataset)}" data-model="{_e(r.model)}">{tds}</tr>')
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)


def _figures(table: ResultTable) -> str:
    """The F1 and savings sweep curves as inline PNGs (empty without curves)."""
    if not table.curves:
        return ""
    from semantic_highlight.eval.figures import png_bytes, savings_figure, sweep_figure

    parts = ["<h2>Threshold sweeps</h2>"]
    for fig_id, fig, caption in (
        ("sweep-curves", sweep_figure(table), "Micro F1 against threshold: ● best point, × operating threshold."),
        (
            "savings-curves",
            savings_figure(table),
            "Share of gold sentences kept against the share of context tokens kept, along each threshold sweep.",
        ),
    ):
        if fig is None:
            continue
        data = base64.b64encode(png_bytes(fig)).decode("ascii")
        parts.append(
            f'<figure id="{fig_id}"><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    return "\n".join(parts)


def _sentence_title(score: Any) -> str:
    return "not scored" if score is None else f"score {score:.3f}"


def _passage(case: Case, model: str | None) -> str:
    """The case's sentences with gold marks (``model=None``) or ``model``'s selection against gold."""
    pred = case.predictions.get(model) if model is not None else None
    parts = []
    for k, sentence in enumerate(case.sentences):
        body = sentence.rstrip()
        tail = _e(sentence[len(body) :])
        gold = case.gold[k]
        if pred is None:
            parts.append(f'<mark class="gold">{_e(body)}</mark>{tail}' if gold else _e(sentence))
            continue
        score = pred["scores"][k]
        title = _e(_sentence_title(score))
        data = "" if score is None else f' data-score="{score}"'
        if pred["selected"][k]:
            kind = "tp" if gold else "fp"
            parts.append(f'<mark class="pred {kind}" title="{title}"{data}>{_e(body)}</mark>{tail}')
        elif gold:
            parts.append(f'<span class="miss" title="{title}"{data}>{_e(body)}</span>{tail}')
        else:
            parts.append(f'<span class="s" title="{title}"{data}>{_e(body)}</span>{tail}')
    return "".join(parts)


def _errors(case: Case, model: str) -> str:
    pred = case.predictions[model]["selected"]
    missed = sum(g and not p for g, p in zip(case.gold, pred, strict=True))
    extra = sum(p and not g for g, p in zip(case.gold, pred, strict=True))
    return "correct" if not missed and not extra else f"{missed} missed, {extra} wrong"


def _case(case: Case, models: list[str]) -> str:
    cols = [f'<div class="col gold-col"><h4>gold</h4><div class="passage">{_passage(case, None)}</div></div>']
    for m in models:
        if m in case.predictions:
            cols.append(
                f'<div class="col pred-col" data-model="{_e(m)}"><h4>{_e(m)} '
                f'<span class="errors">({_e(_errors(case, m))})</span></h4>'
                f'<div class="passage">{_passage(case, m)}</div></div>'
            )
    return (
        f'<article class="case" data-id="{_e(case.id)}" lang="{_e(case.lang.split(">")[-1] or "en")}">'
        f'<p class="query">Query: {_e(case.query)}</p><div class="cols">{"".join(cols)}</div></article>'
    )


def _cases(table: ResultTable) -> str:
    if not table.cases:
        return ""
    models = list(dict.fromkeys(r.model for r in table.rows))
    sizes = {d["name"]: d.get("n_examples") for d in table.datasets}
    parts = [
        "<h2>Sample cases</h2>",
        "<p>A few examples per dataset, picked with the first model's selection: missed gold sentences first, "
        "then wrongly marked ones, then correct ones.</p>",
        _LEGEND,
    ]
    for dataset in dict.fromkeys(c.dataset for c in table.cases):
        cases = [c for c in table.cases if c.dataset == dataset]
        n = sizes.get(dataset)
        parts.append(f'<section class="dataset" data-dataset="{_e(dataset)}">')
        parts.append(f"<h3>{_e(dataset)} <span class='errors'>({len(cases)} of {_e(n or '?')} examples)</span></h3>")
        parts += [_case(c, models) for c in cases]
        parts.append("</section>")
    return "\n".join(parts)


def _header_block(table: ResultTable, command: str | None) -> Iterable[str]:
    meta = table.meta
    earlier = meta.get("merged_with") or {}
    commands = [c for c in (earlier.get("command"), command or meta.get("command")) if c]
    yield "<h1>semantic-highlight evaluation</h1>"
    wall = meta.get("wall_seconds", "?")
    yield (
        f"<p>{_e(meta.get('date', ''))}, {_e(meta.get('machine', ''))}, wall time {_e(wall)} s "
        "(scoring only). Sentence-level micro scores; every model sees the same pre-split sentences.</p>"
    )
    if commands:
        yield "<pre>" + "\n".join(_e(c) for c in commands) + "</pre>"


def to_html(table: ResultTable, command: str | None = None) -> str:
    """The whole report as one HTML document (see the module docstring)."""
    body = [
        *_header_block(table, command),
        "<h2>Results</h2>",
        _table(table),
        "<p>P/R/F1/F2: micro over all sentences; macro F1: mean per example; kept: mean share of sentences selected; "
        "gold: mean share of gold sentences. Full notes in results.md.</p>",
    ]
    if table.skipped:
        body.append("<ul class='skipped'>" + "".join(f"<li>{_e(s)}</li>" for s in table.skipped) + "</ul>")
    body += [_figures(table), _cases(table)]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'\">\n"
        f"<title>semantic-highlight evaluation</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )


def write_html(table: ResultTable, path: str | Path, command: str | None = None) -> Path:
    """Write :func:`to_html` to ``path`` (UTF-8)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(to_html(table, command), encoding="utf-8")
    return p
