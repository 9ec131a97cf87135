"""Context saved vs answers kept (``semantic_highlight.eval.savings``), hand-computed and through the eval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES
from semantic_highlight.datasets.types import Example
from semantic_highlight.eval.savings import (
    compute_savings,
    labelled_sentences,
    sentence_sizes,
    sweep_savings,
    token_counter,
)

GOLD = [[True, False, False], [False, False], [False, True]]
CHARS = [[10, 20, 30], [5, 5], [40, 60]]
TOKENS = [[2, 4, 6], [1, 1], [8, 12]]


def test_compute_savings_hand_computed() -> None:
    pred = [[True, False, True], [False, False], [True, False]]
    s = compute_savings(GOLD, pred, CHARS, TOKENS, "tokenizer")
    assert (s.context_chars, s.context_tokens) == (170, 34)
    assert s.chars_kept == pytest.approx((10 + 30 + 40) / 170)
    assert s.tokens_kept == pytest.approx((2 + 6 + 8) / 34)
    assert s.gold_recall == pytest.approx(1 / 2)  # the first example's gold kept, the third's missed
    assert s.answers_kept == pytest.approx(1 / 2)  # two examples have gold; one kept any
    assert s.to_dict()["token_counter"] == "tokenizer"


def test_compute_savings_edges() -> None:
    nothing = compute_savings(GOLD, [[False] * len(g) for g in GOLD], CHARS, TOKENS, "approx")
    assert (nothing.tokens_kept, nothing.chars_kept, nothing.gold_recall, nothing.answers_kept) == (0, 0, 0, 0)
    everything = compute_savings(GOLD, [[True] * len(g) for g in GOLD], CHARS, TOKENS, "approx")
    assert (everything.tokens_kept, everything.gold_recall, everything.answers_kept) == (1, 1, 1)
    empty = compute_savings([], [], [], [], "approx")
    assert (empty.context_tokens, empty.tokens_kept, empty.gold_recall) == (0, 0.0, 0.0)
    with pytest.raises(ValueError, match="differ in length"):
        compute_savings([[True]], [[True, False]], [[1]], [[1]], "approx")


def test_sweep_savings_matches_compute_savings_row_by_row() -> None:
    selections = [
        [[True, False, True], [False, False], [True, False]],
        [[False, False, False], [True, True], [False, True]],
        [[True, True, True], [True, True], [True, True]],
    ]
    matrix = np.array([[x for row in sel for x in row] for sel in selections])
    curve = sweep_savings(matrix, GOLD, CHARS, TOKENS)
    for i, sel in enumerate(selections):
        one = compute_savings(GOLD, sel, CHARS, TOKENS, "approx")
        assert curve["tokens_kept"][i] == pytest.approx(one.tokens_kept)
        assert curve["chars_kept"][i] == pytest.approx(one.chars_kept)
        assert curve["gold_recall"][i] == pytest.approx(one.gold_recall)
        assert curve["answers_kept"][i] == pytest.approx(one.answers_kept)
    with pytest.raises(ValueError, match="shape"):
        sweep_savings(matrix[:, :3], GOLD, CHARS, TOKENS)


def test_labelled_sentences_and_sizes_skip_blank_sentences() -> None:
    ex = Example("x", "q", ("First one. ", "  ", "长城很长。"), frozenset({2}), lang="zh")
    rows = labelled_sentences([ex])
    assert rows == [["First one. ", "长城很长。"]]
    name, count = token_counter(object())  # no model: the documented approximation
    assert name == "approx"
    chars, tokens = sentence_sizes(rows, count)
    assert chars == [[11, 5]]
    assert tokens == [[3, 5]]  # ceil(11 / 4); one per CJK character (4) plus ceil(1 / 4) for "。"


def test_token_counter_uses_the_checkpoint_tokenizer(xlmr: object) -> None:
    class Scorer:
        highlighter = xlmr

    name, count = token_counter(Scorer())
    assert name == "tokenizer"
    texts = ["The screenplay was written by Lee Park. ", "长城全长两万多公里。"]
    tok = xlmr.model.tokenizer  # type: ignore[attr-defined]
    assert count(texts) == [len(tok.encode(t, add_special_tokens=False).ids) for t in texts]
    assert count([]) == []


def _examples() -> list[Example]:
    def ex(sentences: list[str], relevant: set[int], query: str, lang: str = "en") -> Example:
        return Example(f"t{len(sentences)}{query[:3]}", query, tuple(sentences), frozenset(relevant), lang=lang)

    return [
        ex(["Paris is the capital of France. ", "It rains a lot."], {0}, "capital of France"),
        ex(["Cats sleep. ", "Dogs bark loudly. ", "Birds sing."], {1}, "which animal barks"),
        ex(["长城很长。", "它位于中国北方。"], {1}, "长城在哪里", "zh"),
        ex(["Nothing to see. ", "   ", "Still nothing."], set(), "quantum chromodynamics"),
    ]


def test_eval_reports_savings_and_their_curve(xlmr: object, tmp_path: Path) -> None:  # xlmr: skip without fixtures
    from semantic_highlight.eval.report import format_table, to_markdown, write_all
    from semantic_highlight.eval.runner import EvalDataset, HighlighterScorer, ResultTable, evaluate

    scorer = HighlighterScorer(str(FIXTURES / "op-tiny-xlmr"), device="cpu")
    table = evaluate([scorer, "keyword"], [EvalDataset("tiny", _examples(), "en+zh")], sweep=True)
    tiny, keyword = table.rows
    # the checkpoint's own tokenizer; the baseline's documented approximation
    tok = scorer.highlighter.model.tokenizer
    sentences = [s for ex in _examples() for s in ex.sentences if s.strip()]
    assert tiny.savings["token_counter"] == "tokenizer"
    assert tiny.savings["context_tokens"] == sum(len(tok.encode(s, add_special_tokens=False).ids) for s in sentences)
    assert tiny.savings["context_chars"] == sum(len(s) for s in sentences)
    assert keyword.savings["token_counter"] == "approx"
    # keyword selects ex0 s0, ex1 s1, ex2 s0 (長城, wrong): 2 of 3 gold; 2 of the 3 answerable examples
    assert keyword.savings["gold_recall"] == pytest.approx(2 / 3) == pytest.approx(keyword.metrics.recall)
    assert keyword.savings["answers_kept"] == pytest.approx(2 / 3)
    kept = len("Paris is the capital of France. ") + len("Dogs bark loudly. ") + len("长城很长。")
    assert keyword.savings["chars_kept"] == pytest.approx(kept / tiny.savings["context_chars"])
    # the sweep's point at the checkpoint's own threshold is its default selection
    curve = next(c for c in table.curves if c.model == tiny.model)
    i = min(range(len(curve.thresholds)), key=lambda k: abs(curve.thresholds[k] - tiny.threshold))
    assert curve.thresholds[i] == pytest.approx(tiny.threshold)
    for key in ("tokens_kept", "chars_kept", "gold_recall", "answers_kept"):
        assert curve.savings[key][i] == pytest.approx(tiny.savings[key])
    assert curve.savings["tokens_kept"][0] >= curve.savings["tokens_kept"][-1]  # a higher bar keeps less
    # saved in results.json and read back; rendered in the console and in Markdown
    again = ResultTable.from_dict(json.loads(json.dumps(table.to_dict())))
    assert again.rows[0].savings == tiny.savings and again.curves[0].savings == curve.savings
    assert "answers kept" in format_table(table)
    md = to_markdown(table)
    assert "### Context kept vs answers kept" in md and "#### Across thresholds" in md
    assert f"| tiny | en+zh | keyword | {keyword.savings['context_tokens']:,}~ |" in md
    write_all(table, tmp_path)
    assert "### Context kept vs answers kept" in (tmp_path / "results.md").read_text(encoding="utf-8")


def test_results_written_before_savings_still_load_and_render() -> None:
    from semantic_highlight.eval.report import to_markdown
    from semantic_highlight.eval.runner import EvalDataset, ResultTable, evaluate

    table = evaluate(["keyword"], [EvalDataset("tiny", _examples(), "en+zh")], sweep=True)
    old = table.to_dict()
    for row in old["rows"]:
        del row["savings"]
    for curve in old["curves"]:
        del curve["savings"]
    loaded = ResultTable.from_dict(old)
    assert loaded.rows[0].savings == {} and loaded.curves[0].savings == {}
    assert "Context kept vs answers kept" not in to_markdown(loaded)
