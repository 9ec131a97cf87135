"""Property-based (bounded) fuzz of both wrappers on the tiny fixture model: any mix of texts, odd content,
metadata that cannot be deep-copied and settings never crashes a batch, never mutates the inputs, keeps
offsets exact and follows ``on_empty``/``min_keep``; the LangChain and LlamaIndex wrappers agree."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("llama_index.core")
pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document
from langchain_semantic_highlight import SemanticHighlightCompressor
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode
from llama_index.postprocessor.semantic_highlight import SemanticHighlightPostprocessor

KEY = "semantic_highlight"
LLAMA_ONLY = {"original_start_char_idx", "original_end_char_idx"}
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

words = st.sampled_from(
    ["Paris", "tower", "is", "tall", "330", "metres", "cats", "eat", "fish", "埃菲尔铁塔", "很高", "Dr.", "e.g."]
)
separators = st.sampled_from([" ", ". ", "! ", "? ", "\n", "\n\n", "  ", "。", "\t", " \u00a0", "... "])
sentence_text = st.lists(st.tuples(words, separators), min_size=0, max_size=12).map(
    lambda parts: "".join(w + s for w, s in parts)
)
padding = st.sampled_from(["", " ", "\n", "  \n\t", "\n\n"])
text = st.tuples(padding, sentence_text, padding).map("".join)
content = st.one_of(text, text, text, st.just(""), st.just("   \n"))


@st.composite
def metadata(draw: st.DrawFn) -> dict[str, Any]:
    meta: dict[str, Any] = draw(st.dictionaries(st.sampled_from(["source", "page", "tags"]), st.integers(), max_size=2))
    odd = draw(st.sampled_from([None, "lock", "generator"]))
    if odd == "lock":
        meta["lock"] = threading.Lock()
    elif odd == "generator":
        meta["gen"] = (i for i in range(2))
    return meta


options = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(["annotate", "prune"]),
        "threshold": st.one_of(st.none(), st.floats(-0.1, 1.0)),
        "fallback_threshold": st.one_of(st.none(), st.just(1.0), st.floats(0.0, 1.0)),
        "top_k": st.one_of(st.none(), st.integers(0, 3)),
        "top_n": st.one_of(st.none(), st.integers(1, 4)),
        "on_empty": st.sampled_from([None, "drop", "keep_original", "keep_best"]),
        "min_keep": st.integers(0, 2),
        "context_sentences": st.integers(0, 2),
    }
)
queries = st.sampled_from(["How tall is the tower?", "猫吃什么？", "tower height", "?!", "x", "Paris 330"])


def check_annotation(original: str, new_text: str, meta: dict[str, Any], mode: str) -> None:
    for span in meta["spans"]:
        assert original[span["start"] : span["end"]] == span["text"]
    if mode == "annotate":
        assert new_text == original
        return
    if meta.get("kept_by") == "keep_original":
        assert new_text == original and not meta["spans"]
        return
    assert new_text == new_text.strip()
    for seg in meta["segments"]:
        assert new_text[seg["pruned_start"] : seg["pruned_end"]] == original[seg["start"] : seg["end"]]
    assert "".join(new_text[s["pruned_start"] : s["pruned_end"]] for s in meta["segments"]).strip() == new_text.strip()
    for span in meta["spans"]:
        ps, pe = span["pruned_start"], span["pruned_end"]
        assert new_text[ps:pe] == span["text"][: pe - ps]


def expected_ids(contents: list[str], out_ids: list[str], opts: dict[str, Any], query: str) -> None:
    """What ``on_empty``/``min_keep`` promise about which chunks come back (without ``top_n``)."""
    ids = [str(i) for i in range(len(contents))]
    bad = [str(i) for i, c in enumerate(contents) if not c.strip()]
    assert set(bad) <= set(out_ids)  # passed through, never lost
    assert out_ids == [i for i in ids if i in out_ids]  # input order
    policy = opts["on_empty"] or ("drop" if opts["mode"] == "prune" else "keep_original")
    if policy != "drop":
        assert out_ids == ids
    scored = len(ids) - len(bad)
    if policy == "drop" and opts["min_keep"] and scored and opts["top_k"] != 0 and any(ch.isalnum() for ch in query):
        assert len(out_ids) - len(bad) >= min(opts["min_keep"], scored)


@FUZZ
@given(contents=st.lists(content, min_size=1, max_size=5), metas=st.lists(metadata(), min_size=5, max_size=5),
       opts=options, query=queries)  # fmt: skip
def test_both_wrappers_agree_and_keep_their_promises(
    xlmr: Any, contents: list[str], metas: list[dict[str, Any]], opts: dict[str, Any], query: str
) -> None:
    metas = metas[: len(contents)]
    docs = [
        Document(page_content=c, metadata=m, id=str(i)) for i, (c, m) in enumerate(zip(contents, metas, strict=True))
    ]
    nodes = [
        NodeWithScore(node=TextNode(id_=str(i), text=c, metadata=m, start_char_idx=0, end_char_idx=len(c)), score=0.5)
        for i, (c, m) in enumerate(zip(contents, metas, strict=True))
    ]
    before = [(d.page_content, dict(d.metadata)) for d in docs]
    lc = SemanticHighlightCompressor(highlighter=xlmr, **opts).compress_documents(docs, query)
    li = SemanticHighlightPostprocessor(highlighter=xlmr, **opts).postprocess_nodes(nodes, query_str=query)

    assert [(d.page_content, dict(d.metadata)) for d in docs] == before  # never mutated
    assert all(len(d.metadata) == len(m) for d, m in zip(docs, metas, strict=True))
    assert all(KEY not in n.node.metadata and n.node.start_char_idx == 0 for n in nodes)
    assert [d.id for d in lc] == [n.node.node_id for n in li]  # the two wrappers agree
    for doc, node in zip(lc, li, strict=True):
        original = contents[int(doc.id)]
        node_text = node.node.get_content(MetadataMode.NONE)
        assert doc.page_content == node_text
        if KEY not in doc.metadata:  # passed through
            assert doc.page_content == original and KEY not in node.node.metadata
            continue
        meta = doc.metadata[KEY]
        assert {k: v for k, v in node.node.metadata[KEY].items() if k not in LLAMA_ONLY} == meta
        check_annotation(original, doc.page_content, meta, opts["mode"])
        assert (node.node.start_char_idx is None) == (doc.page_content != original)  # no stale offsets
        assert all(doc.metadata[k] is v for k, v in metas[int(doc.id)].items())  # values shared, not copied
    if opts["top_n"] is None:
        expected_ids(contents, [d.id for d in lc], opts, query)
    else:
        assert len(lc) <= opts["top_n"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contents=st.lists(content, min_size=1, max_size=4), opts=options, query=queries)
def test_async_paths_equal_sync_paths(xlmr: Any, contents: list[str], opts: dict[str, Any], query: str) -> None:
    docs = [Document(page_content=c, id=str(i)) for i, c in enumerate(contents)]
    nodes = [NodeWithScore(node=TextNode(id_=str(i), text=c), score=0.5) for i, c in enumerate(contents)]
    compressor = SemanticHighlightCompressor(highlighter=xlmr, **opts)
    pp = SemanticHighlightPostprocessor(highlighter=xlmr, **opts)

    async def both() -> tuple[Any, Any]:
        return await compressor.acompress_documents(docs, query), await pp.apostprocess_nodes(nodes, query_str=query)

    alc, ali = asyncio.run(both())
    slc, sli = compressor.compress_documents(docs, query), pp.postprocess_nodes(nodes, query_str=query)
    assert [(d.id, d.page_content, d.metadata) for d in alc] == [(d.id, d.page_content, d.metadata) for d in slc]
    assert [(n.node.node_id, n.node.get_content(), n.node.metadata, n.score) for n in ali] == [
        (n.node.node_id, n.node.get_content(), n.node.metadata, n.score) for n in sli
    ]
