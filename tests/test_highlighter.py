"""SemanticHighlighter behaviour on the tiny fixture checkpoint: shapes, options, bad input, threads."""

from __future__ import annotations

import copy
import itertools
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from semantic_highlight import HighlightResult, SemanticHighlighter
from semantic_highlight.models import ModelFormatError, resolve_device, resolve_dtype

DOC_EN = (
    "Paris is the capital and most populous city of France. It is situated on the Seine River. "
    "Bananas are an excellent source of potassium. The Eiffel Tower was completed in 1889."
)
DOC_ZH = "巴黎是法国的首都。它位于塞纳河畔。香蕉富含钾元素。埃菲尔铁塔于1889年建成。"


def test_single_and_list_shapes(xlmr: SemanticHighlighter) -> None:
    one = xlmr.highlight("capital of France", DOC_EN, threshold=0.3)
    assert isinstance(one, HighlightResult)
    many = xlmr.highlight("capital of France", [DOC_ZH, DOC_EN, ""], threshold=0.3)
    assert [r.text for r in many] == [DOC_ZH, DOC_EN, ""]
    assert [s.score for s in many[1].sentences] == pytest.approx([s.score for s in one.sentences], abs=1e-6)
    assert len(many[0].sentences) == 4 and len(one.sentences) == 4
    assert many[2].sentences == () and many[2].highlights == [] and many[2].pruned_text == "" and many[2].score == 0.0


def test_result_fields_are_consistent(xlmr: SemanticHighlighter) -> None:
    r = xlmr.highlight("capital of France", DOC_EN, threshold=0.3)
    for s in r.sentences:
        assert r.text[s.start : s.end] == s.text
        assert 0.0 <= s.score <= 1.0
        assert s.selected == (s.score > 0.3)
    assert r.highlights == [s for s in r.sentences if s.selected]
    assert r.pruned_text == "".join(s.text for s in r.highlights)
    assert r.score == max(s.score for s in r.sentences)
    assert 0 < len(r.highlights) < len(r.sentences)  # the fixture selects some but not all at 0.3
    payload = json.loads(json.dumps(r.to_dict()))
    assert payload["pruned_text"] == r.pruned_text
    assert [h["start"] for h in payload["highlights"]] == [s.start for s in r.highlights]


def test_presplit_documents_are_not_split_again(xlmr: SemanticHighlighter) -> None:
    doc = ["Paris is the capital. It is big.", " Bananas. "]
    r = xlmr.highlight("capital", [doc], threshold=0.0)[0]
    assert [s.text for s in r.sentences] == doc
    assert r.text == "".join(doc)


def test_top_k_and_min_score(xlmr: SemanticHighlighter) -> None:
    base = xlmr.highlight("capital of France", DOC_EN, threshold=0.0)
    assert len(base.highlights) == 4
    top2 = xlmr.highlight("capital of France", DOC_EN, threshold=0.0, top_k=2)
    best = sorted(base.sentences, key=lambda s: -s.score)[:2]
    assert {s.index for s in top2.highlights} == {s.index for s in best}
    assert [s.index for s in top2.highlights] == sorted(s.index for s in best)  # document order
    gated = xlmr.highlight("capital of France", DOC_EN, threshold=0.0, min_score=base.score + 0.01)
    assert gated.highlights == []
    assert xlmr.highlight("capital of France", DOC_EN, threshold=1.0).highlights == []


