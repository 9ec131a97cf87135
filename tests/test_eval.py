"""Evaluation harness: metric arithmetic, loaders on small samples, baselines, runner, CLI."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest
from semantic_highlight.datasets.fgc import load_fgc
from semantic_highlight.datasets.jsonl import load_jsonl
from semantic_highlight.datasets.multispanqa import load_multispanqa, rebuild_sentences
from semantic_highlight.datasets.openprovence import load_openprovence
from semantic_highlight.datasets.types import Example
from semantic_highlight.datasets.wikiqa import load_wikiqa
from semantic_highlight.eval.baselines import KeywordBaseline, find_e5_dir, query_terms
from semantic_highlight.eval.metrics import best_point, compute_metrics, sweep_f1
from semantic_highlight.eval.runner import EvalDataset, ResultTable, evaluate, map_scores
from semantic_highlight.eval.suite import load_dataset, subsample
from semantic_highlight.options import SelectionOptions

DATA = Path(__file__).parents[1].parent / "shared" / "data"
FIXTURE = Path(__file__).parents[1].parent / "shared" / "fixtures" / "op-tiny-xlmr"
OOD = Path(__file__).parents[1] / "benchmarks" / "data"

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not available")
needs_fixture = pytest.mark.skipif(not FIXTURE.is_dir(), reason="../shared/fixtures is not available")


def _ex(sentences: list[str], relevant: set[int], query: str = "q", lang: str = "en") -> Example:
    return Example(
        id=f"t{len(sentences)}", query=query, sentences=tuple(sentences), relevant=frozenset(relevant), lang=lang
    )


# ---------------------------------------------------------------- metrics


def test_micro_macro_kept_hand_computed() -> None:
    gold = [[1, 0, 0], [0, 0], [1, 1]]
    pred = [[1, 1, 0], [0, 0], [0, 1]]
    m = compute_metrics(gold, pred)  # type: ignore[arg-type]
    assert (m.tp, m.fp, m.fn, m.n_examples, m.n_sentences) == (2, 1, 1, 3, 7)
    assert m.precision == pytest.approx(2 / 3) and m.recall == pytest.approx(2 / 3)
    assert m.f1 == pytest.approx(2 / 3) and m.f2 == pytest.approx(2 / 3)
    assert m.macro_f1 == pytest.approx((2 / 3 + 1.0 + 2 / 3) / 3)  # the empty example counts 1.0
    assert m.kept_ratio == pytest.approx((2 / 3 + 0 + 1 / 2) / 3)
    assert m.gold_ratio == pytest.approx((1 / 3 + 0 + 1) / 3)


def test_f2_weights_recall() -> None:
    m = compute_metrics([[True, True, True, False]], [[True, False, False, False]])
    assert (m.precision, m.recall) == (1.0, pytest.approx(1 / 3))
    assert m.f1 == pytest.approx(0.5)
    assert m.f2 == pytest.approx(5 / 13)


def test_no_gold_conventions() -> None:
    quiet = compute_metrics([[False, False]], [[False, False]])
    assert (quiet.precision, quiet.recall, quiet.f1, quiet.macro_f1) == (1.0, 1.0, 1.0, 1.0)
    noisy = compute_metrics([[False, False]], [[True, False]])
    assert (noisy.precision, noisy.f1, noisy.macro_f1, noisy.kept_ratio) == (0.0, 0.0, 0.0, 0.5)
    with pytest.raises(ValueError):
        compute_metrics([[True]], [[True, False]])


def test_sweep_and_best_point() -> None:
    f1s = sweep_f1([[True, False, True]], [[0.9, 0.2, 0.6]], [0.1, 0.5, 0.95])
    assert f1s == pytest.approx([0.8, 1.0, 0.0])
    assert best_point([0.1, 0.5, 0.95], f1s) == (0.5, 1.0)


def test_sweep_with_fallback_matches_select() -> None:
    from semantic_highlight.aggregate import select

    gold = [[True, False, True], [False, True], [False, False], [True, False]]
    scores = [[0.9, 0.2, 0.6], [0.3, 0.35], [0.05, 0.02], [0.1, 0.1]]
    grid = [0.0, 0.1, 0.25, 0.32, 0.5, 0.7, 0.95]
    for fallback in (None, 0.0, 0.08, 0.3):
        for relative in (None, 1.0, 0.8, 0.3):
            want = [
                compute_metrics(gold, [select(row, t, None, None, fallback, relative) for row in scores]).f1
                for t in grid
            ]
            assert sweep_f1(gold, scores, grid, fallback, relative) == pytest.approx(want), (fallback, relative)
    # at 0.5 only ex0 passes; the fallback 0.08 adds ex1's best (gold) and ex3's first tied sentence (gold)
    assert sweep_f1(gold, scores, [0.5], 0.08)[0] > sweep_f1(gold, scores, [0.5])[0]


def test_calibration_adopts_a_fallback_only_when_it_helps() -> None:
    from semantic_highlight.training.evaluate import calibrate

    # in-domain: the gold sentence scores high, a threshold alone is perfect
    gold = [[True, False], [False, True], [False, False]]
    thr, fallback, relative, f1 = calibrate([[0.9, 0.1], [0.2, 0.8], [0.1, 0.05]], gold)
    assert fallback is None and relative is None and f1 == 1.0 and 0.2 <= thr < 0.8
    # low-scoring relevant documents next to a high-scoring one with a low-scoring distractor:
    # no single threshold separates them, keeping each document's best sentence does
    gold = [[True, False, False], [False, True, False], [True, False, False], [False, False, False]]
    scores = [[0.9, 0.5, 0.1], [0.1, 0.3, 0.05], [0.25, 0.02, 0.01], [0.03, 0.01, 0.02]]
    thr, fallback, relative, f1 = calibrate(scores, gold)
    assert fallback is not None and 0.03 <= fallback < 0.25 and f1 == 1.0 and thr >= 0.5
    assert relative is None  # ties go to the simpler rule


def test_calibration_adopts_a_relative_threshold_for_answers_spread_over_sentences() -> None:
    from semantic_highlight.training.evaluate import calibrate

    # a paraphrased two-sentence answer scores low on both sentences, an extractive one high on one:
    # threshold + fallback keep only the first half of the low answer, the relative rule keeps both
    gold = [[True, False, False], [True, True, False], [False, False, False]]
    scores = [[0.95, 0.3, 0.02], [0.3, 0.24, 0.02], [0.05, 0.03, 0.01]]
    point = calibrate(scores, gold)
    assert point.f1 == 1.0 and point.relative_threshold is not None and 0.5 <= point.relative_threshold <= 0.8
    assert point.fallback_threshold is not None and 0.05 <= point.fallback_threshold < 0.3


def test_calibration_ties_go_to_the_starting_models_point() -> None:
    from semantic_highlight.training.evaluate import calibrate

    gold = [[True, False], [False, True], [False, False]]
    scores = [[0.9, 0.1], [0.2, 0.8], [0.1, 0.05]]
    assert calibrate(scores, gold).threshold == 0.79  # highest threshold below 0.8 reaching F1 1
    # the starting model's point reaches the same F1: it is kept, fallback and relative included
    assert tuple(calibrate(scores, gold, prefer=(0.5, 0.4, 0.9))) == (0.5, 0.4, 0.9, 1.0)
    # a starting point worse than the best is not
    assert calibrate(scores, gold, prefer=(0.85, None, None)).threshold == 0.79
    # without negatives to measure it, export passes the starting fallback as the only one to try
    gold = [[True, False, False], [False, True, False]]
    scores = [[0.9, 0.5, 0.1], [0.1, 0.3, 0.05]]
    assert calibrate(scores, gold).fallback_threshold is not None
    assert calibrate(scores, gold, fallbacks=(None,)).fallback_threshold is None


def test_validation_split_checks() -> None:
    from semantic_highlight.training.evaluate import MIN_CALIBRATION_EXAMPLES, check_validation

    def ex(i: int, lang: str, relevant: frozenset[int]) -> Example:
        return Example(id=str(i), query=f"q{i}", sentences=("A. ", "B."), relevant=relevant, lang=lang, source="t")

    with pytest.raises(ValueError, match="no validation example"):
        check_validation([])
    with pytest.raises(ValueError, match="none of the 3 validation examples has a relevant sentence"):
        check_validation([ex(i, "en", frozenset()) for i in range(3)])
    few, no_negative = check_validation([ex(i, "en", frozenset({0})) for i in range(3)])
    assert "only 3 validation examples" in few and "keeps the starting model's thresholds" in few
    assert "keeps the starting model's fallback threshold" in no_negative
    enough = [ex(i, "en", frozenset({i % 2})) for i in range(MIN_CALIBRATION_EXAMPLES)] + [ex(99, "en", frozenset())]
    others = [ex(100 + i, "en", frozenset({0})) for i in range(5)]
    assert check_validation(enough, others) == []
    (warning,) = check_validation(enough, [*others, ex(200, "zh", frozenset({0}))])
    assert warning.startswith("no validation example in zh")
    (warning,) = check_validation(enough, [*others, *enough[:3]])  # the same query on the same text
    assert warning.startswith("3 of the 21 validation examples are also training examples")
    (warning,) = check_validation(enough, [ex(300, "en", frozenset())])
    assert warning.startswith("no training example has a relevant sentence")
    assert "lowest threshold" in check_validation([ex(0, "en", frozenset({0, 1}))])[1]


def test_jsonl_skips_malformed_labels_and_says_where(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = {"query": "q", "sentences": ["A. ", "B."], "relevant": [1]}
    bad = [
        {**good, "relevant": ["one"]},
        {**good, "relevant": 1},
        {**good, "relevant": [True]},
        {**good, "relevant": 0},
        {**good, "relevant": None},
        {"query": "q", "context": "A. B.", "spans": [[0]]},
        {"query": "q", "context": "A. B.", "spans": [["a", "b"]]},
        {"query": "q", "context": "A. B.", "spans": 3},
        {"query": "q", "context": "A. B.", "spans": None},
        {"query": "q", "passage": "A. B."},  # `annotate` input: not labelled yet
        {"query": "q", "context": "A. B."},
    ]
    path = tmp_path / "own.jsonl"
    lines = [json.dumps(r) for r in [good, *bad, {**good, "spans": [[3, 5]], "relevant": None}]]
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode())  # a byte-order mark, as some editors write
    stats: Counter[str] = Counter()
    with caplog.at_level("WARNING", logger="semantic_highlight.datasets"):
        first, last = load_jsonl(path, stats=stats)
    assert first.relevant == {1} and last.relevant == {1}  # the BOM line loads; spans win over relevant
    drops = {k.split(":")[-1]: v for k, v in stats.items() if ":dropped:" in k}
    assert drops == {"bad_relevant": 5, "bad_spans": 4, "unlabelled_annotate_input": 1, "no_relevant_or_spans": 1}
    (message,) = [r.getMessage() for r in caplog.records]
    assert "skipped 11 of 13 records" in message and "bad_relevant x5 (first at line 2)" in message
    assert "bad_spans x4 (first at line 7)" in message and "run `semantic-highlight annotate`" in message


def test_select_relative_threshold_extends_a_kept_best_sentence() -> None:
    from semantic_highlight.aggregate import select

    scores = [0.1, 0.4, 0.3, 0.05]
    assert select(scores, 0.5) == [False] * 4
    assert select(scores, 0.5, fallback_threshold=0.2) == [False, True, False, False]
    assert select(scores, 0.5, fallback_threshold=0.2, relative_threshold=0.7) == [False, True, True, False]
    assert select(scores, 0.5, relative_threshold=0.7) == [False] * 4  # the best is not kept: nothing to extend
    assert select(scores, 0.35, relative_threshold=0.7) == [False, True, True, False]  # best kept by the threshold
    assert select(scores, 0.5, fallback_threshold=0.2, relative_threshold=1.0) == [False, True, False, False]
    assert select(scores, 0.5, fallback_threshold=0.2, relative_threshold=0.2) == [True, True, True, False]
    assert select(scores, 0.5, top_k=1, fallback_threshold=0.2, relative_threshold=0.2) == [False, True, False, False]
    assert select(scores, 0.0, min_score=0.5, relative_threshold=0.1) == [False] * 4
    assert select([], 0.5, fallback_threshold=0.1, relative_threshold=0.5) == []


@needs_fixture
def test_runner_applies_the_scorers_fallback_threshold() -> None:
    from semantic_highlight.eval.runner import HighlighterScorer

    ds = EvalDataset("tiny", _five_examples(), "en+zh")
    scorer = HighlighterScorer(str(FIXTURE), selection=SelectionOptions(threshold=1.0, fallback_threshold=0.0))
    row = evaluate([scorer], [ds], sweep=True).rows[0]
    assert row.fallback_threshold == 0.0
    assert row.metrics.tp + row.metrics.fp == len(ds.examples)  # exactly the best sentence of each example
    plain = evaluate([HighlighterScorer(str(FIXTURE), selection=SelectionOptions(threshold=1.0))], [ds]).rows[0]
    assert plain.fallback_threshold is None and plain.metrics.tp + plain.metrics.fp == 0
    # a relative threshold just under 1 adds nothing but exact ties; at 0.01 every scored sentence joins
    tied = evaluate([HighlighterScorer(str(FIXTURE), selection=SelectionOptions(1.0, 0.0, 0.999))], [ds])
    assert tied.rows[0].relative_threshold == 0.999
    wide = evaluate([HighlighterScorer(str(FIXTURE), selection=SelectionOptions(1.0, 0.0, 0.01))], [ds])
    n_sentences = sum(len(ex.sentences) for ex in ds.examples)
    assert tied.rows[0].metrics.tp + tied.rows[0].metrics.fp < wide.rows[0].metrics.tp + wide.rows[0].metrics.fp
    assert wide.rows[0].metrics.tp + wide.rows[0].metrics.fp == n_sentences
    # top_k and min_score of the selection options apply too (the same options object as the engine's)
    top1 = evaluate([HighlighterScorer(str(FIXTURE), selection=SelectionOptions(0.0, top_k=1))], [ds]).rows[0]
    assert top1.metrics.tp + top1.metrics.fp == len(ds.examples)
    gated = evaluate([HighlighterScorer(str(FIXTURE), selection=SelectionOptions(0.0, min_score=1.0))], [ds]).rows[0]
    assert gated.metrics.tp + gated.metrics.fp == 0


def test_evaluate_takes_one_selection_options_object() -> None:
    ds = EvalDataset("tiny", _five_examples(), "en+zh")
    with pytest.raises(TypeError, match="selection must be a SelectionOptions"):
        evaluate(["keyword"], [ds], 0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="relative_threshold"):
        SelectionOptions(relative_threshold=2.0)


# ---------------------------------------------------------------- loaders


def test_multispanqa_rebuild() -> None:
    toks = ["He", "said", '"', "hi", ".", '"', "Paris", "(", "France", ")", "is", "big", "."]
    labels = ["O"] * 6 + ["B", "O", "I", "O", "O", "O", "O"]
    sents, rel = rebuild_sentences(toks, labels)
    assert sents == ['He said " hi." ', "Paris (France) is big."]
    assert rel == {1}


def test_multispanqa_file(tmp_path: Path) -> None:
    rec = {"id": "a", "question": ["who", "?"], "context": ["A", "won", ".", "B", "lost", "."], "label": list("OOOBOO")}
    bad = {"id": "b", "question": ["x"], "context": ["A", "."], "label": ["O"]}
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"data": [rec, bad]}))
    stats: Counter[str] = Counter()
    (ex,) = load_multispanqa(path, stats=stats)
    assert ex.sentences == ("A won. ", "B lost.") and ex.relevant == {1} and ex.query == "who ?"
    assert stats["multispanqa:dropped:missing_or_misaligned_labels"] == 1


@needs_data
def test_multispanqa_shared_sample() -> None:
    exs = load_multispanqa(DATA / "multispanqa" / "valid.json")
    assert len(exs) == 653 and all(e.relevant for e in exs)
    assert exs[0].sentences[1] == "The track reached # 72 in the US. "


def test_wikiqa_tsv(tmp_path: Path) -> None:
    head = "QuestionID\tQuestion\tDocumentID\tDocumentTitle\tSentenceID\tSentence\tLabel"
    rows = [
        'Q1\twho\tD1\tT\tD1-1\tSecond "quoted sentence .\t1',
        "Q1\twho\tD1\tT\tD1-0\tFirst sentence .\t0",
        "Q2\twhat\tD2\tT\tD2-0\tNothing here .\t0",
    ]
    path = tmp_path / "w.tsv"
    path.write_bytes(("\r\n".join([head, *rows]) + "\r\n").encode())
    q1, q2 = load_wikiqa(path)
    assert q1.sentences == ("First sentence . ", 'Second "quoted sentence .') and q1.relevant == {1}
    assert q2.relevant == frozenset()
    assert len(load_wikiqa(path, keep_unanswerable=False)) == 1


@needs_data
def test_wikiqa_shared_test_split() -> None:
    exs = load_wikiqa(DATA / "wikiqa" / "WikiQA-test.tsv")
    assert len(exs) == 633 and sum(bool(e.relevant) for e in exs) == 243


def test_fgc_clauses_and_sentences(tmp_path: Path) -> None:
    text = "甲，乙。\n丙，丁。尾巴"
    sents = [
        {"text": "甲，", "start": 0, "end": 2},
        {"text": "乙。", "start": 2, "end": 4},
        {"text": "丙，", "start": 5, "end": 7},
        {"text": "丁。", "start": 7, "end": 9},
    ]
    doc = {
        "DID": "D1",
        "DTEXT_CN": text,
        "SENTS": sents,
        "QUESTIONS": [{"QID": "Q1", "QTEXT_CN": "乙？", "SHINT": [1, 3]}, {"QID": "Q2", "QTEXT_CN": "无", "SHINT": []}],
    }
    path = tmp_path / "fgc.json"
    path.write_text(json.dumps([doc], ensure_ascii=False))
    stats: Counter[str] = Counter()
    (ex,) = load_fgc(path, stats=stats)
    assert ex.sentences == ("甲，", "乙。\n", "丙，", "丁。") and ex.relevant == {1, 3}
    assert ex.meta["uncovered_tail_chars"] == 2 and stats["fgc:dropped:no_evidence_shint"] == 1
    (merged,) = load_fgc(path, granularity="sentence")
    assert merged.sentences == ("甲，乙。\n", "丙，丁。") and merged.relevant == {0, 1}


@needs_data
def test_fgc_shared_dev() -> None:
    stats: Counter[str] = Counter()
    exs = load_fgc(DATA / "fgc" / "FGC_release_all_dev_cn.json", stats=stats)
    assert len(exs) == 213 and stats["fgc:dropped:no_evidence_shint"] == 4
    assert exs[0].sentences[1] == "宋哲宗即位，" and exs[0].relevant == {1, 3, 4, 5, 6}


def test_openprovence(tmp_path: Path) -> None:
    rows = [
        {
            "id": "r",
            "query": "q",
            "texts": ["One. Two. Three.", "Four. Five."],
            "context_spans": [[[0, 4], [5, 9], [10, 16]], [[0, 5], [6, 11]]],
            "context_spans_relevance": [[0, 1, 0], [1]],
            "labels": [1, 0],
        },
        {"id": "s", "query": "q", "texts": ["A."], "context_spans": [[[0, 9]]], "context_spans_relevance": [[1]]},
    ]
    path = tmp_path / "op.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    stats: Counter[str] = Counter()
    a, b = load_openprovence(path, stats=stats)
    assert a.sentences == ("One. ", "Two. ", "Three.") and a.relevant == {1} and a.meta["label"] == 1
    assert b.sentences == ("Four. ", "Five.") and b.relevant == {1}  # [1] has 1 value for 2 spans: an index
    assert stats["op:dropped:bad_spans_or_relevance"] == 1


def test_jsonl_formats(tmp_path: Path) -> None:
    recs = [
        {"id": "s", "query": "q", "sentences": ["A. ", "B."], "relevant": [1], "query_type": "keyword"},
        {"query": "q", "context": "  First one. Second one. 第三句。", "spans": [[15, 18]]},
        {"query": "q", "sentences": ["A."], "relevant": [3]},
        {"query": "", "sentences": ["A."], "relevant": []},
        {  # what `semantic-highlight annotate` writes
            "id": "llm1",
            "query": "长城多长？",
            "sentences": [
                {"text": "The wall is long. ", "start": 0, "end": 18},
                {"text": "It runs 21,196 km.", "start": 18, "end": 36},
            ],
            "relevant": [1],
            "reasoning": "Sentence 2 gives the length.",
            "provenance": {"lang": "zh", "model": "m", "prompt_version": "v1"},
        },
        {"query": "q", "sentences": [{"start": 0, "end": 2}], "relevant": []},
    ]
    path = tmp_path / "own.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in recs) + "\nnot json\n")
    stats: Counter[str] = Counter()
    a, b, c = load_jsonl(path, stats=stats)
    assert a.relevant == {1} and a.meta["query_type"] == "keyword" and a.id == "own:s"
    assert b.text == recs[1]["context"] and b.sentences[1] == "Second one. " and b.relevant == {1}
    assert c.sentences == ("The wall is long. ", "It runs 21,196 km.") and c.relevant == {1}
    assert c.lang == "zh" and c.meta["provenance"]["model"] == "m" and c.meta["reasoning"].startswith("Sentence 2")
    drops = {k.split(":")[-1]: v for k, v in stats.items() if ":dropped:" in k}
    assert drops == {"relevant_index_out_of_range": 1, "no_query": 1, "invalid_json": 1, "sentence_without_text": 1}


@pytest.mark.skipif(not (OOD / "wikitext2_ood_en.jsonl").is_file(), reason="OOD set not written yet")
def test_ood_files_load() -> None:
    for name, lang in (("ood-en", "en"), ("ood-zh", "zh")):
        ds = load_dataset(name)
        if not ds.examples:
            continue
        assert not ds.dropped and all(e.lang == lang for e in ds.examples)
        assert {e.meta.get("query_type") for e in ds.examples} <= {"keyword", "paraphrase", "unanswerable"}


@needs_data
def test_suite_xquad_limit_and_missing() -> None:
    ds = load_dataset("xquad-zh", limit=5)
    assert len(ds.examples) == 5 and ds.lang == "zh" and "5 of 1190" in ds.note
    assert len({e.meta["title"] for e in ds.examples}) > 1  # evenly spaced, not the first article
    missing = load_dataset("multispanqa", data_dir="/nonexistent")
    assert not missing.examples and "not found" in missing.note
    with pytest.raises(FileNotFoundError):
        load_dataset("no-such-set")
    assert subsample(list(range(10)), 3) == [0, 3, 6]  # type: ignore[arg-type]


@needs_data
def test_cross_lingual_xquad_asks_each_question_on_the_parallel_passage() -> None:
    en, zh = load_dataset("xquad-en"), load_dataset("xquad-zh")
    cross = load_dataset("xquad-en-zh")
    assert cross.lang == "en>zh" and len(cross.examples) == len(zh.examples) == 1190 and not cross.dropped
    for c, e, z in list(zip(cross.examples, en.examples, zh.examples, strict=True))[::97]:
        assert c.id.split(":")[1] == e.id.split(":")[1] == z.id.split(":")[1]
        assert (c.query, c.sentences, c.relevant) == (e.query, z.sentences, z.relevant) and c.query != z.query
    back = load_dataset("xquad-zh-en", limit=3)
    assert [b.query for b in back.examples] == [z.query for z in subsample(zh.examples, 3)]
    assert all(b.lang == "en" and b.source == "xquad-zh-en" for b in back.examples)


def test_load_file_by_shape(tmp_path: Path) -> None:
    from semantic_highlight.eval.suite import load_file

    squad = {"data": [{"title": "t", "paragraphs": [{"context": "猫很可爱。狗也很可爱。", "qas": [
        {"id": "1", "question": "狗呢？", "answers": [{"text": "狗也", "answer_start": -1}]}]}]}]}  # fmt: skip
    (tmp_path / "s.json").write_text(json.dumps(squad, ensure_ascii=False))
    (ex,) = load_file(tmp_path / "s.json")
    assert ex.lang == "zh" and ex.relevant == {1}  # offset -1: found by string search
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(ValueError):
        load_file(tmp_path / "bad.json")


# ---------------------------------------------------------------- baselines


def test_keyword_baseline() -> None:
    kb = KeywordBaseline()
    en = _ex(
        ["The Eiffel Tower was built in 1889. ", "Paris is in France. ", "  "], {0}, "When was the Eiffel Tower built?"
    )
    zh = _ex(["埃菲尔铁塔建于1889年。", "巴黎在法国。"], {0}, "埃菲尔铁塔是什么时候建成的？", "zh")
    (s_en, s_zh) = kb.score([en, zh])
    assert s_en[0] == pytest.approx(1.0) and s_en[1] == 0.0 and math.isnan(s_en[2])
    assert s_zh[0] > 0 and s_zh[1] == 0.0
    assert query_terms("What is the name of it?") == set()
    assert "什么" not in query_terms("这是什么")


def test_embedding_baseline_or_skip() -> None:
    from semantic_highlight.eval.baselines import BaselineUnavailable, EmbeddingBaseline

    with pytest.raises(BaselineUnavailable):
        EmbeddingBaseline("/nonexistent/e5", threshold=0.8)
    if find_e5_dir() is None:
        pytest.skip("no converted e5 encoder under build/")
    eb = EmbeddingBaseline(threshold=0.8)
    (scores,) = eb.score(
        [_ex(["The Eiffel Tower is in Paris. ", "Bananas are yellow."], {0}, "where is the eiffel tower")]
    )
    assert scores[0] > scores[1]


# ---------------------------------------------------------------- runner and CLI


@needs_fixture
def test_map_scores_by_offsets(xlmr: object) -> None:
    ex = _ex(["One thing.\n", "   ", "line a\nline b\n", "", "End here."], set())
    (res,) = xlmr.highlight("thing", [list(ex.sentences)])  # type: ignore[attr-defined]
    scores = map_scores(ex, res.sentences)
    assert len(res.sentences) == 4  # the blank one is dropped, "line a\nline b" is cut in two
    assert math.isnan(scores[1]) and math.isnan(scores[3])
    assert scores[2] == max(s.score for s in res.sentences if 11 + 3 <= s.start < 11 + 3 + 14)
    assert scores[4] == res.sentences[-1].score


def _five_examples() -> list[Example]:
    return [
        _ex(["Paris is the capital of France. ", "It rains a lot."], {0}, "capital of France"),
        _ex(["Cats sleep. ", "Dogs bark loudly. ", "Birds sing."], {1}, "which animal barks"),
        _ex(["长城很长。", "它位于中国北方。"], {1}, "长城在哪里", "zh"),
        _ex(["Nothing to see. ", "Still nothing."], set(), "quantum chromodynamics"),
        _ex(["Water boils at 100 C. ", "Ice melts at 0 C."], {0}, "boiling point of water"),
    ]


@needs_fixture
def test_runner_end_to_end() -> None:
    ds = EvalDataset("tiny", _five_examples(), "en+zh")
    table = evaluate([str(FIXTURE), "keyword"], [ds], sweep=True)
    assert [(r.dataset, r.model) for r in table.rows] == [("tiny", "op-tiny-xlmr"), ("tiny", "keyword")]
    kw = table.row("tiny", "keyword")
    assert kw is not None and kw.metrics.n_examples == 5 and kw.metrics.n_sentences == 11
    # keyword hits: ex0 s0 (capit, franc), ex1 s1 (bark), ex2 s0 (长城, wrong), ex4 s0 (water, boil)
    assert (kw.metrics.tp, kw.metrics.fp, kw.metrics.fn) == (3, 1, 1)
    assert kw.sentences_per_s > 0 and kw.best_f1 is not None and len(table.curves) == 2
    tiny = table.row("tiny", "op-tiny-xlmr")
    assert tiny is not None and 0.0 <= tiny.metrics.f1 <= 1.0
    again = ResultTable.from_dict(json.loads(json.dumps(table.to_dict())))
    assert again.rows == table.rows and again.curves == table.curves
    older = table.to_dict()  # a results.json from a version whose curves and rows had a field since removed
    older["curves"][0]["fallback_threshold"] = None
    older["rows"][0]["retired_field"] = 1
    assert ResultTable.from_dict(older).curves == table.curves and ResultTable.from_dict(older).rows == table.rows
    other = ResultTable.from_dict(table.to_dict())
    other.rows = [r for r in other.rows if r.model == "keyword"]
    other.rows[0].metrics = compute_metrics([[True]], [[True]])
    merged = table.merge(other)
    assert [r.model for r in merged.rows] == ["op-tiny-xlmr", "keyword"] and merged.rows[1].metrics.f1 == 1.0
    # a skip from the older run goes once that model or dataset has run; others stay, none twice
    table.skipped = ["keyword baseline skipped: x", "embedding baseline skipped: y", "gone skipped: z not found"]
    other.skipped = ["embedding baseline skipped: y"]
    assert table.merge(other).skipped == ["gone skipped: z not found", "embedding baseline skipped: y"]
    other.datasets = [{**other.datasets[0], "name": "gone"}]
    assert table.merge(other).skipped == ["embedding baseline skipped: y"]


@needs_fixture
def test_cli_smoke(tmp_path: Path) -> None:
    from semantic_highlight.cli import main as front

    data = tmp_path / "tiny.jsonl"
    data.write_text(
        "\n".join(
            json.dumps(
                {"query": e.query, "sentences": list(e.sentences), "relevant": sorted(e.relevant)}, ensure_ascii=False
            )
            for e in _five_examples()
        )
    )
    out = tmp_path / "out"
    argv = [
        "eval",
        "--model",
        str(FIXTURE),
        "--dataset",
        str(data),
        "--baselines",
        "--e5",
        str(tmp_path / "no-e5"),
        "--sweep",
        "--out",
        str(out),
        "--no-progress",
        "-q",
    ]
    assert front(argv) == 0
    written = {p.name for p in out.iterdir()}
    assert written == {"results.json", "results.md", "results.html", "sweep.png", "sweep_tiny.png"}
    md = (out / "results.md").read_text()
    assert "| tiny |" in md and "keyword" in md and "embedding baseline skipped" in md
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert front(["eval", "--dataset", "no-such-set", "--model", "keyword", "--no-progress"]) == 2


def _tiny_jsonl(path: Path) -> Path:
    rows = [
        {"query": e.query, "sentences": list(e.sentences), "relevant": sorted(e.relevant)} for e in _five_examples()
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def _eval_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``semantic-highlight eval argv``; it must exit 2 with one line on stderr, which is returned."""
    from semantic_highlight.eval.cli import main

    assert main([*argv, "--no-progress", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("semantic-highlight eval: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_eval_names_a_dataset_file_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes('{"query": "café", "sentences": ["Un café."], "relevant": [0]}\n'.encode("latin-1"))
    err = _eval_error(["-m", "keyword", "-d", str(bad)], capsys)
    assert f"{bad} is not UTF-8 text" in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [', encoding="utf-8")
    assert f"{broken} is not valid JSON" in _eval_error(["-m", "keyword", "-d", str(broken)], capsys)


def test_eval_reports_a_directory_as_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _eval_error(["-m", "keyword", "-d", str(tmp_path)], capsys)
    assert f"{tmp_path} is a directory" in err and "no such file" not in err


@needs_fixture
def test_eval_reports_a_corrupt_model_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for f in FIXTURE.iterdir():
        (model / f.name).symlink_to(f)
    (model / "model.safetensors").unlink()
    (model / "model.safetensors").write_bytes((FIXTURE / "model.safetensors").read_bytes()[:1000])
    err = _eval_error(["-m", str(model), "-d", str(_tiny_jsonl(tmp_path / "tiny.jsonl"))], capsys)
    assert f"{model / 'model.safetensors'} is not a readable safetensors file" in err


def test_suite_and_runner_do_not_import_each_other() -> None:
    import ast
    import types

    import semantic_highlight.eval.runner as runner
    import semantic_highlight.eval.suite as suite

    def imported(module: types.ModuleType) -> set[str]:
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}

    assert "semantic_highlight.eval.runner" not in imported(suite)  # the runner may use the suite, not both ways
    assert "semantic_highlight.eval.suite" in imported(runner)
