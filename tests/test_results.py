"""HighlightResult / Sentence serialisation: ``from_dict`` inverts ``to_dict`` and rejects malformed input."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from semantic_highlight import HighlightResult, SemanticHighlighter, Sentence

DOC = "Paris is the capital of France. Bananas are yellow.\n\nThe Eiffel Tower is in Paris. "


def _result() -> HighlightResult:
    """A hand-built result (no model needed) with one selected and one unselected sentence."""
    parts = ["Paris is the capital of France. ", "Bananas are yellow.\n\n", "The Eiffel Tower is in Paris. "]
    sentences, pos = [], 0
    for i, (p, score) in enumerate(zip(parts, [0.91, 0.05, 0.62], strict=True)):
        sentences.append(Sentence(i, p, pos, pos + len(p), score, score > 0.5))
        pos += len(p)
    return HighlightResult("capital", DOC, tuple(sentences), 0.5, ranking_score=0.7, model="m", relative_threshold=0.4)


def test_round_trip_through_json() -> None:
    r = _result()
    again = HighlightResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again == r
    assert again.pruned_text == r.pruned_text and again.highlights == r.highlights
    for s in r.sentences:
        assert Sentence.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_round_trip_of_real_results(xlmr: SemanticHighlighter) -> None:
    results = xlmr.highlight(
        "capital of France", [DOC, "", ["Pre-split one.", " Two."]], threshold=0.99, fallback_threshold=0.0
    )
    for r in results:
        assert HighlightResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_derived_keys_are_optional() -> None:
    d = _result().to_dict()
    for key in ("pruned_text", "highlights", "score", "model"):
        d.pop(key)
    assert HighlightResult.from_dict(d) == HighlightResult(**{**_result().__dict__, "model": ""})


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda d: d.pop("query"), "'query'"),
        (lambda d: d.update(threshold="0.5"), "'threshold'"),
        (lambda d: d.update(threshold=float("nan")), "'threshold'"),
        (lambda d: d.update(sentences={"a": 1}), "'sentences'"),
        (lambda d: d["sentences"][1].pop("selected"), "'sentences[1]'"),
        (lambda d: d["sentences"][0].update(start=True), "'start'"),
        (lambda d: d["sentences"][0].update(score=None), "'score'"),
        (lambda d: d["sentences"][2].update(text="changed"), "'sentences[2]'"),
        (lambda d: d["sentences"][0].update(start=5, end=2), "'start'"),
        (lambda d: d.update(pruned_text="stale"), "'pruned_text'"),
        (lambda d: d.update(highlights=[]), "'highlights'"),
        (lambda d: d.update(score=0.1), "'score'"),
        (lambda d: d.update(ranking_score="high"), "'ranking_score'"),
    ],
)
def test_malformed_input_names_the_key(edit: Any, key: str) -> None:
    d = json.loads(json.dumps(_result().to_dict()))
    edit(d)
    with pytest.raises(ValueError, match=re.escape(key)):
        HighlightResult.from_dict(d)


def test_non_mapping_input_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        HighlightResult.from_dict([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="JSON object"):
        Sentence.from_dict("x")  # type: ignore[arg-type]


def test_one_renderer_behind_html_text_and_annotation_output() -> None:
    from semantic_highlight.annotations import annotation_html
    from semantic_highlight.cli import _render_text
    from semantic_highlight.results import mark_spans

    r = _result()
    html_out = r.to_html(show_scores=True)
    assert html_out == (
        '<div class="semantic-highlight" style="white-space: pre-wrap">'
        '<mark title="0.910">Paris is the capital of France.</mark> Bananas are yellow.\n\n'
        '<mark title="0.620">The Eiffel Tower is in Paris.</mark> </div>'
    )
    spans = [{"start": s.start, "end": s.end, "text": s.text, "score": s.score} for s in r.highlights]
    assert annotation_html(r.text, {"spans": spans}, show_scores=True) == html_out
    assert _render_text(r, color=False) == (
        "[[Paris is the capital of France.]] Bananas are yellow.\n\n[[The Eiffel Tower is in Paris.]] "
    )
    # escaping applies to the text, never to the marks; blank and overlapping spans stay unmarked
    assert mark_spans("a<b c", [(0, 3, 1.0), (1, 2, 1.0), (3, 4, 1.0)], lambda _: "<m>", "</m>", str.upper) == (
        "<m>A<B</m> C"
    )
