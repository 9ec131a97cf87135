"""SemanticHighlighter behaviour on the tiny fixture checkpoint: shapes, options, bad input, threads."""

from __future__ import annotations

import copy
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
    with pytest.raises(ValueError, match="top_k"):
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
    windows = xlmr._plan(["which topic"], [_pair(text)])
    assert len(windows) > 20
    model = xlmr.model
    scored = [t for w in windows for f in w.fragments for t in w.input_ids[f.start : f.end]]
    spans = _pair(text).spans
    expected = [t for a, b in spans for t in model.tokenizer.encode(text[a:b], add_special_tokens=False).ids]
    assert scored == expected
    r = xlmr.highlight("which topic", text)
    assert len(r.sentences) == 400 and all(s.score > 0 for s in r.sentences)


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
    with pytest.raises(ValueError, match="CPU only"):
        SemanticHighlighter(model=str(FIXTURES / "op-tiny-xlmr"), device="meta", dtype="int8")


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
    from semantic_highlight.highlighter import _Pair
    from semantic_highlight.splitting import split_sentences

    return _Pair(0, text, [(s.start, s.end) for s in split_sentences(text)])


def test_on_batch_reports_progress(xlmr: SemanticHighlighter) -> None:
    calls: list[tuple[int, int]] = []
    long_doc = " ".join(f"Sentence {i} is here." for i in range(300))
    xlmr.highlight("q", [long_doc, DOC_EN], on_batch=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1] > 1
    assert [d for d, _ in calls] == sorted({d for d, _ in calls})
