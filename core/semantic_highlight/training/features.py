"""Training inputs in exactly the engine's layout: the engine's tokenizer loader, query cap and
window packing (:mod:`semantic_highlight.packing`), plus a per-token sentence index for the labels."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from semantic_highlight.models.base import InputLayout
from semantic_highlight.models.open_provence import load_tokenizer
from semantic_highlight.packing import cap_query, paragraph_starts, plan_windows, query_token_limit
from tokenizers import Tokenizer

IGNORE = -100.0


@dataclass
class Window:
    """One model input: ids, per-token sentence index (-1 = query/special), and sentence ids covered."""

    input_ids: list[int]
    sent_index: list[int]
    sentences: list[int]


@dataclass(frozen=True)
class Encoding:
    """A tokenizer with the engine's pair layout and the backbone's position limit."""

    tokenizer: Tokenizer
    layout: InputLayout
    max_positions: int

    @classmethod
    def from_folder(cls, folder: str | Path, max_positions: int = 10**9) -> Encoding:
        tok, layout = load_tokenizer(Path(folder))
        return cls(tok, layout, max_positions)


def build_windows(
    enc: Encoding,
    query: str,
    sentences: Sequence[str],
    max_length: int,
    sent_ids: Sequence[Sequence[int]] | None = None,
) -> list[Window]:
    """Windows of one (query, sentences) pair as the engine packs them (no window for an empty document)."""
    tok = enc.tokenizer
    limit = query_token_limit(max_length, enc.max_positions, enc.layout)
    encoded = tok.encode(query, add_special_tokens=False)
    q = cap_query(encoded.ids, encoded.offsets, query, limit)  # the engine's default query truncation
    if sent_ids is None:
        sent_ids = [e.ids for e in tok.encode_batch(list(sentences), add_special_tokens=False)]
    ends = list(itertools.accumulate(len(s) for s in sentences))  # the sentences are consecutive slices of the text
    paragraphs = paragraph_starts("".join(sentences), list(zip([0, *ends], ends, strict=False)))
    out: list[Window] = []
    for w in plan_windows(0, q, sent_ids, enc.layout, max_length, enc.max_positions, paragraphs=paragraphs):
        index = [-1] * len(w.input_ids)
        for f in w.fragments:
            index[f.start : f.end] = [f.sentence] * (f.end - f.start)
        out.append(Window(list(w.input_ids), index, sorted({f.sentence for f in w.fragments})))
    return out
