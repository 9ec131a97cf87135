"""LangChain integration: real retrieval pipelines (InMemoryVectorStore, ContextualCompressionRetriever,
DocumentCompressorPipeline, LCEL) with a deterministic local embedding; offline."""

from __future__ import annotations

import asyncio
import copy
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
from typing import Any

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_classic")

from conftest import DuckHighlighter, assert_close, integration_highlighter, integration_model, mixed_threshold
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_classic.retrievers.document_compressors import DocumentCompressorPipeline
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_semantic_highlight import SemanticHighlightCompressor, SemanticHighlightRetriever
from langchain_semantic_highlight.compressor import EVENT_BATCH, EVENT_END, EVENT_START
from langchain_tests.integration_tests import RetrieversIntegrationTests
from pydantic import Field, ValidationError

KEY = "semantic_highlight"
QUERY = "How tall is the Eiffel Tower in Paris?"
OTHER_QUERY = "What do cats eat?"

CORPUS = [
    ("eiffel", "The Eiffel Tower is a wrought-iron tower in Paris. It is about 330 metres tall. "
     "Tourists buy crêpes nearby.", {"source": "wiki/eiffel", "tags": ["paris", "tower"]}),
    ("paris", "Paris is the capital of France. The Seine river crosses the city. "
     "The Eiffel Tower was completed in 1889.", {"source": "wiki/paris", "tags": ["paris"]}),
    ("cats", "Cats are obligate carnivores. They eat meat and fish. Many cats sleep sixteen hours a day.",
     {"source": "wiki/cats", "tags": ["animals"]}),
    ("tower-zh", "埃菲尔铁塔位于巴黎。铁塔高约三百三十米。附近有很多咖啡馆。", {"source": "zh/eiffel", "tags": []}),
    ("bananas", "Bananas are rich in potassium. They grow in tropical climates. The fruit is yellow when ripe.",
     {"source": "wiki/bananas", "tags": ["food"]}),
    ("towers", "Tall towers sway in strong wind. Engineers measure the height of a tower in metres. "
     "Steel expands in summer heat.", {"source": "wiki/towers", "tags": ["engineering"]}),
]  # fmt: skip


class HashingEmbeddings(Embeddings):
    """Deterministic bag-of-words embedding (words and CJK characters hashed into 64 buckets)."""

    dim = 64

    def _embed(self, text: str) -> list[float]:
        vec = [0.0] * self.dim
        for token in re.findall(r"[a-z0-9]+|[\u4e00-\u9fff]", text.lower()):
            vec[int(hashlib.md5(token.encode()).hexdigest(), 16) % self.dim] += 1.0
        vec[0] += 0.01
        norm = math.sqrt(sum(v * v for v in vec))
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


@cache
def vector_store() -> InMemoryVectorStore:
    store = InMemoryVectorStore(HashingEmbeddings())
    store.add_documents([Document(page_content=t, metadata=m) for _, t, m in CORPUS], ids=[i for i, _, _ in CORPUS])
    return store


def base_retriever(k: int = 4) -> Any:
    return vector_store().as_retriever(search_kwargs={"k": k})


def original(doc_id: str) -> str:
    return next(t for i, t, _ in CORPUS if i == doc_id)


class KeepFirst(BaseDocumentCompressor):
    """A downstream pipeline stage (a reranker stand-in): records what it receives, keeps the first ``n``."""

    n: int = 2
    seen: list[Document] = Field(default_factory=list)

    def compress_documents(self, documents: Any, query: str, callbacks: Any = None) -> list[Document]:
        self.seen.extend(documents)
        return list(documents)[: self.n]


class Recorder(BaseCallbackHandler):
    run_inline: bool = True

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.events.append((name, data))


class RecordingChatModel(BaseChatModel):
    """A fake chat model that records the exact prompt it receives."""

    prompts: list[str] = Field(default_factory=list)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self.prompts.append("\n".join(str(m.content) for m in messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="It is about 330 metres tall."))])

    @property
    def _llm_type(self) -> str:
        return "recording-fake"


@pytest.fixture(scope="module")
def retrieved() -> list[Document]:
    return base_retriever().invoke(QUERY)


@pytest.fixture(scope="module")
def threshold(highlighter: Any, retrieved: list[Document]) -> float:
    """Some sentences of the retrieved documents above it, some not."""
    return mixed_threshold(highlighter, QUERY, [d.page_content for d in retrieved])