def test_fallback_threshold_keeps_the_best_sentence_only_when_nothing_passes(xlmr: SemanticHighlighter) -> None:
    base = xlmr.highlight("capital of France", DOC_EN, threshold=0.0)
    best = max(base.sentences, key=lambda s: s.score)
    above_all = best.score + 0.01
    assert xlmr.highlight("capital of France", DOC_EN, threshold=above_all).highlights == []
    kept = xlmr.highlight("capital of France", DOC_EN, threshold=above_all, fallback_threshold=best.score - 0.01)
    assert [s.index for s in kept.highlights] == [best.index]
    assert kept.fallback_threshold == pytest.approx(best.score - 0.01) and kept.to_dict()["fallback_threshold"]
    too_high = xlmr.highlight("capital of France", DOC_EN, threshold=above_all, fallback_threshold=best.score)
    assert too_high.highlights == []  # strictly above, like the threshold
    # when sentences pass the threshold the fallback changes nothing
    low = xlmr.highlight("capital of France", DOC_EN, threshold=0.0, fallback_threshold=0.0)
    assert [s.index for s in low.highlights] == [s.index for s in base.highlights]
    # min_score gates the document first
    gated = xlmr.highlight(
        "capital of France", DOC_EN, threshold=above_all, fallback_threshold=0.0, min_score=above_all
    )
    assert gated.highlights == []


