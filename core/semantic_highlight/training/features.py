"""Token-level features in the engine's input layout: ``<s> query </s></s> sent1 sent2 ... </s>``.

The query is tokenized once and every sentence on its own (``add_special_tokens=False``, trailing
whitespace kept), then concatenated, exactly as the scoring engine does; long documents are cut
into windows of at most ``max_length`` tokens with the query repeated in each window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tokenizers import Tokenizer

IGNORE = -100.0


@dataclass
class Window:
    """One model input: ids, per-token sentence index (-1 = query/special), and sentence ids covered."""

    input_ids: list[int]
    sent_index: list[int]
    sentences: list[int]


def special_ids(tok: Tokenizer) -> tuple[int, int, int]:
    """(bos, eos, pad) ids of an XLM-R style tokenizer."""
    return tok.token_to_id("<s>"), tok.token_to_id("</s>"), tok.token_to_id("<pad>")


def build_windows(
    tok: Tokenizer,
    query: str,
    sentences: Sequence[str],
    max_length: int,
    max_query_tokens: int = 64,
    sent_ids: Sequence[list[int]] | None = None,
) -> list[Window]:
    """Pack sentences greedily into windows; a sentence longer than the capacity is split into chunks."""
    bos, eos, _ = special_ids(tok)
    q = tok.encode(query, add_special_tokens=False).ids[:max_query_tokens]
    if sent_ids is None:
        sent_ids = [e.ids for e in tok.encode_batch(list(sentences), add_special_tokens=False)]
    head = [bos, *q, eos, eos]
    cap = max(1, max_length - 3 - len(q))  # the engine's window limit (query + context tokens)
    size = min(max(16, max_length // 2), cap)  # the engine's fragment length
    windows: list[Window] = []
    cur_ids: list[int] = []
    cur_idx: list[int] = []

    def flush() -> None:
        if cur_ids or not windows:
            ids = head + cur_ids + [eos]
            idx = [-1] * len(head) + cur_idx + [-1]
            windows.append(Window(ids, idx, sorted({i for i in cur_idx})))

    for si, ids in enumerate(sent_ids):
        for start in range(0, max(len(ids), 1), size):
            chunk = ids[start : start + size]
            if not chunk:
                continue
            if len(cur_ids) + len(chunk) > cap:
                flush()
                cur_ids, cur_idx = [], []
            cur_ids += chunk
            cur_idx += [si] * len(chunk)
    flush()
    return windows


def sentence_means(
    probs: Sequence[float], sent_index: Sequence[int], n_sentences: int, acc: list[list[float]] | None = None
) -> list[list[float]]:
    """Collect token keep-probabilities per sentence (append into ``acc`` across windows)."""
    acc = acc if acc is not None else [[] for _ in range(n_sentences)]
    for p, s in zip(probs, sent_index, strict=False):
        if s >= 0:
            acc[s].append(float(p))
    return acc