@pytest.fixture(scope="module")
def empty_threshold(highlighter: Any, retrieved: list[Document]) -> float:
    """At least one retrieved document has nothing above it, and at least one has something."""
    scores = sorted(r.score for r in highlighter.highlight(QUERY, [d.page_content for d in retrieved]))
    assert scores[0] < scores[-1]
    return scores[0]


def check_annotation(doc: Document, text: str, threshold: float) -> dict[str, Any]:
    meta = doc.metadata[KEY]
    assert meta["threshold"] == pytest.approx(threshold)
    assert isinstance(meta["model"], str) and meta["model"]
    assert meta["score"] == pytest.approx(max([s["score"] for s in meta["spans"]], default=meta["score"]))
    for span in meta["spans"]:
        assert text[span["start"] : span["end"]] == span["text"]
        assert span["score"] > threshold
    return meta


def expected_highlights(highlighter: Any, docs: list[Document], threshold: float) -> dict[str, list[str]]:
    results = highlighter.highlight(QUERY, [d.page_content for d in docs], threshold=threshold)
    return {d.id: [s.text for s in r.highlights] for d, r in zip(docs, results, strict=True)}


# --- ContextualCompressionRetriever ------------------------------------------------------------------


def test_annotate_mode_in_contextual_compression_retriever(
    highlighter: Any, retrieved: list[Document], threshold: float
) -> None:
    compressor = SemanticHighlightCompressor(highlighter=highlighter, threshold=threshold)
    out = ContextualCompressionRetriever(base_compressor=compressor, base_retriever=base_retriever()).invoke(QUERY)
    assert [d.id for d in out] == [d.id for d in retrieved]  # nothing dropped, order kept
    expected = expected_highlights(highlighter, retrieved, threshold)
    for doc, before in zip(out, retrieved, strict=True):
        assert doc.page_content == before.page_content == original(doc.id)
        assert {k: v for k, v in doc.metadata.items() if k != KEY} == before.metadata
        meta = check_annotation(doc, doc.page_content, threshold)
        assert set(meta) == {"spans", "score", "model", "threshold"}
        assert [s["text"] for s in meta["spans"]] == expected[doc.id]
        assert "relevance_score" not in doc.metadata
    assert any(expected.values())


def test_prune_mode_in_contextual_compression_retriever(
    highlighter: Any, retrieved: list[Document], empty_threshold: float
) -> None:
    compressor = SemanticHighlightCompressor(highlighter=highlighter, threshold=empty_threshold, mode="prune")
    out = ContextualCompressionRetriever(base_compressor=compressor, base_retriever=base_retriever()).invoke(QUERY)
    expected = expected_highlights(highlighter, retrieved, empty_threshold)
    assert [d.id for d in out] == [d.id for d in retrieved if expected[d.id]]  # empty ones dropped
    assert len(out) < len(retrieved)
    for doc in out:
        text = original(doc.id)
        meta = check_annotation(doc, text, empty_threshold)
        assert doc.page_content == "".join(expected[doc.id]).strip()
        check_pruned_spans(doc.page_content, meta)
        for seg in meta["segments"]:
            assert doc.page_content[seg["pruned_start"] : seg["pruned_end"]] == text[seg["start"] : seg["end"]]


def check_pruned_spans(pruned: str, meta: dict[str, Any]) -> None:
    """Each span's pruned offsets locate its sentence in the pruned text (less the whitespace stripped at the end)."""
    for span in meta["spans"]:
        ps, pe = span["pruned_start"], span["pruned_end"]
        assert pruned[ps:pe] == span["text"][: pe - ps] and not span["text"][pe - ps :].strip()


def test_prune_mode_on_empty_keep_original_keeps_the_unpruned_text(
    highlighter: Any, retrieved: list[Document], empty_threshold: float
) -> None:
    compressor = SemanticHighlightCompressor(
        highlighter=highlighter, threshold=empty_threshold, mode="prune", on_empty="keep_original"
    )
    out = compressor.compress_documents(retrieved, QUERY)
    assert [d.id for d in out] == [d.id for d in retrieved]
    empty = [d for d in out if not d.metadata[KEY]["spans"]]
    assert empty and all(d.page_content == original(d.id) for d in empty)  # nothing lost (was "" before)
    for doc in empty:
        meta = doc.metadata[KEY]
        assert meta["kept_by"] == "keep_original"
        assert meta["segments"] == [
            {"start": 0, "end": len(doc.page_content), "pruned_start": 0, "pruned_end": len(doc.page_content)}
        ]
    assert all("kept_by" not in d.metadata[KEY] for d in out if d.metadata[KEY]["spans"])
    with pytest.warns(FutureWarning, match="drop_empty is deprecated"):  # the old spelling: same result
        old = SemanticHighlightCompressor(
            highlighter=highlighter, threshold=empty_threshold, mode="prune", drop_empty=False
        )
    assert [(d.page_content, d.metadata) for d in old.compress_documents(retrieved, QUERY)] == [
        (d.page_content, d.metadata) for d in out
    ]