def test_fallback_threshold_default_comes_from_the_checkpoint(tmp_path: Path) -> None:
    import shutil

    from conftest import FIXTURES

    if not (FIXTURES / "op-tiny-xlmr").is_dir():
        pytest.skip("../shared/fixtures is not available")
    reference = SemanticHighlighter(FIXTURES / "op-tiny-xlmr", device="cpu")
    assert reference.fallback_threshold is None  # reference checkpoints: selection unchanged
    folder = tmp_path / "ckpt"
    shutil.copytree(FIXTURES / "op-tiny-xlmr", folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["default_fallback_threshold"] = 0.0
    (folder / "config.json").write_text(json.dumps(cfg))
    h = SemanticHighlighter(folder, device="cpu", threshold=1.0)
    assert h.fallback_threshold == 0.0
    r = h.highlight("capital of France", DOC_EN)
    assert len(r.highlights) == 1 and r.highlights[0].score == r.score
    assert h.highlight("capital of France", DOC_EN, fallback_threshold=1.0).highlights == []  # 1.0 turns it off
    assert (
        SemanticHighlighter(folder, device="cpu", threshold=1.0, fallback_threshold=1.0)
        .highlight("capital of France", DOC_EN)
        .highlights
        == []
    )
    with pytest.raises(TypeError, match="fallback_threshold must be a number"):
        h.highlight("q", DOC_EN, fallback_threshold="low")  # type: ignore[arg-type]


def test_relative_threshold_default_comes_from_the_checkpoint(tmp_path: Path) -> None:
    import shutil

    from conftest import FIXTURES

    if not (FIXTURES / "op-tiny-xlmr").is_dir():
        pytest.skip("../shared/fixtures is not available")
    assert SemanticHighlighter(FIXTURES / "op-tiny-xlmr", device="cpu").relative_threshold is None
    folder = tmp_path / "ckpt"
    shutil.copytree(FIXTURES / "op-tiny-xlmr", folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(default_fallback_threshold=0.0, default_relative_threshold=0.5)
    (folder / "config.json").write_text(json.dumps(cfg))
    h = SemanticHighlighter(folder, device="cpu", threshold=1.0)
    assert h.relative_threshold == 0.5
    r = h.highlight("capital of France", DOC_EN)
    assert [s.index for s in r.highlights] == [s.index for s in r.sentences if s.score >= 0.5 * r.score]
    assert r.relative_threshold == 0.5 and r.to_dict()["relative_threshold"] == 0.5
    off = h.highlight("capital of France", DOC_EN, relative_threshold=1.0)  # 1.0: the best sentence alone
    assert [s.score for s in off.highlights] == [r.score]
    everything = SemanticHighlighter(folder, device="cpu", threshold=1.0, relative_threshold=1e-6)
    assert len(everything.highlight("capital of France", DOC_EN).highlights) == len(r.sentences)
    for bad in (0.0, 1.5, -0.2):
        with pytest.raises(ValueError, match="relative_threshold must be in"):
            h.highlight("q", DOC_EN, relative_threshold=bad)
    with pytest.raises(ValueError, match="relative_threshold must be in"):
        SemanticHighlighter(folder, device="cpu", relative_threshold=2)
    with pytest.raises(TypeError, match="relative_threshold must be a number"):
        h.highlight("q", DOC_EN, relative_threshold="half")  # type: ignore[arg-type]
    for bad_default in (1.5, 0, "half"):  # a hand-edited config.json fails at load, naming the file
        cfg["default_relative_threshold"] = bad_default
        (folder / "config.json").write_text(json.dumps(cfg))
        with pytest.raises(ModelFormatError, match=r"config\.json: default_relative_threshold must be a number in"):
            SemanticHighlighter(folder, device="cpu")


def test_highlight_batch_matches_separate_calls(xlmr: SemanticHighlighter) -> None:
    pairs = [("capital of France", [DOC_EN, DOC_ZH]), ("香蕉", [DOC_ZH]), ("tower", [])]
    batched = xlmr.highlight_batch(pairs, threshold=0.3)
    assert [len(rs) for rs in batched] == [2, 1, 0]
    for (query, docs), results in zip(pairs, batched, strict=True):
        for doc, r in zip(docs, results, strict=True):
            alone = xlmr.highlight(query, doc, threshold=0.3)
            assert r.query == query
            assert [s.score for s in r.sentences] == pytest.approx([s.score for s in alone.sentences], abs=1e-5)


def test_inputs_are_not_mutated(xlmr: SemanticHighlighter) -> None:
    docs: list[Any] = [DOC_EN, ["A. ", "B."], ""]
    before = copy.deepcopy(docs)
    xlmr.highlight("q", docs)
    assert docs == before


@pytest.mark.parametrize(
    ("query", "documents", "error", "message"),
    [
        (None, "doc", TypeError, "query must be a str"),
        (3, "doc", TypeError, "query must be a str"),
        ("q", None, TypeError, "documents must be"),
        ("q", 42, TypeError, "documents must be"),
        ("q", ["ok", None], TypeError, r"documents\[1\]"),
        ("q", [["ok", 5]], TypeError, r"documents\[0\]\[1\]"),
        ("q", [b"bytes"], TypeError, r"documents\[0\]"),
    ],
)
def test_bad_input_raises_clear_errors(
    xlmr: SemanticHighlighter, query: Any, documents: Any, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        xlmr.highlight(query, documents)


def test_bad_options(xlmr: SemanticHighlighter) -> None:
    with pytest.raises(TypeError, match="threshold"):
        xlmr.highlight("q", "d", threshold="high")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="top_k"):
        xlmr.highlight("q", "d", top_k=-1)
    for bad in (float("nan"), float("inf")):  # NaN would silently select nothing
        with pytest.raises(ValueError, match="threshold must be finite"):
            xlmr.highlight("q", "d", threshold=bad)
    with pytest.raises(TypeError, match="top_k"):  # a wrong type is a TypeError everywhere
        xlmr.highlight("q", "d", top_k=2.0)  # type: ignore[arg-type]
    plain = xlmr.highlight("capital", DOC_EN, threshold=0.25, top_k=2)
    numpy_options = xlmr.highlight("capital", DOC_EN, threshold=np.float32(0.25), top_k=np.int64(2))
    assert numpy_options.highlights == plain.highlights and numpy_options.threshold == plain.threshold
    with pytest.raises(TypeError, match="pairs"):
        xlmr.highlight_batch("not pairs")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pairs\[0\]"):
        xlmr.highlight_batch([("only query",)])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "doc",
    [
        "",
        "   \n\t ",
        "\r\n\r\n",
        "Line one.\r\nLine two.\r\n",
        "NBSP\u00a0here. Emoji 😀🚀 ok!",
        "ctrl\x00\x07chars. Zero\u200bwidth.",
        "\ufeffBOM start.",
        "Lone \ud800 surrogate. Undecodable \udcff byte.",  # e.g. bytes read with surrogateescape
        "\u200b\u2060",  # invisible, but not whitespace to Python
    ],
)
def test_odd_documents(xlmr: SemanticHighlighter, doc: str) -> None:
    r = xlmr.highlight("question", doc)
    assert r.text == doc
    for s in r.sentences:
        assert doc[s.start : s.end] == s.text
    if not doc.strip():
        assert r.sentences == () and r.highlights == []
    if doc == "\u200b\u2060":  # documented: not blank to Python, so one sentence, scored like any text
        assert [(s.text, s.start, s.end) for s in r.sentences] == [(doc, 0, 2)] and 0.0 <= r.sentences[0].score <= 1.0
    if "\ud800" in doc:  # scored as U+FFFD (one character for one), reported as given
        replaced = xlmr.highlight("question", doc.replace("\ud800", "\ufffd").replace("\udcff", "\ufffd"))
        assert [s.score for s in r.sentences] == [s.score for s in replaced.sentences]
        assert [s.score for s in xlmr.highlight("question \udcff", doc).sentences] == [
            s.score for s in xlmr.highlight("question \ufffd", doc).sentences
        ]


def test_long_document_is_windowed_never_truncated(xlmr: SemanticHighlighter) -> None:
    text = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(400))
    windows = xlmr._plan(["which topic"], [_pair(text)], "end")
    assert len(windows) > 20
    model = xlmr.model
    scored = [t for w in windows for f in w.fragments for t in w.input_ids[f.start : f.end]]
    spans = _pair(text).spans
    expected = [t for a, b in spans for t in model.tokenizer.encode(text[a:b], add_special_tokens=False).ids]
    assert scored == expected
    r = xlmr.highlight("which topic", text)
    assert len(r.sentences) == 400 and all(s.score > 0 for s in r.sentences)


