"""The framework-free part of the agent integrations (``semantic_highlight.agents``): output plans for the
shapes tools return, selection rules (drop, best sentence, note, annotate marks, min_chars) and the record.
Plumbing only: the tiny random fixture with thresholds that select everything or nothing."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from semantic_highlight.agents import (
    DEFAULT_EMPTY_NOTE,
    ToolPruneOptions,
    ToolPruner,
    approximate_tokens,
    aprune_tool_output,
    plan_blocks,
    plan_embedded,
    plan_plain,
    plan_structured,
    plan_text,
    prune_tool_output,
    query_from_args,
)

ALL = {"threshold": -1.0}  # every sentence scores above it
NONE = {"threshold": 1.0, "fallback_threshold": 1.0}  # no sentence does


def test_query_from_args_takes_the_first_non_blank_name() -> None:
    assert query_from_args({"q": "  ", "question": "why?", "query": None}) == ("why?", "question")
    assert query_from_args({"url": "x"}) is None and query_from_args("query") is None
    assert query_from_args({"url": "x"}, ["url"]) == ("x", "url")


def test_plan_text_reads_json_shapes_and_rebuilds_them() -> None:
    hits = [{"title": "a", "snippet": "One."}, {"title": "b", "content": "Two."}, {"id": 3}]
    plan = plan_text(json.dumps(hits))
    assert plan.shape == "json" and plan.items == ["One.", "Two.", None] and plan.scored == [0, 1]
    rebuilt = json.loads(plan.rebuild(["1.", "2.", None], [False, True, True]))
    assert rebuilt == [{"title": "b", "content": "2."}, {"id": 3}]  # objects without text are kept
    wrapped = plan_text(json.dumps({"results": hits[:1], "total": 1}))
    assert json.loads(wrapped.rebuild(["1."], [True])) == {"results": [{"title": "a", "snippet": "1."}], "total": 1}
    single = plan_text('{"text": "Only.", "url": "u"}')
    assert json.loads(single.rebuild(["O."], [True])) == {"text": "O.", "url": "u"} and not single.droppable
    literal = plan_text(str([{"text": "A.", "n": 1}, {"text": "B.", "n": 2}]))  # str() of a list of dicts
    assert literal.rebuild(["A.", "B."], [False, True]) == str([{"text": "B.", "n": 2}])
    assert plan_text("[1, 2, 3]").shape == "text" and plan_text("[not json").shape == "text"
    assert plan_structured(["a", 1]) is not None and plan_structured(42) is None


def test_plan_blocks_keeps_non_text_blocks_and_reads_json_inside_one() -> None:
    image = {"type": "image", "url": "u"}
    plan = plan_blocks([{"type": "text", "text": "A."}, image, "B."])
    assert plan is not None and plan.items == ["A.", None, "B."]
    assert plan.rebuild(["a.", None, "b."], [False, True, True]) == [image, "b."]
    inner = plan_blocks([{"type": "text", "text": json.dumps([{"text": "A."}, {"text": "B."}])}])
    assert inner is not None and inner.shape == "blocks+json"
    assert inner.rebuild(["A.", "b."], [False, True]) == [{"type": "text", "text": json.dumps([{"text": "b."}])}]
    assert plan_blocks([image]) is None


def test_plan_embedded_drops_a_document_with_its_prompt() -> None:
    content = "Source: a\nAlpha text.\n\nSource: b\nBeta text.\n\nSource: c\nGamma text."
    plan = plan_embedded(content, ["Alpha text.", "Beta text.", "Gamma text."])
    assert plan is not None
    assert plan.rebuild(["A.", "B.", "C."], [True, False, True]) == "Source: a\nA.\n\nSource: c\nC."
    assert plan.rebuild(["A.", "B.", "C."], [False, True, True]) == "Source: b\nB.\n\nSource: c\nC."
    assert plan_embedded(content, ["Missing."]) is None


def test_prune_keeps_selected_text_and_records_counts(xlmr: Any) -> None:
    text = "The first sentence. The second one. The third."
    outcome = prune_tool_output(xlmr, "q", plan_plain(text), ToolPruneOptions(min_chars=0, **ALL))
    assert outcome.changed and outcome.output == text
    record = outcome.record
    assert record["chars_before"] == record["chars_after"] == len(text) and record["selected"] == 3
    assert record["tokens_before"] == approximate_tokens(text) and record["on_empty"] is None


def test_nothing_selected_best_sentence_or_note(xlmr: Any) -> None:
    text = "The first sentence. The second one. The third."
    (result,) = xlmr.highlight("q", [text])
    best = max(result.sentences, key=lambda s: (s.score, -s.index))
    kept = prune_tool_output(xlmr, "q", plan_plain(text), ToolPruneOptions(min_chars=0, **NONE))
    assert kept.output == best.text.strip() and kept.record["on_empty"] == "best"
    note = prune_tool_output(xlmr, "q", plan_plain(text), ToolPruneOptions(min_chars=0, on_empty="note", **NONE))
    assert note.output == DEFAULT_EMPTY_NOTE.replace("{query}", "q") and note.record["items_kept"] == 0
    hits = plan_text(json.dumps([{"text": "A one. A two."}, {"text": "B one."}]))
    dropped = prune_tool_output(xlmr, "q", hits, ToolPruneOptions(min_chars=0, **NONE))
    assert len(json.loads(dropped.output)) == 1 and dropped.record["items_kept"] == 1


def test_annotate_marks_and_min_chars(xlmr: Any) -> None:
    text = "First. Second."
    marked = prune_tool_output(xlmr, "q", plan_plain(text), ToolPruneOptions(mode="annotate", min_chars=0, **ALL))
    assert marked.output == "<mark>First.</mark> <mark>Second.</mark>"
    short = prune_tool_output(xlmr, "q", plan_plain(text), ToolPruneOptions(min_chars=100, **ALL))
    assert not short.changed and short.output == text and short.record["skipped"].startswith("shorter")


def test_async_matches_sync_and_unscored_items_pass(xlmr: Any) -> None:
    plan = plan_text(json.dumps([{"text": "A one. A two."}, {"text": "   "}, {"text": "B one."}]))
    options = ToolPruneOptions(min_chars=0, context_sentences=1, **ALL)
    sync = prune_tool_output(xlmr, "q", plan, options)
    assert json.loads(sync.output)[1] == {"text": "   "}  # blank text: not scored, kept as is
    assert asyncio.run(aprune_tool_output(xlmr, "q", plan, options)).output == sync.output


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="mode"):
        ToolPruneOptions(mode="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="context_sentences"):
        ToolPruneOptions(context_sentences=-1)
    with pytest.raises(ValueError, match="empty_note"):
        ToolPruneOptions(empty_note=" ")
    with pytest.raises(TypeError, match="marks"):
        ToolPruneOptions(marks=("<b>",))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="query_args"):
        ToolPruneOptions(query_args="query")  # type: ignore[arg-type]


def test_tool_pruner_finds_the_query_prunes_and_records(xlmr: Any, caplog: pytest.LogCaptureFixture) -> None:
    pruner = ToolPruner.create(xlmr, min_chars=0, query_args=["q", "url"], **ALL)
    assert pruner.find_query("t", {"q": " ", "url": "x"}, "user text") == ("x", "args.url")
    assert pruner.find_query("t", {"query": "y"}, "user text", "human_message") == ("user text", "human_message")
    with caplog.at_level(logging.WARNING):
        assert pruner.find_query("search", {}, "  ") is None
        ToolPruner.passed_through("search", RuntimeError("boom"))
    assert "search output passed through: no query argument and no user message" in caplog.text
    assert "search output passed through unpruned: RuntimeError: boom" in caplog.text
    text = "First. Second."
    outcome = pruner.prune("q", plan_plain(text))
    assert outcome.changed and asyncio.run(pruner.aprune("q", plan_plain(text))).output == outcome.output
    record = pruner.record(outcome, "args.q", text)
    assert record == {"query_source": "args.q", **outcome.record, "original_content": text}
    skipped = ToolPruner.create(xlmr).prune("q", plan_plain(text))  # min_chars=400: left alone
    assert not skipped.changed and "original_content" not in pruner.record(skipped, "args.q", text)
    assert pruner.token_counter is not approximate_tokens and pruner.token_counter(text) > 0  # the model's tokenizer


def test_tool_pruner_checks_options_before_loading_a_model() -> None:
    with pytest.raises(ValueError, match="mode"):
        ToolPruner.create(None, model="/nonexistent/model", mode="x")
    with pytest.raises(TypeError, match="treshold"):
        ToolPruner.create(None, model="/nonexistent/model", treshold=0.5)


def test_approximate_tokens_counts_cjk_per_character() -> None:
    assert approximate_tokens("") == 0 and approximate_tokens("abcdefgh") == 2 and approximate_tokens("埃菲尔铁塔") == 5
