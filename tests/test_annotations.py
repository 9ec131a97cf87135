"""semantic_highlight.annotations: the framework-free logic behind the LangChain and LlamaIndex wrappers."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from conftest import mixed_threshold
from semantic_highlight import HighlightResult, Sentence, split_sentences
from semantic_highlight.annotations import (
    DEFAULT_METADATA_KEY,
    AnnotateOptions,
    ChunkAnnotation,
    annotate_chunks,
    annotation_html,
    annotation_metadata,
    bad_content_reason,
    kept_sentences,
    prune,
    select_chunks,
)

TEXT = "  Alpha one. Beta two!  Gamma three?\nDelta four. Epsilon five."
ZH = "巴黎是法国的首都。它位于塞纳河畔。香蕉是黄色的。埃菲尔铁塔在巴黎。"


def make_result(
    text: str, selected: set[int], scores: list[float] | None = None, threshold: float = 0.5
) -> HighlightResult:
    spans = split_sentences(text)
    scores = scores or [0.9 if i in selected else 0.1 for i in range(len(spans))]
    sentences = tuple(Sentence(i, s.text, s.start, s.end, scores[i], i in selected) for i, s in enumerate(spans))
    return HighlightResult("q", text, sentences, threshold, None, "m")


def chunk(index: int, score: float | None, highlighted: bool = True) -> ChunkAnnotation:
    if score is None:
        return ChunkAnnotation(index, None, None, None)
    result = make_result("One. Two.", {0} if highlighted else set(), [score, 0.0])
    return ChunkAnnotation(index, result.text, {}, result)


def test_split_fixture_text_has_five_sentences() -> None:
    assert [s.text for s in split_sentences(TEXT)] == [
        "Alpha one. ",
        "Beta two!  ",
        "Gamma three?\n",
        "Delta four. ",
        "Epsilon five.",
    ]


@pytest.mark.parametrize(
    ("selected", "context", "expected"),
    [
        ({2}, 0, [2]),
        ({2}, 1, [1, 2, 3]),
        ({0}, 1, [0, 1]),
        ({4}, 2, [2, 3, 4]),
        ({0, 4}, 1, [0, 1, 3, 4]),
        ({1}, 10, [0, 1, 2, 3, 4]),
        (set(), 3, []),
    ],
)
def test_kept_sentences_adds_context_neighbours(selected: set[int], context: int, expected: list[int]) -> None:
    result = make_result(TEXT, selected)
    assert [s.index for s in kept_sentences(result, context)] == expected


def test_prune_keeps_document_order_whitespace_and_maps_back() -> None:
    result = make_result(TEXT, {0, 3})
    text, segments = prune(result)
    assert text == "Alpha one. Delta four. "
    assert segments == [
        {"start": 2, "end": 13, "pruned_start": 0, "pruned_end": 11},
        {"start": 37, "end": 49, "pruned_start": 11, "pruned_end": 23},
    ]
    for seg in segments:
        assert text[seg["pruned_start"] : seg["pruned_end"]] == TEXT[seg["start"] : seg["end"]]


def test_prune_merges_contiguous_sentences_into_one_segment() -> None:
    result = make_result(TEXT, {1, 2})
    text, segments = prune(result, context_sentences=1)
    assert text == "Alpha one. Beta two!  Gamma three?\nDelta four. "
    assert len(segments) == 1
    seg = segments[0]
    assert TEXT[seg["start"] : seg["end"]] == text == text[seg["pruned_start"] : seg["pruned_end"]]


def test_prune_with_nothing_selected_is_empty() -> None:
    assert prune(make_result(TEXT, set()), context_sentences=2) == ("", [])


def test_annotation_metadata_annotate_mode_has_exactly_the_documented_keys() -> None:
    result = make_result(TEXT, {1, 4}, threshold=0.25)
    text, meta = annotation_metadata(result, "annotate")
    assert text == TEXT
    assert set(meta) == {"spans", "score", "model", "threshold"}
    assert meta["model"] == "m" and meta["threshold"] == 0.25 and meta["score"] == pytest.approx(0.9)
    assert [set(s) for s in meta["spans"]] == [{"start", "end", "text", "score"}] * 2
    for span in meta["spans"]:
        assert TEXT[span["start"] : span["end"]] == span["text"]
    assert [s["text"] for s in meta["spans"]] == ["Beta two!  ", "Epsilon five."]


def test_annotation_metadata_prune_mode_keeps_original_and_pruned_offsets() -> None:
    result = make_result(TEXT, {1, 4})
    text, meta = annotation_metadata(result, "prune", context_sentences=1)
    assert text == "Alpha one. Beta two!  Gamma three?\nDelta four. Epsilon five."
    for span in meta["spans"]:
        assert TEXT[span["start"] : span["end"]] == span["text"]
        assert text[span["pruned_start"] : span["pruned_end"]] == span["text"]
    for seg in meta["segments"]:
        assert text[seg["pruned_start"] : seg["pruned_end"]] == TEXT[seg["start"] : seg["end"]]


def test_annotation_metadata_is_json_serialisable() -> None:
    import json

    _, meta = annotation_metadata(make_result(TEXT, {2}), "prune", 1)
    assert json.loads(json.dumps(meta)) == meta


def test_annotation_html_marks_spans_in_original_and_pruned_text() -> None:
    result = make_result("A <b> & c. Plain. Last one.", {0, 2})
    _, meta = annotation_metadata(result, "annotate")
    assert annotation_html(result.text, meta) == annotation_html(result.text, meta) == result.to_html()
    assert "<mark>A &lt;b&gt; &amp; c.</mark> Plain. <mark>Last one.</mark>" in annotation_html(result.text, meta)
    pruned, pmeta = annotation_metadata(result, "prune")
    assert pruned == "A <b> & c. Last one."
    assert "<mark>A &lt;b&gt; &amp; c.</mark> <mark>Last one.</mark>" in annotation_html(pruned, pmeta)
    assert "<mark>Last one.</mark>" in annotation_html(result.text, pmeta)  # original text, prune metadata
    assert 'title="0.900"' in annotation_html(result.text, meta, show_scores=True)
    assert "<mark" not in annotation_html("x < y", None) and "x &lt; y" in annotation_html("x < y", None)


def test_annotation_metadata_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        annotation_metadata(make_result(TEXT, {1}), "redact")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"mode": "redact"}, ValueError),
        ({"top_n": 0}, ValueError),
        ({"top_n": True}, TypeError),  # a bool is not a count (issue 23 item 7: wrong type -> TypeError)
        ({"top_k": -1}, ValueError),
        ({"context_sentences": -1}, ValueError),
        ({"context_sentences": None}, ValueError),
        ({"threshold": "0.5"}, TypeError),
        ({"fallback_threshold": True}, TypeError),
        ({"relative_threshold": "0.5"}, TypeError),
        ({"relative_threshold": 0.0}, ValueError),
        ({"relative_threshold": 1.2}, ValueError),
        ({"drop_empty": "yes"}, TypeError),
    ],
)
def test_options_are_validated(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        AnnotateOptions(**kwargs)


def test_drop_empty_defaults_to_the_mode() -> None:
    assert AnnotateOptions(mode="annotate").drops_empty is False
    assert AnnotateOptions(mode="prune").drops_empty is True
    assert AnnotateOptions(mode="prune", drop_empty=False).drops_empty is False
    assert AnnotateOptions(mode="annotate", drop_empty=True).drops_empty is True


@pytest.mark.parametrize(
    ("content", "bad"),
    [("text", False), ("", True), ("  \n", True), (None, True), (b"bytes", True), (3, True), (["a"], True)],
)
def test_bad_content_reason(content: object, bad: bool) -> None:
    assert (bad_content_reason(content) is not None) is bad


def test_select_chunks_drop_empty_keeps_pass_through() -> None:
    chunks = [chunk(0, 0.8), chunk(1, 0.2, highlighted=False), chunk(2, None), chunk(3, 0.5)]
    assert [c.index for c in select_chunks(chunks, AnnotateOptions(mode="annotate"))] == [0, 1, 2, 3]
    assert [c.index for c in select_chunks(chunks, AnnotateOptions(mode="prune"))] == [0, 2, 3]


def test_select_chunks_top_n_reorders_by_score_pass_through_last_ties_stable() -> None:
    chunks = [chunk(0, 0.5), chunk(1, None), chunk(2, 0.9), chunk(3, 0.5), chunk(4, 0.7, highlighted=False)]
    opts = AnnotateOptions(top_n=10)
    assert [c.index for c in select_chunks(chunks, opts)] == [2, 4, 0, 3, 1]
    assert [c.index for c in select_chunks(chunks, AnnotateOptions(top_n=2))] == [2, 4]
    assert [c.index for c in select_chunks(chunks, AnnotateOptions(top_n=3, drop_empty=True))] == [2, 0, 3]


# --- with a real model ------------------------------------------------------------------------------

QUERY = "Where is the Eiffel Tower and how tall is it?"
DOCS = [
    "The Eiffel Tower is in Paris. It is about 330 metres tall. Bananas are rich in potassium.",
    "Cats sleep for most of the day. The tower was finished in 1889. It was built by Gustave Eiffel's company.",
    ZH,
]


@pytest.fixture(scope="module")
def threshold(highlighter: Any) -> float:
    return mixed_threshold(highlighter, QUERY, DOCS)


def test_annotate_chunks_matches_the_engine_and_passes_bad_content_through(
    highlighter: Any, threshold: float, caplog: pytest.LogCaptureFixture
) -> None:
    contents: list[object] = [DOCS[0], "", None, DOCS[1], "   ", DOCS[2]]
    with caplog.at_level(logging.WARNING, logger="semantic_highlight.annotations"):
        batch = annotate_chunks(
            highlighter, QUERY, contents, AnnotateOptions(threshold=threshold), labels=["a", "b", "c", "d", "e", "f"]
        )
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "chunk b" in warned and "chunk c" in warned and "chunk e" in warned and "chunk a" not in warned
    assert [c.index for c in batch.kept] == list(range(6))
    assert [c.passed_through for c in batch.chunks] == [False, True, True, False, True, False]
    expected = highlighter.highlight(QUERY, DOCS, threshold=threshold)
    scored = [c for c in batch.chunks if not c.passed_through]
    for c, r in zip(scored, expected, strict=True):
        assert c.text == r.text
        assert c.metadata is not None
        assert [s["text"] for s in c.metadata["spans"]] == [s.text for s in r.highlights]
        assert c.metadata["threshold"] == pytest.approx(threshold)
    assert batch.stats() == {
        "mode": "annotate",
        "chunks": 6,
        "scored": 3,
        "highlighted": sum(1 for r in expected if r.highlights),
        "passed_through": 3,
        "returned": 6,
        "seconds": batch.seconds,
    }


def test_annotate_chunks_scores_text_with_lone_surrogates(highlighter: Any) -> None:
    """A chunk with an undecodable byte (a lone surrogate) is scored; the batch around it is not lost."""
    odd = DOCS[1][:10] + "\udcff" + DOCS[1][10:]
    batch = annotate_chunks(highlighter, QUERY, [DOCS[0], odd, DOCS[2]], AnnotateOptions(threshold=0.0))
    assert [c.passed_through for c in batch.chunks] == [False, False, False]
    assert batch.chunks[1].text == odd
    spans = batch.chunks[1].metadata["spans"] if batch.chunks[1].metadata else []
    assert any("\udcff" in s["text"] for s in spans)  # threshold 0: every sentence, the odd one included
    assert all(odd[s["start"] : s["end"]] == s["text"] for s in spans)


def test_annotate_chunks_scores_in_one_batched_call(
    highlighter: Any, threshold: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = highlighter.highlight

    def spy(query: str, documents: Any, **kw: Any) -> Any:
        calls.append(len(documents))
        return real(query, documents, **kw)

    monkeypatch.setattr(highlighter, "highlight", spy)
    annotate_chunks(highlighter, QUERY, [*DOCS, *DOCS], AnnotateOptions(threshold=threshold, mode="prune"))
    assert calls == [6]
    calls.clear()
    batch = annotate_chunks(highlighter, QUERY, ["", None], AnnotateOptions(threshold=threshold))
    assert calls == [] and len(batch.kept) == 2


def test_prune_mode_chinese_offsets_map_back(highlighter: Any) -> None:
    result = highlighter.highlight(QUERY, ZH, threshold=-1.0)  # select everything...
    assert len(result.sentences) == 4
    picked = HighlightResult(
        result.query,
        result.text,
        tuple(Sentence(s.index, s.text, s.start, s.end, s.score, s.index == 2) for s in result.sentences),
        result.threshold,
    )
    text, meta = annotation_metadata(picked, "prune", context_sentences=1)
    assert text == "它位于塞纳河畔。香蕉是黄色的。埃菲尔铁塔在巴黎。"
    (span,) = meta["spans"]
    assert ZH[span["start"] : span["end"]] == "香蕉是黄色的。" == text[span["pruned_start"] : span["pruned_end"]]


def test_top_k_limits_spans_per_chunk(highlighter: Any) -> None:
    batch = annotate_chunks(highlighter, QUERY, DOCS, AnnotateOptions(threshold=-1.0, top_k=1))
    assert all(c.metadata is not None and len(c.metadata["spans"]) == 1 for c in batch.chunks)


def test_fallback_threshold_reaches_the_engine(highlighter: Any) -> None:
    # threshold 1.0 selects nothing; the fallback gives every chunk exactly its best sentence (relative rule off)
    options = AnnotateOptions(threshold=1.0, fallback_threshold=-1.0, relative_threshold=1.0)
    batch = annotate_chunks(highlighter, QUERY, DOCS, options)
    for chunk, doc in zip(batch.chunks, DOCS, strict=True):
        best = max(highlighter.highlight(QUERY, doc, threshold=1.0).sentences, key=lambda s: s.score)
        assert chunk.metadata is not None and [(sp["start"], sp["end"]) for sp in chunk.metadata["spans"]] == [
            (best.start, best.end)
        ]
    none = annotate_chunks(highlighter, QUERY, DOCS, AnnotateOptions(threshold=1.0, fallback_threshold=1.0))  # off
    assert all(c.metadata is not None and c.metadata["spans"] == [] for c in none.chunks)


def test_relative_threshold_reaches_the_engine(highlighter: Any) -> None:
    # the fallback keeps each chunk's best sentence; a tiny ratio then brings every other sentence
    options = AnnotateOptions(threshold=1.0, fallback_threshold=-1.0, relative_threshold=1e-9)
    batch = annotate_chunks(highlighter, QUERY, DOCS, options)
    for chunk, doc in zip(batch.chunks, DOCS, strict=True):
        sentences = highlighter.highlight(QUERY, doc, threshold=1.0).sentences
        assert chunk.metadata is not None and len(chunk.metadata["spans"]) == len(sentences)


def test_query_must_be_a_string(highlighter: Any) -> None:
    with pytest.raises(TypeError):
        annotate_chunks(highlighter, None, DOCS)  # type: ignore[arg-type]


def test_default_key() -> None:
    assert DEFAULT_METADATA_KEY == "semantic_highlight"


def test_options_take_the_engines_selection_object() -> None:
    from semantic_highlight.options import SelectionOptions

    base = SelectionOptions(threshold=0.2, top_k=3, min_score=0.1)
    opts = AnnotateOptions(selection=base, top_k=1)  # a keyword overrides the same field of ``selection``
    assert opts.selection == SelectionOptions(threshold=0.2, top_k=1, min_score=0.1)
    assert (opts.threshold, opts.top_k) == (0.2, 1)  # the fields mirror the merged options
    assert AnnotateOptions(threshold=0.4).selection == SelectionOptions(threshold=0.4)
    with pytest.raises(TypeError, match="selection must be a SelectionOptions"):
        AnnotateOptions(selection={"threshold": 0.2})  # type: ignore[arg-type]


def test_min_score_reaches_the_engine_through_the_selection(highlighter: Any) -> None:
    from semantic_highlight.options import SelectionOptions

    texts = ["Paris is the capital of France. Bananas are yellow.", "The Eiffel Tower is in Paris."]
    gated = AnnotateOptions(selection=SelectionOptions(threshold=0.0, min_score=1.0))
    assert all(not c.highlighted for c in annotate_chunks(highlighter, "capital of France", texts, gated).chunks)
    open_ = AnnotateOptions(threshold=0.0)
    assert any(c.highlighted for c in annotate_chunks(highlighter, "capital of France", texts, open_).chunks)