PASSAGES = [  # 23, 34 and 35 tokens on the tiny model, whose windows hold 56 after "Where is Paris?"
    "The harbour froze over in the winter of 1709. Merchants sold grain at triple the price.",
    "Paris is the capital and most populous city of France, with two million residents. "
    "It is situated on the Seine River, in the north of the country.",
    "Bananas are an excellent source of potassium and vitamin B6 for athletes. "
    "They ripen faster when kept next to apples in a paper bag.",
]


def test_a_passage_of_a_joined_tool_output_scores_as_on_its_own(xlmr: SemanticHighlighter) -> None:
    from conftest import FIXTURES

    xlmr_dir = FIXTURES / "op-tiny-xlmr"
    query = "Where is Paris?"
    alone = [s.score for s in xlmr.highlight(query, PASSAGES[1] + "\n\n").sentences]  # its text in the join
    joined = xlmr.highlight(query, "\n\n".join(PASSAGES))
    assert [s.text.strip() for s in joined.sentences[2:4]] == PASSAGES[1].replace(". ", ".\n").splitlines()
    assert [s.score for s in joined.sentences[2:4]] == pytest.approx(alone, abs=1e-5)
    greedy = SemanticHighlighter(model=xlmr_dir, device="cpu", dtype="float32", paragraph_windows=False)
    packed = greedy.highlight(query, "\n\n".join(PASSAGES))
    assert [s.score for s in packed.sentences[2:4]] != pytest.approx(alone, abs=1e-5)  # the neighbours mattered
    assert [(s.start, s.end) for s in packed.sentences] == [(s.start, s.end) for s in joined.sentences]
    with pytest.raises(TypeError, match="paragraph_windows"):
        SemanticHighlighter(model=xlmr_dir, paragraph_windows="yes")  # type: ignore[arg-type]


def test_one_megabyte_document(xlmr: SemanticHighlighter) -> None:
    text = ("Plants make sugar from light. 植物利用光合作用制造糖。 " * 30_000)[:1_000_000]
    r = xlmr.highlight("photosynthesis", text)
    assert len(r.sentences) > 40_000
    assert r.sentences[-1].end == len(text)


