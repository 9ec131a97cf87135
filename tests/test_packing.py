"""Packing and batch planning: windows hold every token once; batches respect budget and padding."""

from __future__ import annotations

import pytest
from semantic_highlight.models.base import InputLayout
from semantic_highlight.packing import (
    fragment_length,
    paragraph_starts,
    plan_batches,
    plan_windows,
    query_token_limit,
)

XLMR = InputLayout((0,), (2, 2), (2,), pad_id=1)
BERT = InputLayout((101,), (102,), (102,), pad_id=0, suffix_when_empty=False)


@pytest.mark.parametrize("layout", [XLMR, BERT])
def test_windows_cover_every_token_in_order(layout: InputLayout) -> None:
    sentences = [list(range(1000 + 100 * i, 1000 + 100 * i + n)) for i, n in enumerate([5, 70, 12, 33, 1, 90])]
    query = [7, 8, 9]
    windows = plan_windows(0, query, sentences, layout, max_length=64, max_positions=512)
    seen: dict[int, list[int]] = {}
    for w in windows:
        assert len(w) <= 64 + 1  # the reference's RoBERTa layout may reach max_length + 1
        assert list(w.input_ids[: len(layout.prefix) + len(query)]) == [*layout.prefix, *query]
        for f in w.fragments:
            assert f.end - f.start <= fragment_length(64)
            seen.setdefault(f.sentence, []).extend(w.input_ids[f.start : f.end])
    assert [seen[i] for i in range(len(sentences))] == sentences


def test_position_limit_bounds_windows() -> None:
    sentences = [list(range(50))] * 20
    windows = plan_windows(0, [5] * 10, sentences, XLMR, max_length=8192, max_positions=128)
    assert all(len(w) <= 128 for w in windows)
    assert sum(f.end - f.start for w in windows for f in w.fragments) == 1000


def test_query_limit_leaves_room_for_a_fragment() -> None:
    limit = query_token_limit(64, 512, XLMR)
    windows = plan_windows(0, [5] * limit, [list(range(40))], XLMR, 64, 512)
    assert sum(f.end - f.start for w in windows for f in w.fragments) == 40
    with pytest.raises(ValueError, match="no room"):
        plan_windows(0, [5] * 61, [[1]], XLMR, 64, 512)


def test_blank_fragments_are_skipped() -> None:
    windows = plan_windows(0, [5], [[6], [10, 11]], XLMR, 64, 512, is_blank=lambda ids: list(ids) == [6])
    assert [f.sentence for w in windows for f in w.fragments] == [1]


def test_paragraph_starts_need_a_blank_line() -> None:
    text = "One. Two.\nThree.\n\nFour.\n  \n Five.\r\n\r\nSix."
    spans, pos = [], 0
    for sentence in ["One. ", "Two.\n", "Three.\n\n", "Four.\n  \n ", "Five.\r\n\r\n", "Six."]:
        spans.append((pos, pos + len(sentence.rstrip())))
        pos += len(sentence)
    assert paragraph_starts(text, spans) == {3, 4, 5}
    assert paragraph_starts("One.\n\nTwo.", [(0, 6), (6, 10)]) == {1}  # the break inside the first span counts
    assert paragraph_starts("", []) == frozenset()


def test_a_paragraph_never_starts_in_a_window_it_does_not_fit_in() -> None:
    # 60 context tokens a window (fragments of 32); paragraphs of 25, 40 (two sentences), 5 and 70 tokens
    sentences = [list(range(25)), list(range(20)), list(range(20)), list(range(5)), list(range(35)), list(range(35))]
    paragraphs = {1, 3, 4}
    greedy = plan_windows(0, [5], sentences, XLMR, 64, 512)
    aware = plan_windows(0, [5], sentences, XLMR, 64, 512, paragraphs=paragraphs)
    assert [[f.sentence for f in w.fragments] for w in greedy] == [[0, 1], [2, 3, 4, 4], [5, 5]]
    # 25 + 40 > 60: the second paragraph opens a window; the 5-token one still fits beside it; the 70-token one
    # (longer than a window) starts a fresh window and is cut the same way it would be on its own
    assert [[f.sentence for f in w.fragments] for w in aware] == [[0], [1, 2, 3], [4, 4], [5, 5]]
    alone = plan_windows(0, [5], sentences[4:], XLMR, 64, 512)
    assert [len(w) for w in aware[2:]] == [len(w) for w in alone]
    covered = [w.input_ids[f.start : f.end] for w in aware for f in w.fragments]
    assert [t for ids in covered for t in ids] == [t for s in sentences for t in s]  # still every token once
    assert plan_windows(0, [5], sentences, XLMR, 64, 512, paragraphs={0, 99}) == greedy  # out-of-range: ignored


def test_batches_respect_budget_and_padding() -> None:
    lengths = [300, 310, 295, 120, 118, 500, 30, 305, 290, 125]
    batches = plan_batches(lengths, max_batch_tokens=1000, max_padding=0.1)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    padded = real = 0
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert len(b) * longest <= 1000 or len(b) == 1
        padded += len(b) * longest
        real += sum(lengths[i] for i in b)
    assert padded / real <= 1.1
    assert plan_batches([5000], max_batch_tokens=100) == [[0]]
    assert len(plan_batches([100] * 10, max_batch_tokens=10_000)) == 1