def test_prune_mode_on_empty_keep_best_keeps_the_best_sentence(
    highlighter: Any, retrieved: list[Document], empty_threshold: float
) -> None:
    compressor = SemanticHighlightCompressor(
        highlighter=highlighter, threshold=empty_threshold, mode="prune", on_empty="keep_best"
    )
    out = compressor.compress_documents(retrieved, QUERY)
    assert [d.id for d in out] == [d.id for d in retrieved]
    results = {
        d.id: r
        for d, r in zip(
            retrieved,
            highlighter.highlight(QUERY, [d.page_content for d in retrieved], threshold=empty_threshold),
            strict=True,
        )
    }
    kept = [d for d in out if d.metadata[KEY].get("kept_by") == "keep_best"]
    assert kept
    for doc in kept:
        best = max(results[doc.id].sentences, key=lambda s: s.score)
        assert not results[doc.id].highlights
        assert doc.page_content == best.text.strip()
        assert [(s["start"], s["end"]) for s in doc.metadata[KEY]["spans"]] == [(best.start, best.end)]


def test_annotate_mode_on_empty_drop(highlighter: Any, retrieved: list[Document], empty_threshold: float) -> None:
    out = SemanticHighlightCompressor(
        highlighter=highlighter, threshold=empty_threshold, on_empty="drop"
    ).compress_documents(retrieved, QUERY)
    assert 0 < len(out) < len(retrieved)
    assert all(d.metadata[KEY]["spans"] and d.page_content == original(d.id) for d in out)
    with pytest.warns(FutureWarning):
        old = SemanticHighlightCompressor(highlighter=highlighter, threshold=empty_threshold, drop_empty=True)
    assert [d.id for d in old.compress_documents(retrieved, QUERY)] == [d.id for d in out]
    with pytest.raises(ValueError, match="contradicts"), pytest.warns(FutureWarning):
        SemanticHighlightCompressor(highlighter=highlighter, drop_empty=True, on_empty="keep_best")


def test_context_sentences_keep_neighbours(highlighter: Any, retrieved: list[Document], threshold: float) -> None:
    plain = SemanticHighlightCompressor(highlighter=highlighter, threshold=threshold, mode="prune")
    wide = SemanticHighlightCompressor(highlighter=highlighter, threshold=threshold, mode="prune", context_sentences=1)
    narrow = {d.id: d for d in plain.compress_documents(retrieved, QUERY)}
    for doc in wide.compress_documents(retrieved, QUERY):
        assert len(doc.page_content) >= len(narrow[doc.id].page_content)
        meta = doc.metadata[KEY]
        text = original(doc.id)
        kept = "".join(text[s["start"] : s["end"]] for s in meta["segments"])
        assert doc.page_content == kept
        for span in meta["spans"]:  # highlights are still the selected sentences only
            assert span["text"] in narrow[doc.id].page_content


def test_top_n_reorders_by_highlight_score_and_sets_relevance_score(
    highlighter: Any, retrieved: list[Document], threshold: float
) -> None:
    out = SemanticHighlightCompressor(highlighter=highlighter, threshold=threshold, top_n=2).compress_documents(
        retrieved, QUERY
    )
    assert len(out) == 2
    scores = [d.metadata["relevance_score"] for d in out]
    assert scores == sorted(scores, reverse=True)
    assert all(d.metadata["relevance_score"] == d.metadata[KEY]["score"] for d in out)
    best = max(highlighter.highlight(QUERY, [d.page_content for d in retrieved]), key=lambda r: r.score)
    assert out[0].page_content == best.text