def test_thread_safety_matches_serial(xlmr: SemanticHighlighter) -> None:
    jobs = [
        (f"query {i}", [DOC_EN, DOC_ZH][: 1 + i % 2] + ([["Pre. ", "Split."]] if i % 3 == 0 else [])) for i in range(24)
    ]
    serial = [xlmr.highlight(q, d) for q, d in jobs]
    barrier = threading.Barrier(8)

    def run(index: int) -> list[HighlightResult]:
        if index < 8:  # start the first eight calls at the same moment
            barrier.wait(timeout=30)
        return xlmr.highlight(*jobs[index])

    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(run, range(len(jobs))))
    for a, b in zip(serial, parallel, strict=True):
        flat_a = [s.score for r in a for s in r.sentences]
        flat_b = [s.score for r in b for s in r.sentences]
        assert flat_b == pytest.approx(flat_a, abs=1e-5)


def test_device_and_dtype_resolution() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")).type == "cpu"
    assert resolve_dtype(None, torch.device("cpu")) == torch.float32
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    assert resolve_dtype(torch.float16, torch.device("cpu")) == torch.float16
    with pytest.raises(ValueError, match="unsupported dtype"):
        resolve_dtype("int4", torch.device("cpu"))
    with pytest.raises(TypeError, match="device"):
        resolve_device(3)  # type: ignore[arg-type]


def test_bf16_autocast_on_cpu_stays_close(xlmr: SemanticHighlighter) -> None:
    from conftest import FIXTURES

    h = SemanticHighlighter(model=str(FIXTURES / "op-tiny-xlmr"), device="cpu", dtype="bfloat16")
    a = xlmr.highlight("capital of France", DOC_EN)
    b = h.highlight("capital of France", DOC_EN)
    assert [s.score for s in b.sentences] == pytest.approx([s.score for s in a.sentences], abs=0.05)


def test_int8_dynamic_quantization_on_cpu_stays_close(xlmr: SemanticHighlighter) -> None:
    import warnings

    from conftest import FIXTURES

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecation noise from quantization reaches the user
        h = SemanticHighlighter(model=str(FIXTURES / "op-tiny-xlmr"), device="cpu", dtype="int8")
    quantized = [m for m in h.model.ranking_model.modules() if "quantized" in type(m).__module__]
    assert quantized, "no Linear layer was quantized"
    kept = [m for m in h.model.ranking_model.modules() if type(m) is torch.nn.Linear]
    assert kept and all(m.in_features > m.out_features for m in kept)  # down-projections stay fp32
    a = xlmr.highlight("capital of France", DOC_EN)
    b = h.highlight("capital of France", DOC_EN)
    assert [s.score for s in b.sentences] == pytest.approx([s.score for s in a.sentences], abs=0.05)
    with pytest.raises(ValueError, match="CPU only"):  # checked on the resolved device, before any weights load
        resolve_dtype("int8", torch.device("meta"))


def test_unknown_or_missing_model(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a checkpoint folder"):
        SemanticHighlighter(model=str(tmp_path / "missing"))
    with pytest.raises(ModelFormatError, match=r"no config\.json"):
        SemanticHighlighter(model=str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelFormatError, match="unknown checkpoint format"):
        SemanticHighlighter(model=str(tmp_path))
    with pytest.raises(TypeError, match="model must be"):
        SemanticHighlighter(model=3)  # type: ignore[arg-type]


def test_pickle_weights_are_never_loaded(tmp_path: Path) -> None:
    from conftest import FIXTURES

    src = FIXTURES / "op-tiny-xlmr"
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelFormatError, match="only safetensors"):
        SemanticHighlighter(model=str(tmp_path))


def test_html_is_escaped(xlmr: SemanticHighlighter) -> None:
    r = xlmr.highlight("q", "<b>bold</b> & co. Second <i>one</i>.", threshold=0.0)
    page = r.to_html()
    assert "<b>" not in page and "&lt;b&gt;" in page and page.count("<mark") == len(r.highlights)
    assert r._repr_html_().count("<mark") == len(r.highlights)


