"""Queries the way agents and chat apps write them: long histories, blank and punctuation-only queries."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st
from semantic_highlight import SemanticHighlighter
from semantic_highlight.packing import (
    DEFAULT_QUERY_TRUNCATION,
    LAST_SENTENCES_TOKENS,
    cap_query,
    query_token_limit,
)

DOC = "Paris is the capital of France. Bananas are rich in potassium. The tower was finished in 1889."
QUESTION = "When was the Eiffel Tower finished?"
HISTORY = " ".join(
    f"User: tell me about topic number {i} and its history. Assistant: topic {i} is a long story with many parts."
    for i in range(30)
)
CHAT_QUERY = f"{HISTORY} User: {QUESTION}"


def _kept_query(h: SemanticHighlighter, query: str, truncation: str | None = None) -> list[int]:
    """The query tokens of the first window the engine builds for ``query``."""
    (window, *_) = h.plan([(query, [DOC])], query_truncation=truncation)  # type: ignore[arg-type]
    model = h.model
    offset = len(model.layout.prefix)  # where the query starts
    first_context = window.fragments[0].start - len(model.layout.middle)
    return list(window.input_ids[offset:first_context])


def test_a_long_chat_query_keeps_the_question_by_default(xlmr: SemanticHighlighter) -> None:
    tok = xlmr.model.tokenizer
    full = tok.encode(CHAT_QUERY, add_special_tokens=False).ids
    limit = query_token_limit(xlmr.model.max_length, xlmr.model.max_positions, xlmr.model.layout)
    assert len(full) > limit  # the history alone is over the cap
    assert xlmr.query_truncation == DEFAULT_QUERY_TRUNCATION == "last_sentences"
    assert _kept_query(xlmr, CHAT_QUERY) == _kept_query(xlmr, CHAT_QUERY, "last_sentences")
    end = _kept_query(xlmr, CHAT_QUERY, "end")
    assert end == full[-limit:] and tok.decode(end).endswith(QUESTION)
    start = _kept_query(xlmr, CHAT_QUERY, "start")
    assert start == full[:limit] and QUESTION not in tok.decode(start)
    last = _kept_query(xlmr, CHAT_QUERY, "last_sentences")
    kept = tok.decode(last)
    assert kept.endswith(f"User: {QUESTION}") and len(last) <= LAST_SENTENCES_TOKENS
    assert kept.startswith(("User:", "Assistant:")) and last == full[-len(last) :]  # whole final sentences


def test_last_sentences_keeps_the_final_sentences_within_its_budget(xlmr: SemanticHighlighter) -> None:
    tok = xlmr.model.tokenizer
    short = "The tower is in Paris. When was it finished?"
    assert _kept_query(xlmr, short, "last_sentences") == tok.encode(short, add_special_tokens=False).ids  # fits
    long_last = "Background. " + "very " * (LAST_SENTENCES_TOKENS + 20) + "long question?"
    kept = tok.decode(_kept_query(xlmr, long_last, "last_sentences"))
    assert kept.startswith("very") and kept.endswith("long question?")  # the last sentence alone, over budget
    limit = query_token_limit(xlmr.model.max_length, xlmr.model.max_positions, xlmr.model.layout)
    huge_last = "word " * (limit * 3) + "end?"
    capped = _kept_query(xlmr, huge_last, "last_sentences")
    assert len(capped) == limit and tok.decode(capped).endswith("end?")  # then its last tokens


def test_query_truncation_per_call_and_per_instance(xlmr: SemanticHighlighter) -> None:
    h = SemanticHighlighter(FIXTURES / "op-tiny-xlmr", device="cpu", query_truncation="start")
    assert _kept_query(h, CHAT_QUERY) == _kept_query(xlmr, CHAT_QUERY, "start")
    assert _kept_query(h, CHAT_QUERY, "end") == _kept_query(xlmr, CHAT_QUERY, "end")
    a = xlmr.highlight(CHAT_QUERY, DOC, query_truncation="start")
    b = h.highlight(CHAT_QUERY, DOC)
    assert [s.score for s in a.sentences] == [s.score for s in b.sentences]
    with pytest.raises(ValueError, match="query_truncation must be one of"):
        xlmr.highlight("q", DOC, query_truncation="middle")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="query_truncation must be a str"):
        SemanticHighlighter(FIXTURES / "op-tiny-xlmr", query_truncation=1)  # type: ignore[arg-type]


def test_the_cap_is_logged_once_per_call(xlmr: SemanticHighlighter, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="semantic_highlight.highlighter"):
        xlmr.highlight_batch([(CHAT_QUERY, [DOC, DOC, DOC]), ("short", [DOC]), (CHAT_QUERY + " Again?", [DOC, DOC])])
    records = [r for r in caplog.records if "queries were cut" in r.getMessage()]
    assert len(records) == 1 and records[0].getMessage().startswith("2 of 3 queries")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="semantic_highlight.highlighter"):
        xlmr.highlight("short question", [DOC, DOC])
    assert not caplog.records


@pytest.mark.parametrize(("query", "error"), [("", ValueError), ("   \n\t", ValueError), (None, TypeError)])
def test_blank_queries_are_errors_naming_query(xlmr: SemanticHighlighter, query: object, error: type) -> None:
    with pytest.raises(error, match="query"):
        xlmr.highlight(query, DOC)  # type: ignore[arg-type]
    with pytest.raises(error, match="query"):
        xlmr.highlight_batch([("fine", [DOC]), (query, [DOC])])  # type: ignore[list-item]
    with pytest.raises(error, match="query"):
        xlmr.submit_batch([(query, [DOC])])  # type: ignore[list-item]


@pytest.mark.parametrize("query", ["?!", "……", "—", "？？", " ... ", "🙂"])
def test_a_query_without_letters_or_digits_selects_nothing(xlmr: SemanticHighlighter, query: str) -> None:
    r = xlmr.highlight(query, DOC, threshold=0.0, fallback_threshold=0.0, relative_threshold=0.01)
    assert len(r.sentences) == 3 and all(0.0 <= s.score <= 1.0 for s in r.sentences)  # still scored
    assert r.highlights == [] and r.pruned_text == ""
    assert xlmr.highlight(f"{query} 1889", DOC, threshold=0.0).highlights  # a digit is enough to ask something


def test_cli_blank_query_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from semantic_highlight.cli import main

    if not (FIXTURES / "op-tiny-xlmr").is_dir():
        pytest.skip("../shared/fixtures is not available")
    doc = tmp_path / "doc.txt"
    doc.write_text(DOC, encoding="utf-8")
    assert main(["highlight", "-q", "   ", "-m", str(FIXTURES / "op-tiny-xlmr"), str(doc)]) == 2
    err = capsys.readouterr().err
    assert "query must not be empty" in err and "Traceback" not in err


# --- cap_query on its own: bounded fuzz --------------------------------------------------------------------


@st.composite
def _tokenized(draw: st.DrawFn) -> tuple[list[int], list[tuple[int, int]], str]:
    """A text of words and sentence ends, one token per word with exact offsets (a stand-in tokenizer)."""
    words = draw(
        st.lists(st.sampled_from(["a", "bb", "word", "x.", "why?", "end!", "中文。"]), min_size=1, max_size=200)
    )
    text, offsets = "", []
    for w in words:
        if text:
            text += " "
        offsets.append((len(text), len(text) + len(w)))
        text += w
    return list(range(1, len(words) + 1)), offsets, text


@settings(max_examples=300, deadline=None)
@given(_tokenized(), st.integers(min_value=1, max_value=150), st.sampled_from(["end", "start", "last_sentences"]))
def test_cap_query_properties(tokenized: tuple[list[int], list[tuple[int, int]], str], limit: int, mode: str) -> None:
    ids, offsets, text = tokenized
    kept = cap_query(ids, offsets, text, limit, mode)  # type: ignore[arg-type]
    assert 1 <= len(kept) <= min(len(ids), limit)
    if mode == "start":
        assert kept == ids[: len(kept)]
    else:
        assert kept == ids[len(ids) - len(kept) :]  # a suffix: the end of the query is kept
    if mode != "last_sentences" and len(ids) <= limit:
        assert kept == ids
    if mode == "last_sentences":
        budget = min(limit, LAST_SENTENCES_TOKENS)
        if len(ids) <= budget:
            assert kept == ids
        elif len(kept) < len(ids):  # the cut falls where a sentence starts, unless the last one is over the cap
            first = offsets[len(ids) - len(kept)][0]
            assert first == 0 or text[first - 2] in ".?!。" or len(kept) == limit