def test_top_k_and_custom_metadata_key(highlighter: Any, retrieved: list[Document]) -> None:
    out = SemanticHighlightCompressor(
        highlighter=highlighter, threshold=-1.0, top_k=1, metadata_key="hl"
    ).compress_documents(retrieved, QUERY)
    assert all(KEY not in d.metadata and len(d.metadata["hl"]["spans"]) == 1 for d in out)


def test_inputs_are_never_mutated_and_ids_kept(highlighter: Any, threshold: float) -> None:
    docs = [Document(page_content=t, metadata=m, id=i) for i, t, m in CORPUS]
    snapshot = copy.deepcopy(docs)
    for mode in ("annotate", "prune"):
        out = SemanticHighlightCompressor(
            highlighter=highlighter, threshold=threshold, mode=mode, on_empty="keep_original"
        ).compress_documents(docs, QUERY)
        assert docs == snapshot
        assert [d.id for d in out] == [d.id for d in docs]
        for new, old in zip(out, docs, strict=True):
            assert new is not old and new.metadata is not old.metadata
            # only what changes is copied: the metadata dict is new, its values are the caller's own
            assert {k: v for k, v in new.metadata.items() if k != KEY} == old.metadata
            assert new.metadata["tags"] is old.metadata["tags"]


def test_bad_content_passes_through_with_a_warning(
    highlighter: Any, threshold: float, caplog: pytest.LogCaptureFixture
) -> None:
    docs = [
        Document(page_content="", id="empty", metadata={"n": 1}),
        Document(page_content=original("eiffel"), id="eiffel"),
        Document.model_construct(page_content=None, metadata={"n": 2}, id="none", type="Document"),
        Document(page_content=" \n ", id="blank"),
    ]
    compressor = SemanticHighlightCompressor(highlighter=highlighter, threshold=threshold, mode="prune", top_n=4)
    with caplog.at_level(logging.WARNING):
        out = compressor.compress_documents(docs, QUERY)
    assert {d.id for d in out} >= {"empty", "none", "blank"}
    passed = [d for d in out if d.id != "eiffel"]
    assert all(KEY not in d.metadata and "relevance_score" not in d.metadata for d in passed)
    assert [d.id for d in out][-3:] == ["empty", "none", "blank"]  # ranked after scored documents
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "empty" in messages and "none" in messages and "blank" in messages


def test_settings_are_validated(highlighter: Any) -> None:
    for bad in ({"mode": "redact"}, {"top_n": 0}, {"context_sentences": -1}, {"top_k": -2}):
        with pytest.raises((ValidationError, ValueError)):
            SemanticHighlightCompressor(highlighter=highlighter, **bad)
    with pytest.raises(ValueError, match="pass either highlighter or dtype, not both"):  # dtype would be ignored
        SemanticHighlightCompressor(highlighter=highlighter, dtype="bfloat16")


def test_model_argument_builds_a_highlighter() -> None:
    compressor = SemanticHighlightCompressor(model=integration_model(), device="cpu", threshold=0.3)
    assert compressor.highlighter is not None and compressor.highlighter.device.type == "cpu"
    out = compressor.compress_documents([Document(page_content=original("eiffel"), id="e")], QUERY)
    assert out[0].metadata[KEY]["threshold"] == 0.3


# --- missed answers, settings, robustness (issue 23) --------------------------------------------------------

NOTHING = {"threshold": 1.0, "fallback_threshold": 1.0}
"""Settings under which no sentence is ever selected (scores are at most 1.0, selection is strictly above)."""