def _pair(text: str) -> Any:
    from semantic_highlight.highlighter import _PreparedDocument
    from semantic_highlight.splitting import split_sentences

    return _PreparedDocument(0, text, [(s.start, s.end) for s in split_sentences(text)])


def test_on_batch_reports_progress(xlmr: SemanticHighlighter) -> None:
    calls: list[tuple[int, int]] = []
    long_doc = " ".join(f"Sentence {i} is here." for i in range(300))
    xlmr.highlight("q", [long_doc, DOC_EN], on_batch=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1] > 1
    assert [d for d, _ in calls] == sorted({d for d, _ in calls})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"threshold": 10**400}, ValueError, "threshold must be finite"),
        ({"min_score": -(10**400)}, ValueError, "min_score must be finite"),
        ({"fallback_threshold": 10**400}, ValueError, "fallback_threshold must be finite"),
        ({"relative_threshold": 10**400}, ValueError, "relative_threshold must be finite"),
        ({"top_k": "2"}, TypeError, "top_k must be an int"),
        ({"top_k": True}, TypeError, "top_k must be an int"),
        ({"top_k": -1}, ValueError, "top_k must be an int >= 0"),
        ({"min_score": "0.5"}, TypeError, "min_score must be a number"),
        ({"on_batch": "print"}, TypeError, "on_batch must be callable"),
        ({"show_progress": "yes"}, TypeError, "show_progress must be a bool"),
        ({"selection": {"threshold": 0.3}}, TypeError, "selection must be a SelectionOptions"),
    ],
)
def test_bad_call_options_fail_before_scoring(
    xlmr: SemanticHighlighter, kwargs: dict[str, Any], error: type, match: str
) -> None:
    stats: list[object] = []
    xlmr.scheduler.add_listener(stats.append)
    try:
        with pytest.raises(error, match=match):
            xlmr.highlight("q", DOC_EN, **kwargs)
    finally:
        xlmr.scheduler.remove_listener(stats.append)
    assert stats == []  # nothing reached the model


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"threshold": 10**400}, ValueError, "threshold must be finite"),
        ({"max_padding": "0.2"}, TypeError, "max_padding must be a number"),
        ({"max_padding": -1}, ValueError, "max_padding must be >= 0"),
        ({"max_padding": float("nan")}, ValueError, "max_padding must be finite"),
        ({"max_batch_tokens": True}, TypeError, "max_batch_tokens must be an int"),
        ({"max_batch_tokens": 0}, ValueError, "max_batch_tokens must be an int >= 1"),
        ({"max_batch_tokens": 512.0}, TypeError, "max_batch_tokens must be an int"),
        ({"max_sentence_chars": 2.5}, TypeError, "max_sentence_chars must be an int"),
        ({"max_sentence_chars": 0}, ValueError, "max_sentence_chars must be an int >= 1"),
        ({"top_k": -2}, ValueError, "top_k"),
        ({"max_wait_ms": "5"}, TypeError, "max_wait_ms"),
        ({"max_queue": 0}, ValueError, "max_queue"),
        ({"show_progress": 1}, TypeError, "show_progress"),
    ],
)
def test_bad_constructor_options_fail_before_loading(
    tmp_path: Path, kwargs: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):  # the folder is empty: loading would fail with another error
        SemanticHighlighter(model=str(tmp_path), **kwargs)


