"""LlamaIndex integration: a real VectorStoreIndex with a local embedding, query engines with our
postprocessor and MockLLM (which echoes the prompt it receives), async paths and instrumentation; offline."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("llama_index.core")

import semantic_highlight
from conftest import ROOT, DuckHighlighter, assert_close, mixed_threshold
from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.llms import MockLLM
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.schema import ImageNode, MetadataMode, NodeWithScore, QueryBundle, TextNode
from llama_index.postprocessor.semantic_highlight import (
    SemanticHighlightBatchEvent,
    SemanticHighlightEndEvent,
    SemanticHighlightPostprocessor,
    SemanticHighlightStartEvent,
)

KEY = "semantic_highlight"
QUERY = "How tall is the Eiffel Tower in Paris?"
OTHER_QUERY = "What do cats eat?"

CORPUS = [
    ("eiffel", "The Eiffel Tower is a wrought-iron tower in Paris. It is about 330 metres tall. "
     "Tourists buy crêpes nearby.", {"source": "wiki/eiffel"}),
    ("paris", "Paris is the capital of France. The Seine river crosses the city. "
     "The Eiffel Tower was completed in 1889.", {"source": "wiki/paris"}),
    ("cats", "Cats are obligate carnivores. They eat meat and fish. Many cats sleep sixteen hours a day.",
     {"source": "wiki/cats"}),
    ("tower-zh", "埃菲尔铁塔位于巴黎。铁塔高约三百三十米。附近有很多咖啡馆。", {"source": "zh/eiffel"}),
    ("bananas", "Bananas are rich in potassium. They grow in tropical climates. The fruit is yellow when ripe.",
     {"source": "wiki/bananas"}),
    ("towers", "Tall towers sway in strong wind. Engineers measure the height of a tower in metres. "
     "Steel expands in summer heat.", {"source": "wiki/towers"}),
]  # fmt: skip
TEXTS = {i: t for i, t, _ in CORPUS}


class HashingEmbedding(BaseEmbedding):
    """Deterministic bag-of-words embedding (words and CJK characters hashed into 64 buckets)."""

    @staticmethod
    def _embed(text: str) -> list[float]:
        vec = [0.0] * 64
        for token in re.findall(r"[a-z0-9]+|[\u4e00-\u9fff]", text.lower()):
            vec[int(hashlib.md5(token.encode()).hexdigest(), 16) % 64] += 1.0
        vec[0] += 0.01
        norm = math.sqrt(sum(v * v for v in vec))
        return [v / norm for v in vec]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed(text)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._embed(query)


@cache
def index() -> VectorStoreIndex:
    nodes = [TextNode(id_=i, text=t, metadata=m) for i, t, m in CORPUS]
    return VectorStoreIndex(nodes, embed_model=HashingEmbedding())


def retrieve(query: str = QUERY, k: int = 4) -> list[NodeWithScore]:
    return index().as_retriever(similarity_top_k=k).retrieve(query)


class Collector(BaseEventHandler):
    events: list[BaseEvent]

    @classmethod
    def class_name(cls) -> str:
        return "Collector"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, (SemanticHighlightStartEvent, SemanticHighlightEndEvent)):
            self.events.append(event)


@pytest.fixture
def collector() -> Any:
    root = get_dispatcher()
    handler = Collector(events=[])
    root.add_event_handler(handler)
    yield handler
    root.event_handlers.remove(handler)


@pytest.fixture(scope="module")
def retrieved() -> list[NodeWithScore]:
    return retrieve()


@pytest.fixture(scope="module")
def threshold(highlighter: Any, retrieved: list[NodeWithScore]) -> float:
    return mixed_threshold(highlighter, QUERY, [n.node.get_content() for n in retrieved])


@pytest.fixture(scope="module")
def empty_threshold(highlighter: Any, retrieved: list[NodeWithScore]) -> float:
    scores = sorted(r.score for r in highlighter.highlight(QUERY, [n.node.get_content() for n in retrieved]))
    assert scores[0] < scores[-1]
    return scores[0]


def highlights(highlighter: Any, nodes: list[NodeWithScore], threshold: float, query: str = QUERY) -> dict[str, Any]:
    results = highlighter.highlight(query, [n.node.get_content() for n in nodes], threshold=threshold)
    return {n.node.node_id: r for n, r in zip(nodes, results, strict=True)}


def check_spans(node: NodeWithScore, threshold: float) -> dict[str, Any]:
    meta = node.node.metadata[KEY]
    text = TEXTS[node.node.node_id]
    assert meta["threshold"] == pytest.approx(threshold)
    for span in meta["spans"]:
        assert text[span["start"] : span["end"]] == span["text"] and span["score"] > threshold
    assert KEY in node.node.excluded_llm_metadata_keys and KEY in node.node.excluded_embed_metadata_keys
    return meta


# --- query engines --------------------------------------------------------------------------------------------


def test_query_engine_prune_llm_prompt_has_only_pruned_text(
    highlighter: Any, retrieved: list[NodeWithScore], threshold: float
) -> None:
    pp = SemanticHighlightPostprocessor(highlighter=highlighter, threshold=threshold, mode="prune")
    engine = index().as_query_engine(similarity_top_k=4, node_postprocessors=[pp], llm=MockLLM())
    response = engine.query(QUERY)
    prompt = str(response)  # MockLLM without max_tokens answers with the prompt it received
    expected = highlights(highlighter, retrieved, threshold)
    kept = [s.text.strip() for r in expected.values() for s in r.highlights]
    dropped = [s.text.strip() for r in expected.values() for s in r.sentences if not s.selected]
    assert kept and dropped
    assert all(k in prompt for k in kept)
    assert not any(d in prompt for d in dropped)
    assert KEY not in prompt and "spans" not in prompt and "pruned_start" not in prompt
    assert [n.node.node_id for n in response.source_nodes] == [
        n.node.node_id for n in retrieved if expected[n.node.node_id].highlights
    ]
    for n in response.source_nodes:
        meta = check_spans(n, threshold)
        assert n.node.get_content(MetadataMode.NONE) == expected[n.node.node_id].pruned_text.strip()
        assert [s["text"] for s in meta["spans"]] == [s.text for s in expected[n.node.node_id].highlights]
        for seg in meta["segments"]:
            pruned = n.node.get_content(MetadataMode.NONE)
            assert pruned[seg["pruned_start"] : seg["pruned_end"]] == TEXTS[n.node.node_id][seg["start"] : seg["end"]]


def test_query_engine_annotate_source_nodes_carry_spans(
    highlighter: Any, retrieved: list[NodeWithScore], threshold: float
) -> None:
    pp = SemanticHighlightPostprocessor(highlighter=highlighter, threshold=threshold)
    engine = index().as_query_engine(similarity_top_k=4, node_postprocessors=[pp], llm=MockLLM())
    response = engine.query(QUERY)
    prompt = str(response)
    assert KEY not in prompt and "spans" not in prompt
    assert "source: wiki/" in prompt  # the node's own metadata still reaches the LLM
    expected = highlights(highlighter, retrieved, threshold)
    assert [n.node.node_id for n in response.source_nodes] == [n.node.node_id for n in retrieved]
    for n, before in zip(response.source_nodes, retrieved, strict=True):
        assert n.node.get_content(MetadataMode.NONE) == TEXTS[n.node.node_id] and n.node.get_content() in prompt
        assert n.score == pytest.approx(before.score)  # no top_n: retrieval score kept
        meta = check_spans(n, threshold)
        assert set(meta) == {"spans", "score", "model", "threshold"}
        assert [s["text"] for s in meta["spans"]] == [s.text for s in expected[n.node.node_id].highlights]
        assert KEY not in n.node.get_content(MetadataMode.LLM) and KEY not in n.node.get_content(MetadataMode.EMBED)
        assert KEY in n.node.get_content(MetadataMode.ALL)


async def test_async_query_engine_matches_sync(highlighter: Any, threshold: float, collector: Any) -> None:
    pp = SemanticHighlightPostprocessor(highlighter=highlighter, threshold=threshold, mode="prune")
    engine = index().as_query_engine(similarity_top_k=4, node_postprocessors=[pp], llm=MockLLM())
    sync = engine.query(QUERY)
    got = await engine.aquery(QUERY)
    assert str(got) == str(sync)
    assert [(n.node.node_id, n.node.metadata) for n in got.source_nodes] == [
        (n.node.node_id, n.node.metadata) for n in sync.source_nodes
    ]
    assert [type(e) for e in collector.events] == [SemanticHighlightStartEvent, SemanticHighlightEndEvent] * 2


# --- the postprocessor directly --------------------------------------------------------------------------------


def test_nodes_are_never_mutated_ids_kept(highlighter: Any, retrieved: list[NodeWithScore], threshold: float) -> None:
    nodes = [
        NodeWithScore(node=TextNode(id_=i, text=t, metadata={**m, "tags": ["x"]}), score=0.5) for i, t, m in CORPUS
    ]
    snapshot = [n.model_dump() for n in nodes]
    for mode in ("annotate", "prune"):
        pp = SemanticHighlightPostprocessor(
            highlighter=highlighter, threshold=threshold, mode=mode, on_empty="keep_original"
        )
        out = pp.postprocess_nodes(nodes, query_str=QUERY)
        assert [n.model_dump() for n in nodes] == snapshot
        assert [n.node.node_id for n in out] == [n.node.node_id for n in nodes]
        for new, old in zip(out, nodes, strict=True):
            assert new is not old and new.node is not old.node and new.node.metadata is not old.node.metadata
            # only what changes is copied: new metadata dict and exclusion lists, the caller's own values
            assert {k: v for k, v in new.node.metadata.items() if k != KEY} == old.node.metadata
            assert new.node.metadata["tags"] is old.node.metadata["tags"]
            assert new.node.excluded_llm_metadata_keys is not old.node.excluded_llm_metadata_keys


def test_missing_query_raises(highlighter: Any, retrieved: list[NodeWithScore]) -> None:
    pp = SemanticHighlightPostprocessor(highlighter=highlighter)
    with pytest.raises(ValueError, match="query"):
        pp.postprocess_nodes(retrieved)
    with pytest.raises(ValueError, match="query"):
        asyncio.run(pp.apostprocess_nodes(retrieved))


def test_top_n_replaces_scores_and_keeps_retrieval_score(
    highlighter: Any, retrieved: list[NodeWithScore], threshold: float
) -> None:
    pp = SemanticHighlightPostprocessor(
        highlighter=highlighter, threshold=threshold, top_n=2, keep_retrieval_score=True
    )
    out = pp.postprocess_nodes(retrieved, QueryBundle(QUERY))
    before = {n.node.node_id: n.score for n in retrieved}
    assert len(out) == 2
    assert [n.score for n in out] == sorted((n.score for n in out), reverse=True)
    for n in out:
        assert n.score == n.node.metadata[KEY]["score"]
        assert n.node.metadata["retrieval_score"] == before[n.node.node_id]
        assert "retrieval_score" in n.node.excluded_llm_metadata_keys
    kept_scores = SemanticHighlightPostprocessor(
        highlighter=highlighter, threshold=threshold, top_n=2, replace_score=False
    ).postprocess_nodes(retrieved, query_str=QUERY)
    assert [n.node.node_id for n in kept_scores] == [n.node.node_id for n in out]
    assert all(n.score == before[n.node.node_id] and "retrieval_score" not in n.node.metadata for n in kept_scores)
    replaced = SemanticHighlightPostprocessor(
        highlighter=highlighter, threshold=threshold, replace_score=True
    ).postprocess_nodes(retrieved, query_str=QUERY)
    assert [n.node.node_id for n in replaced] == [n.node.node_id for n in retrieved]  # no reordering without top_n
    assert all(n.score == n.node.metadata[KEY]["score"] for n in replaced)


def test_drop_empty_and_context_sentences(
    highlighter: Any, retrieved: list[NodeWithScore], empty_threshold: float
) -> None:
    expected = highlights(highlighter, retrieved, empty_threshold)
    annotate = SemanticHighlightPostprocessor(highlighter=highlighter, threshold=empty_threshold)
    assert len(annotate.postprocess_nodes(retrieved, query_str=QUERY)) == len(retrieved)
    dropping = SemanticHighlightPostprocessor(highlighter=highlighter, threshold=empty_threshold, on_empty="drop")
    ids = [n.node.node_id for n in dropping.postprocess_nodes(retrieved, query_str=QUERY)]
    assert ids == [n.node.node_id for n in retrieved if expected[n.node.node_id].highlights]
    assert len(ids) < len(retrieved)
    wide = SemanticHighlightPostprocessor(
        highlighter=highlighter, threshold=empty_threshold, mode="prune", context_sentences=1
    ).postprocess_nodes(retrieved, query_str=QUERY)
    assert [n.node.node_id for n in wide] == ids
    for n in wide:
        result = expected[n.node.node_id]
        text = n.node.get_content(MetadataMode.NONE)
        assert result.pruned_text.strip() in text or all(h.text.strip() in text for h in result.highlights)
        assert len(text) >= len(result.pruned_text.strip()) and text == text.strip()


def test_bad_content_passes_through(
    highlighter: Any, threshold: float, caplog: pytest.LogCaptureFixture, collector: Any
) -> None:
    nodes = [
        NodeWithScore(node=TextNode(id_="empty", text=""), score=0.9),
        NodeWithScore(node=TextNode(id_="eiffel", text=TEXTS["eiffel"]), score=0.8),
        NodeWithScore(node=ImageNode(id_="image", image_url="https://example.invalid/tower.png"), score=0.7),
    ]
    pp = SemanticHighlightPostprocessor(highlighter=highlighter, threshold=threshold, mode="prune")
    with caplog.at_level(logging.WARNING):
        out = pp.postprocess_nodes(nodes, query_str=QUERY)
    ids = [n.node.node_id for n in out]
    assert "empty" in ids and "image" in ids
    before = {n.node.node_id: n.score for n in nodes}
    for n in out:
        if n.node.node_id != "eiffel":
            assert KEY not in n.node.metadata and n.score == before[n.node.node_id]
    assert isinstance(next(n.node for n in out if n.node.node_id == "image"), ImageNode)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "chunk empty" in messages and "chunk image" in messages
    end = collector.events[-1]
    assert isinstance(end, SemanticHighlightEndEvent)
    assert (end.num_nodes, end.num_scored, end.num_passed_through, end.num_returned) == (3, 1, 2, len(out))
    # with top_n the returned scores are highlight scores: a passed-through node has none (one scale)
    ranked = SemanticHighlightPostprocessor(
        highlighter=highlighter, threshold=threshold, top_n=3, keep_retrieval_score=True
    )
    out = ranked.postprocess_nodes(nodes, query_str=QUERY)
    assert [n.node.node_id for n in out] == ["eiffel", "empty", "image"]
    assert out[0].score == out[0].node.metadata[KEY]["score"] and [n.score for n in out[1:]] == [None, None]
    assert [n.node.metadata["retrieval_score"] for n in out] == [0.8, 0.9, 0.7]
    cut = SimilarityPostprocessor(similarity_cutoff=0.0).postprocess_nodes(out)
    assert [n.node.node_id for n in cut] == ["eiffel"]


def test_instrumentation_events(
    highlighter: Any, retrieved: list[NodeWithScore], empty_threshold: float, collector: Any
) -> None:
    pp = SemanticHighlightPostprocessor(highlighter=highlighter, threshold=empty_threshold, mode="prune")
    out = pp.postprocess_nodes(retrieved, query_str=QUERY)
    start, end = collector.events
    assert isinstance(start, SemanticHighlightStartEvent) and isinstance(end, SemanticHighlightEndEvent)
    assert (start.query, start.num_nodes, start.mode) == (QUERY, len(retrieved), "prune")
    assert end.num_nodes == end.num_scored == len(retrieved) and end.num_passed_through == 0
    assert end.num_returned == len(out) == end.num_highlighted < len(retrieved)
    assert end.seconds > 0 and start.span_id is not None and start.span_id == end.span_id
    assert end.model_dump()["class_name"] == "SemanticHighlightEndEvent"


async def test_apostprocess_does_not_block_the_event_loop(
    highlighter: Any, retrieved: list[NodeWithScore], threshold: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = highlighter.highlight

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(highlighter, "highlight", slow)
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    pp = SemanticHighlightPostprocessor(highlighter=highlighter, threshold=threshold)
    out = await pp.apostprocess_nodes(retrieved, query_str=QUERY)
    done.set()
    await task
    assert len(out) == len(retrieved) and ticks >= 10


async def test_concurrent_calls_are_safe(highlighter: Any, retrieved: list[NodeWithScore], threshold: float) -> None:
    pp = SemanticHighlightPostprocessor(highlighter=highlighter, threshold=threshold, mode="prune")
    queries = [QUERY, OTHER_QUERY] * 3
    expected = {q: pp.postprocess_nodes(retrieved, query_str=q) for q in set(queries)}

    def view(nodes: list[NodeWithScore]) -> list[Any]:
        return [(n.node.node_id, n.node.get_content(), n.node.metadata) for n in nodes]

    got = await asyncio.gather(*(pp.apostprocess_nodes(retrieved, query_str=q) for q in queries))
    assert_close([view(r) for r in got], [view(expected[q]) for q in queries])
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda q: pp.postprocess_nodes(retrieved, query_str=q), queries))
    assert_close([view(r) for r in threaded], [view(expected[q]) for q in queries])


def test_settings_are_pydantic_fields_and_validated(highlighter: Any) -> None:
    pp = SemanticHighlightPostprocessor(highlighter=highlighter, mode="prune", top_n=3, metadata_key="hl")
    assert SemanticHighlightPostprocessor.class_name() == "SemanticHighlightPostprocessor"
    data = pp.to_dict()
    assert data["class_name"] == "SemanticHighlightPostprocessor"
    assert {"mode", "threshold", "top_k", "drop_empty", "top_n", "context_sentences", "metadata_key"} <= set(data)
    assert not any("highlighter" in k for k in data) and pp.highlighter is highlighter
    for bad in ({"mode": "redact"}, {"top_n": 0}, {"context_sentences": -1}):
        with pytest.raises(ValueError):
            SemanticHighlightPostprocessor(highlighter=highlighter, **bad)
    with pytest.raises(TypeError):
        SemanticHighlightPostprocessor(highlighter="not a highlighter")
    with pytest.raises(ValueError, match="pass either highlighter or model/device, not both"):
        SemanticHighlightPostprocessor(highlighter=highlighter, model="other", device="cpu")


# --- issue 23: offsets, missed answers, settings, events, robustness, remote highlighters ----------------------

NOTHING = {"threshold": 1.0, "fallback_threshold": 1.0}
"""Settings under which no sentence is ever selected."""


def test_prune_clears_stale_char_offsets_and_keeps_them_out_of_llm_text(xlmr: Any) -> None:
    text = TEXTS["eiffel"] + "  \n"
    node = NodeWithScore(node=TextNode(id_="e", text=text, start_char_idx=1000, end_char_idx=1000 + len(text)))
    (out,) = SemanticHighlightPostprocessor(highlighter=xlmr, mode="prune", threshold=0.3, top_k=1).postprocess_nodes(
        [node], query_str=QUERY
    )
    pruned = out.node.get_content(MetadataMode.NONE)
    assert pruned == pruned.strip() and len(pruned) < len(text)
    assert out.node.start_char_idx is None and out.node.end_char_idx is None  # they described the gone text
    meta = out.node.metadata[KEY]
    assert (meta["original_start_char_idx"], meta["original_end_char_idx"]) == (1000, 1000 + len(text))
    for view in (MetadataMode.LLM, MetadataMode.EMBED):
        assert "original_start_char_idx" not in out.node.get_content(view) and "1000" not in out.node.get_content(view)
    assert node.node.start_char_idx == 1000  # the input is untouched
    annotated = SemanticHighlightPostprocessor(highlighter=xlmr, threshold=0.3).postprocess_nodes(
        [node], query_str=QUERY
    )
    assert annotated[0].node.start_char_idx == 1000  # text unchanged: offsets still true
    kept = SemanticHighlightPostprocessor(
        highlighter=xlmr, mode="prune", on_empty="keep_original", **NOTHING
    ).postprocess_nodes([node], query_str=QUERY)
    assert kept[0].node.get_content(MetadataMode.NONE) == text and kept[0].node.start_char_idx == 1000


def test_a_missed_answer_never_gives_the_llm_an_empty_context(
    highlighter: Any, retrieved: list[NodeWithScore], caplog: pytest.LogCaptureFixture
) -> None:
    pp = SemanticHighlightPostprocessor(highlighter=highlighter, mode="prune", **NOTHING)
    engine = index().as_query_engine(similarity_top_k=4, node_postprocessors=[pp], llm=MockLLM())
    with caplog.at_level(logging.WARNING):
        response = engine.query(QUERY)
    assert QUERY in caplog.text and "nothing highlighted" in caplog.text
    (source,) = response.source_nodes  # min_keep=1: the best-scoring node's best sentence
    results = highlights(highlighter, retrieved, 1.0)
    best_id = max(results, key=lambda i: results[i].score)
    best = max(results[best_id].sentences, key=lambda s: s.score)
    assert source.node.node_id == best_id and source.node.metadata[KEY]["kept_by"] == "min_keep"
    assert str(response) != "Empty Response" and best.text.strip() in str(response)
    strict = SemanticHighlightPostprocessor(highlighter=highlighter, mode="prune", min_keep=0, **NOTHING)
    assert strict.postprocess_nodes(retrieved, query_str=QUERY) == []


class RerankCollector(BaseEventHandler):
    events: list[BaseEvent]

    @classmethod
    def class_name(cls) -> str:
        return "RerankCollector"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, (ReRankStartEvent, ReRankEndEvent, SemanticHighlightBatchEvent)):
            self.events.append(event)


@pytest.fixture
def rerank_events() -> Any:
    handler = RerankCollector(events=[])
    get_dispatcher().add_event_handler(handler)
    yield handler
    get_dispatcher().event_handlers.remove(handler)


async def test_top_n_sends_llama_index_standard_rerank_events(
    xlmr: Any, retrieved: list[NodeWithScore], rerank_events: Any
) -> None:
    debug = LlamaDebugHandler()
    pp = SemanticHighlightPostprocessor(highlighter=xlmr, top_n=2, callback_manager=CallbackManager([debug]))
    for run in ("sync", "async"):
        rerank_events.events.clear()
        debug.flush_event_logs()
        if run == "sync":
            out = pp.postprocess_nodes(retrieved, query_str=QUERY)
        else:
            out = await pp.apostprocess_nodes(retrieved, query_str=QUERY)
        reranks = [e for e in rerank_events.events if not isinstance(e, SemanticHighlightBatchEvent)]
        start, end = reranks
        assert isinstance(start, ReRankStartEvent) and isinstance(end, ReRankEndEvent)
        assert start.top_n == 2 and start.model_name == xlmr.model.name and start.query.query_str == QUERY
        assert [n.node.node_id for n in start.nodes] == [n.node.node_id for n in retrieved]
        assert end.nodes == out and len(out) == 2
        (pair,) = debug.get_event_pairs(CBEventType.RERANKING)
        assert pair[0].payload[EventPayload.QUERY_STR] == QUERY and pair[0].payload[EventPayload.TOP_K] == 2
        assert pair[1].payload[EventPayload.NODES] == out
        batches = [e for e in rerank_events.events if isinstance(e, SemanticHighlightBatchEvent)]
        assert batches and batches[-1].done == batches[-1].total and all(b.query == QUERY for b in batches)
    rerank_events.events.clear()
    debug.flush_event_logs()
    plain = SemanticHighlightPostprocessor(highlighter=xlmr, callback_manager=CallbackManager([debug]))
    plain.postprocess_nodes(retrieved, query_str=QUERY)  # no top_n: not a reranker, no rerank events
    assert not any(isinstance(e, (ReRankStartEvent, ReRankEndEvent)) for e in rerank_events.events)
    assert debug.get_event_pairs(CBEventType.RERANKING) == []


def test_unknown_settings_raise_and_highlighter_is_a_field(xlmr: Any) -> None:
    with pytest.raises(TypeError, match=r"'treshold' \(did you mean 'threshold'\?\)"):
        SemanticHighlightPostprocessor(highlighter=xlmr, treshold=0.3)
    with pytest.raises(TypeError, match="'colour'"):
        SemanticHighlightPostprocessor.from_dict({"colour": "red"}, highlighter=xlmr)
    assert "highlighter" in SemanticHighlightPostprocessor.model_fields  # as in the LangChain wrapper
    pp = SemanticHighlightPostprocessor.from_dict(
        {**SemanticHighlightPostprocessor(highlighter=xlmr).to_dict()}, highlighter=xlmr
    )
    assert pp.highlighter is xlmr
    for bad, error in (({"top_k": "3"}, TypeError), ({"top_k": -1}, ValueError), ({"replace_score": 1}, TypeError),
                       ({"on_empty": "keep"}, ValueError), ({"min_keep": True}, TypeError)):  # fmt: skip
        with pytest.raises(error, match=next(iter(bad))):
            SemanticHighlightPostprocessor(highlighter=xlmr, **bad)


@pytest.mark.parametrize("mode", ["annotate", "prune"])
async def test_metadata_that_cannot_be_deep_copied_does_not_crash_the_batch(
    xlmr: Any, mode: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    handle = open(tmp_path / "f.txt", "w")  # noqa: SIM115 - the open file is the point
    odd = [threading.Lock(), (i for i in range(3)), handle]
    nodes = [
        NodeWithScore(node=TextNode(id_="lock", text=TEXTS["eiffel"], metadata={"v": odd[0]}), score=0.9),
        NodeWithScore(node=TextNode(id_="empty-gen", text="", metadata={"v": odd[1]}), score=0.8),
        NodeWithScore(node=TextNode(id_="file", text=TEXTS["paris"], metadata={"v": odd[2]}), score=0.7),
        NodeWithScore.model_construct(node=None, score=0.6),
    ]
    pp = SemanticHighlightPostprocessor(highlighter=xlmr, mode=mode, threshold=-1.0, top_n=4, keep_retrieval_score=True)
    with caplog.at_level(logging.WARNING):
        sync = pp.postprocess_nodes(nodes, query_str=QUERY)
        got = await pp.apostprocess_nodes(nodes, query_str=QUERY)
    handle.close()
    for out in (sync, got):
        assert len(out) == 4 and out[3] is nodes[3]  # passed through as given, ranked last
        assert [n.node.node_id for n in out[:3]] in (["lock", "file", "empty-gen"], ["file", "lock", "empty-gen"])
        by_id = {n.node.node_id: n for n in out[:3]}
        for original, v in zip(nodes[:3], odd, strict=True):
            assert by_id[original.node.node_id].node.metadata["v"] is v
        assert KEY in by_id["lock"].node.metadata and KEY in by_id["file"].node.metadata
    assert "chunk #3 passed through" in caplog.text and "chunk empty-gen passed through" in caplog.text
    assert all(KEY not in n.node.metadata for n in nodes[:3])  # inputs untouched


def test_blank_query_raises_naming_query_and_a_query_without_words_selects_nothing(xlmr: Any) -> None:
    nodes = [NodeWithScore(node=TextNode(id_="e", text=TEXTS["eiffel"]), score=0.5)]
    for mode in ("annotate", "prune"):
        pp = SemanticHighlightPostprocessor(highlighter=xlmr, mode=mode, threshold=-1.0)
        for blank in ("", "  \n"):
            with pytest.raises(ValueError, match="query"):
                pp.postprocess_nodes(nodes, query_str=blank)
            with pytest.raises(ValueError, match="query"):
                asyncio.run(pp.apostprocess_nodes(nodes, query_str=blank))
        out = pp.postprocess_nodes(nodes, query_str="?!")
        assert out == [] if mode == "prune" else out[0].node.metadata[KEY]["spans"] == []


async def test_remote_highlighter_async_path_awaits_ahighlight_batch(xlmr: Any, retrieved: list[NodeWithScore]) -> None:
    def view(nodes: list[NodeWithScore]) -> list[Any]:
        return [(n.node.node_id, n.node.get_content(), n.node.metadata, n.score) for n in nodes]

    expected = view(
        SemanticHighlightPostprocessor(highlighter=xlmr, mode="prune", threshold=0.3).postprocess_nodes(
            retrieved, query_str=QUERY
        )
    )
    remote = DuckHighlighter(xlmr)
    pp = SemanticHighlightPostprocessor(highlighter=remote, mode="prune", threshold=0.3)
    assert view(await pp.apostprocess_nodes(retrieved, query_str=QUERY)) == expected
    assert remote.calls == [("ahighlight_batch", threading.get_ident())]  # awaited in the loop, no worker thread
    remote.calls.clear()
    assert view(pp.postprocess_nodes(retrieved, query_str=QUERY)) == expected
    assert [name for name, _ in remote.calls] == ["highlight"]
    sync_only = DuckHighlighter(xlmr, with_async=False)
    pp = SemanticHighlightPostprocessor(highlighter=sync_only, mode="prune", threshold=0.3)
    assert view(await pp.apostprocess_nodes(retrieved, query_str=QUERY)) == expected
    ((name, thread),) = sync_only.calls
    assert name == "highlight" and thread != threading.get_ident()


# --- packaging -----------------------------------------------------------------------------------------------


def test_namespace_package_layout_and_core_import() -> None:
    integrations = ROOT / "integrations" / "llama_index"
    assert not (integrations / "__init__.py").exists()
    assert not (integrations / "postprocessor" / "__init__.py").exists()
    assert (integrations / "postprocessor" / "semantic_highlight" / "py.typed").is_file()
    assert Path(semantic_highlight.__file__).parent == ROOT / "core" / "semantic_highlight"
    from llama_index.postprocessor.semantic_highlight import base

    assert base.SemanticHighlighter is semantic_highlight.SemanticHighlighter


def test_import_without_llama_index_names_the_extra() -> None:
    code = "import sys; sys.modules['llama_index.core'] = None; import llama_index.postprocessor.semantic_highlight"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "pip install llama-index-core" in proc.stderr and 'pip install -e ".[llama-index]"' in proc.stderr