def test_a_missed_answer_keeps_the_best_sentence_and_warns_with_the_query(
    highlighter: Any, retrieved: list[Document], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        out = SemanticHighlightCompressor(highlighter=highlighter, mode="prune", **NOTHING).compress_documents(
            retrieved, QUERY
        )
    assert QUERY in caplog.text and "nothing highlighted" in caplog.text
    results = highlighter.highlight(QUERY, [d.page_content for d in retrieved])
    best_doc, best = max(zip(retrieved, results, strict=True), key=lambda p: (p[1].score, -retrieved.index(p[0])))
    (doc,) = out  # min_keep=1: the best-scoring chunk's best sentence, never an empty context
    top = max(best.sentences, key=lambda s: s.score)
    assert doc.id == best_doc.id and doc.page_content == top.text.strip()
    assert doc.metadata[KEY]["kept_by"] == "min_keep"
    assert doc.metadata[KEY]["spans"] == [
        {"start": top.start, "end": top.end, "text": top.text, "score": top.score, "pruned_start": 0,
         "pruned_end": len(top.text.strip())}
    ]  # fmt: skip
    two = SemanticHighlightCompressor(highlighter=highlighter, mode="prune", min_keep=2, **NOTHING)
    assert len(two.compress_documents(retrieved, QUERY)) == 2
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        strict = SemanticHighlightCompressor(highlighter=highlighter, mode="prune", min_keep=0, **NOTHING)
        assert strict.compress_documents(retrieved, QUERY) == []
    assert QUERY in caplog.text and "all are dropped" in caplog.text


def test_pruned_text_is_stripped_and_offsets_stay_exact(xlmr: Any) -> None:
    text = "\n  First sentence here.   \n\nSecond one follows.  \n\t Third and last.\n\n   "
    doc = Document(page_content=text, id="ws")
    for context in (0, 1):
        (out,) = SemanticHighlightCompressor(
            highlighter=xlmr, mode="prune", threshold=-1.0, context_sentences=context
        ).compress_documents([doc], "Which sentence?")
        meta = out.metadata[KEY]
        assert out.page_content == out.page_content.strip() != ""
        assert out.page_content == "First sentence here.   \n\nSecond one follows.  \n\t Third and last."
        for seg in meta["segments"]:
            assert out.page_content[seg["pruned_start"] : seg["pruned_end"]] == text[seg["start"] : seg["end"]]
        for span in meta["spans"]:
            assert text[span["start"] : span["end"]] == span["text"]
        check_pruned_spans(out.page_content, meta)


@pytest.mark.parametrize("cls", ["compressor", "retriever"])
def test_unknown_settings_raise_naming_the_field(xlmr: Any, cls: str) -> None:
    extra = {"base_retriever": RunnableLambda(lambda q: [])} if cls == "retriever" else {}
    build = SemanticHighlightRetriever if cls == "retriever" else SemanticHighlightCompressor
    with pytest.raises(TypeError, match=r"'treshold' \(did you mean 'threshold'\?\)"):
        build(highlighter=xlmr, treshold=0.3, **extra)
    with pytest.raises(TypeError, match="'colour'"):
        build(highlighter=xlmr, colour="red", **extra)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"threshold": "0.3"}, TypeError),
        ({"threshold": float("nan")}, ValueError),
        ({"top_k": "3"}, TypeError),
        ({"top_k": True}, TypeError),
        ({"top_k": 2.0}, TypeError),
        ({"top_k": -1}, ValueError),
        ({"top_n": "2"}, TypeError),
        ({"top_n": 0}, ValueError),
        ({"context_sentences": 1.5}, TypeError),
        ({"min_keep": "1"}, TypeError),
        ({"min_keep": -1}, ValueError),
        ({"mode": 1}, TypeError),
        ({"mode": "redact"}, ValueError),
        ({"on_empty": True}, TypeError),
        ({"on_empty": "keep"}, ValueError),
        ({"metadata_key": 3}, TypeError),
        ({"metadata_key": ""}, ValueError),
        ({"replace_score": "yes"}, TypeError),
        ({"keep_retrieval_score": 1}, TypeError),
        ({"highlighter": "a model"}, TypeError),
        ({"k": "3"}, TypeError),
        ({"k": 0}, ValueError),
    ],
)
def test_wrong_type_is_type_error_wrong_value_is_value_error(
    xlmr: Any, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    settings = {"highlighter": xlmr, "base_retriever": RunnableLambda(lambda q: []), **kwargs}
    with pytest.raises(error) as info:
        SemanticHighlightRetriever(**settings)
    assert next(iter(kwargs)) in str(info.value)  # names the field
    if error is ValueError:
        assert not isinstance(info.value, TypeError)


class Unpicklable:
    """Metadata values that ``copy.deepcopy`` cannot copy."""

    @staticmethod
    def values(tmp_path: Any) -> list[Any]:
        handle = open(tmp_path / "f.txt", "w")  # noqa: SIM115 - the open file is the point
        return [threading.Lock(), (i for i in range(3)), handle]


@pytest.mark.parametrize("mode", ["annotate", "prune"])
async def test_metadata_that_cannot_be_deep_copied_does_not_crash_the_batch(
    xlmr: Any, mode: str, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    values = Unpicklable.values(tmp_path)
    docs = [
        Document(page_content=original("eiffel"), id="lock", metadata={"v": values[0]}),
        Document(page_content="", id="empty-gen", metadata={"v": values[1]}),
        Document(page_content=original("paris"), id="file", metadata={"v": values[2], "tags": ["x"]}),
        Document(page_content=original("cats"), id="plain", metadata={"source": "wiki/cats"}),
        Document.model_construct(page_content="A.", metadata=None, id="no-metadata"),
    ]
    compressor = SemanticHighlightCompressor(highlighter=xlmr, mode=mode, threshold=-1.0)
    with caplog.at_level(logging.WARNING):
        sync = compressor.compress_documents(docs, QUERY)
        got = await compressor.acompress_documents(docs, QUERY)
    values[2].close()
    for out in (sync, got):
        assert [d.id for d in out] == [d.id for d in docs]  # nothing lost, order kept
        by_id = {d.id: d for d in out}
        for doc in docs[:4]:  # the caller's values, not copies
            assert all(by_id[doc.id].metadata[k] is v for k, v in doc.metadata.items())
        assert all(KEY in by_id[i].metadata for i in ("lock", "file", "plain"))
        assert by_id["empty-gen"] is docs[1] and by_id["no-metadata"] is docs[4]  # passed through as given
    assert "no-metadata passed through" in caplog.text and "empty-gen passed through" in caplog.text
    assert all(KEY not in d.metadata for d in docs[:4]) and docs[4].metadata is None  # inputs untouched


def test_blank_query_raises_naming_query_and_a_query_without_words_selects_nothing(xlmr: Any) -> None:
    docs = [Document(page_content=original("eiffel"), id="e")]
    for mode in ("annotate", "prune"):
        compressor = SemanticHighlightCompressor(highlighter=xlmr, mode=mode)
        for blank in ("", "   ", "\n\t"):
            with pytest.raises(ValueError, match="query"):
                compressor.compress_documents(docs, blank)
            with pytest.raises(ValueError, match="query"):
                asyncio.run(compressor.acompress_documents(docs, blank))
        with pytest.raises(ValueError, match="query"):  # also with nothing to score
            compressor.compress_documents([], " ")
        out = SemanticHighlightCompressor(highlighter=xlmr, mode=mode, threshold=-1.0).compress_documents(docs, "?!")
        assert out == [] if mode == "prune" else out[0].metadata[KEY]["spans"] == []


async def test_remote_highlighter_async_path_awaits_ahighlight_batch(
    xlmr: Any, retrieved: list[Document], caplog: pytest.LogCaptureFixture
) -> None:
    remote = DuckHighlighter(xlmr)
    compressor = SemanticHighlightCompressor(highlighter=remote, mode="prune", threshold=0.3)
    local = SemanticHighlightCompressor(highlighter=xlmr, mode="prune", threshold=0.3)
    expected = [(d.id, d.page_content, d.metadata) for d in local.compress_documents(retrieved, QUERY)]
    got = await compressor.acompress_documents(retrieved, QUERY)
    assert [(d.id, d.page_content, d.metadata) for d in got] == expected
    assert remote.calls == [("ahighlight_batch", threading.get_ident())]  # awaited in the loop, no worker thread
    remote.calls.clear()
    assert [(d.id, d.page_content, d.metadata) for d in compressor.compress_documents(retrieved, QUERY)] == expected
    assert [name for name, _ in remote.calls] == ["highlight"]
    sync_only = DuckHighlighter(xlmr, with_async=False)
    got = await SemanticHighlightCompressor(highlighter=sync_only, mode="prune", threshold=0.3).acompress_documents(
        retrieved, QUERY
    )
    assert [(d.id, d.page_content, d.metadata) for d in got] == expected
    ((name, thread),) = sync_only.calls
    assert name == "highlight" and thread != threading.get_ident()  # a worker thread: the loop stays free


def test_replace_score_and_keep_retrieval_score(xlmr: Any, retrieved: list[Document]) -> None:
    docs = [d.model_copy(update={"metadata": {**d.metadata, "relevance_score": 0.25}}) for d in retrieved]
    plain = SemanticHighlightCompressor(highlighter=xlmr, threshold=-1.0).compress_documents(docs, QUERY)
    assert all(d.metadata["relevance_score"] == 0.25 for d in plain)  # no top_n: left alone
    replaced = SemanticHighlightCompressor(
        highlighter=xlmr, threshold=-1.0, replace_score=True, keep_retrieval_score=True
    ).compress_documents(docs, QUERY)
    assert [d.id for d in replaced] == [d.id for d in docs]  # no reordering without top_n
    for d in replaced:
        assert d.metadata["relevance_score"] == d.metadata[KEY]["score"] and d.metadata["retrieval_score"] == 0.25
    ranked = SemanticHighlightCompressor(
        highlighter=xlmr, threshold=-1.0, top_n=2, replace_score=False
    ).compress_documents(docs, QUERY)
    assert len(ranked) == 2 and all(d.metadata["relevance_score"] == 0.25 for d in ranked)


# --- async, concurrency, events ------------------------------------------------------------------------


async def test_async_compression_retriever_matches_sync(highlighter: Any, threshold: float) -> None:
    for mode in ("annotate", "prune"):
        compressor = SemanticHighlightCompressor(highlighter=highlighter, threshold=threshold, mode=mode)
        retriever = ContextualCompressionRetriever(base_compressor=compressor, base_retriever=base_retriever())
        sync = retriever.invoke(QUERY)
        got = await retriever.ainvoke(QUERY)
        assert [(d.id, d.page_content, d.metadata) for d in got] == [(d.id, d.page_content, d.metadata) for d in sync]


async def test_acompress_does_not_block_the_event_loop(
    highlighter: Any, retrieved: list[Document], threshold: float, monkeypatch: pytest.MonkeyPatch
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
    compressor = SemanticHighlightCompressor(highlighter=highlighter, threshold=threshold)
    out = await compressor.acompress_documents(retrieved, QUERY)
    done.set()
    await task
    assert len(out) == len(retrieved)
    assert ticks >= 10


async def test_concurrent_async_calls_are_safe(highlighter: Any, retrieved: list[Document], threshold: float) -> None:
    compressor = SemanticHighlightCompressor(highlighter=highlighter, threshold=threshold, mode="prune")
    queries = [QUERY, OTHER_QUERY] * 3
    expected = [compressor.compress_documents(retrieved, q) for q in queries]
    got = await asyncio.gather(*(compressor.acompress_documents(retrieved, q) for q in queries))
    assert_close(
        [[(d.id, d.page_content, d.metadata) for d in r] for r in got],
        [[(d.id, d.page_content, d.metadata) for d in r] for r in expected],
    )


def test_threads_share_one_compressor(highlighter: Any, retrieved: list[Document], threshold: float) -> None:
    compressor = SemanticHighlightCompressor(highlighter=highlighter, threshold=threshold)
    queries = [QUERY, OTHER_QUERY] * 4
    expected = {q: compressor.compress_documents(retrieved, q) for q in set(queries)}
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda q: compressor.compress_documents(retrieved, q), queries))
    for q, docs in zip(queries, got, strict=True):
        assert_close([d.metadata for d in docs], [d.metadata for d in expected[q]])


def test_custom_events_only_with_a_parent_run(highlighter: Any, retrieved: list[Document], threshold: float) -> None:
    compressor = SemanticHighlightCompressor(highlighter=highlighter, threshold=threshold)
    recorder = Recorder()
    # no parent run: no event, and no error (dispatch_custom_event would raise)
    compressor.compress_documents(retrieved, QUERY)
    compressor.compress_documents(retrieved, QUERY, callbacks=[recorder])
    assert recorder.events == []
    ContextualCompressionRetriever(base_compressor=compressor, base_retriever=base_retriever()).invoke(
        QUERY, config={"callbacks": [recorder]}
    )
    names = [name for name, _ in recorder.events]
    assert names[0] == EVENT_START and names[-1] == EVENT_END
    batches = [data for name, data in recorder.events if name == EVENT_BATCH]
    assert len(batches) == len(names) - 2 >= 1  # one event per model batch
    assert batches[-1]["done"] == batches[-1]["total"] and all(b["query"] == QUERY for b in batches)
    start, end = recorder.events[0][1], recorder.events[-1][1]
    assert start == {"query": QUERY, "chunks": len(retrieved), "mode": "annotate"}
    assert end["chunks"] == end["scored"] == end["returned"] == len(retrieved)
    assert end["seconds"] >= 0 and 0 <= end["highlighted"] <= len(retrieved)


async def test_custom_events_async_through_our_retriever(highlighter: Any, threshold: float) -> None:
    recorder = Recorder()
    retriever = SemanticHighlightRetriever(
        base_retriever=base_retriever(), highlighter=highlighter, threshold=threshold
    )
    await retriever.ainvoke(QUERY, config={"callbacks": [recorder]})
    names = [name for name, _ in recorder.events]
    assert names[0] == EVENT_START and names[-1] == EVENT_END and EVENT_BATCH in names
    events = [e async for e in retriever.astream_events(QUERY, version="v2") if e["event"] == "on_custom_event"]
    streamed = [e["name"] for e in events]
    assert streamed[0] == EVENT_START and streamed[-1] == EVENT_END and set(streamed[1:-1]) == {EVENT_BATCH}


# --- SemanticHighlightRetriever, DocumentCompressorPipeline, LCEL -------------------------------------------


def test_retriever_wraps_any_retriever_with_k(highlighter: Any, retrieved: list[Document], threshold: float) -> None:
    retriever = SemanticHighlightRetriever(
        base_retriever=base_retriever(), highlighter=highlighter, threshold=threshold, k=3
    )
    out = retriever.invoke(QUERY)
    assert [d.id for d in out] == [d.id for d in retrieved][:3]
    assert all(KEY in d.metadata for d in out)
    assert len(retriever.invoke(QUERY, k=1)) == 1
    with pytest.raises(ValueError):
        retriever.invoke(QUERY, k=0)
    with pytest.raises(ValueError):
        SemanticHighlightRetriever(base_retriever=base_retriever(), highlighter=highlighter, k=0)
    pruned = SemanticHighlightRetriever(
        base_retriever=RunnableLambda(lambda q: retrieved), highlighter=highlighter, threshold=threshold, mode="prune"
    ).invoke(QUERY)
    assert all(d.page_content == "".join(s["text"] for s in d.metadata[KEY]["spans"]).strip() for d in pruned)


def test_document_compressor_pipeline(highlighter: Any, retrieved: list[Document], threshold: float) -> None:
    downstream = KeepFirst(n=2)
    pipeline = DocumentCompressorPipeline(
        transformers=[
            SemanticHighlightCompressor(highlighter=highlighter, threshold=threshold, mode="prune"),
            downstream,
        ]
    )
    out = ContextualCompressionRetriever(base_compressor=pipeline, base_retriever=base_retriever()).invoke(QUERY)
    expected = expected_highlights(highlighter, retrieved, threshold)
    assert [d.id for d in downstream.seen] == [d.id for d in retrieved if expected[d.id]]
    assert [d.id for d in out] == [d.id for d in downstream.seen][:2]
    for doc in downstream.seen:
        assert doc.page_content == "".join(expected[doc.id]).strip()
        assert doc.metadata[KEY]["spans"]


def format_docs(docs: list[Document]) -> str:
    return "\n\n".join(d.page_content for d in docs)


def test_lcel_chain_llm_receives_only_pruned_text(
    highlighter: Any, retrieved: list[Document], threshold: float
) -> None:
    retriever = SemanticHighlightRetriever(
        base_retriever=base_retriever(), highlighter=highlighter, threshold=threshold, mode="prune"
    )
    llm = RecordingChatModel()
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer using only this context:\n\n{context}"), ("human", "{question}")]
    )
    chain = {"context": retriever | format_docs, "question": RunnablePassthrough()} | prompt | llm | StrOutputParser()
    assert chain.invoke(QUERY) == "It is about 330 metres tall."
    (sent,) = llm.prompts
    results = highlighter.highlight(QUERY, [d.page_content for d in retrieved], threshold=threshold)
    kept = [s.text.strip() for r in results for s in r.highlights]
    dropped = [s.text.strip() for r in results for s in r.sentences if not s.selected]
    assert kept and dropped
    assert all(k in sent for k in kept)
    assert not any(d in sent for d in dropped)
    assert KEY not in sent and "spans" not in sent and "threshold" not in sent


# --- packaging --------------------------------------------------------------------------------------------


def test_import_without_langchain_names_the_extra() -> None:
    code = "import sys; sys.modules['langchain_core'] = None; import langchain_semantic_highlight"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert (
        "pip install langchain-core langchain-classic" in proc.stderr and 'pip install -e ".[langchain]"' in proc.stderr
    )


# --- langchain-tests standard suite ---------------------------------------------------------------------------


class TestSemanticHighlightRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[SemanticHighlightRetriever]:
        return SemanticHighlightRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"base_retriever": base_retriever(k=5), "highlighter": integration_highlighter(), "threshold": 0.3}

    @property
    def retriever_query_example(self) -> str:
        return QUERY