def test_selection_options_object(xlmr: SemanticHighlighter) -> None:
    from semantic_highlight import SelectionOptions

    opts = SelectionOptions(threshold=np.float32(0.25), top_k=np.int64(2))
    assert (
        type(opts.threshold) is float and type(opts.top_k) is int and opts.kwargs() == {"threshold": 0.25, "top_k": 2}
    )
    assert xlmr.highlight("capital", DOC_EN, selection=opts) == xlmr.highlight(
        "capital", DOC_EN, threshold=0.25, top_k=2
    )
    assert xlmr.highlight("capital", DOC_EN, selection=opts, top_k=1).highlights == (
        xlmr.highlight("capital", DOC_EN, threshold=0.25, top_k=1).highlights  # a keyword overrides the object
    )
    resolved = xlmr.resolve_selection(opts)
    assert resolved == SelectionOptions(threshold=0.25, top_k=2).resolve(xlmr.selection)
    assert resolved.threshold == 0.25 and xlmr.selection.threshold == xlmr.model.default_threshold
    assert SelectionOptions().resolve(SelectionOptions(min_score=0.5)).min_score == 0.5
    assert SelectionOptions(top_k=3).override(top_k=None, min_score=0.1) == SelectionOptions(top_k=3, min_score=0.1)
    with pytest.raises(TypeError):
        SelectionOptions(top_k=3).override(topk=2)  # a typo names the field
    with pytest.raises(ValueError, match="relative_threshold"):
        SelectionOptions(relative_threshold=0)
    with pytest.raises(AttributeError):
        opts.threshold = 0.5  # type: ignore[misc]  # frozen
    h = SemanticHighlighter(xlmr.model.name, device="cpu", selection=opts, threshold=0.3)
    assert h.selection.threshold == 0.3 and h.selection.top_k == 2
    assert len(h.highlight("capital", DOC_EN, threshold=0.0).highlights) == 2  # the instance's top_k applies


@pytest.mark.parametrize(
    "doc",
    [
        ["\nItem one\nItem two"],
        ["A. ", "  ", "\nItem one\nItem two"],
        ["", "\n\nItem one\n\n\nItem two\n \n"],
        ["Intro line\n", "\n \n", "one\ntwo\n"],
    ],
)
def test_presplit_input_never_gives_a_blank_sentence(xlmr: SemanticHighlighter, doc: list[str]) -> None:
    r = xlmr.highlight("q", [doc])[0]
    assert r.text == "".join(doc)
    assert r.sentences and all(s.text.strip() for s in r.sentences)
    assert all(r.text[s.start : s.end] == s.text for s in r.sentences)
    assert [s.text.strip() for s in r.sentences if "Item" in s.text] in ([], ["Item one", "Item two"])


def test_presplit_spans_fuzz() -> None:
    """Bounded fuzz: spans are ordered, inside the text, never blank, and cover every non-blank line."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from semantic_highlight.highlighter import _presplit_spans

    piece = st.sampled_from(["", " ", "\n", "\r\n", "Item", "one.", "two?", "\t", "文。", "x"])
    entry = st.lists(piece, max_size=8).map("".join)

    @settings(max_examples=400, deadline=None)
    @given(st.lists(entry, max_size=8))
    def check(entries: list[str]) -> None:
        text, spans = _presplit_spans(entries)
        assert text == "".join(entries)
        assert all(a < b and text[a:b].strip() for a, b in spans)
        assert all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(spans))
        covered = "".join(text[a:b] for a, b in spans)
        assert "".join(covered.split()) == "".join(text.split())  # no visible character lost

    check()


def test_selection_options_fuzz() -> None:
    """Bounded fuzz: any value either builds valid options or raises TypeError/ValueError naming the field."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from semantic_highlight import SelectionOptions

    value = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**500), max_value=10**500),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=3),
        st.just(np.float32(0.5)),
        st.just(np.int64(3)),
    )
    names = ["threshold", "fallback_threshold", "relative_threshold", "top_k", "min_score"]

    @settings(max_examples=500, deadline=None)
    @given(st.sampled_from(names), value)
    def check(name: str, v: object) -> None:
        try:
            opts = SelectionOptions(**{name: v})
        except (TypeError, ValueError) as exc:
            assert name in str(exc)
        else:
            got = getattr(opts, name)
            assert got is None or type(got) is (int if name == "top_k" else float)

    check()
