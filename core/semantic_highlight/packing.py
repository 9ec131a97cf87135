"""Query + sentence tokens -> fragments -> model windows -> a length-sorted, token-budgeted batch plan.

Every context token of a document lands in exactly one window: long documents get as many
windows as they need and over-long sentences are cut into fragments, never truncated. Only the
query is capped (see :func:`query_token_limit`) so that it cannot starve the document.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from .models.base import InputLayout
from .splitting import split_sentences

__all__ = [
    "DEFAULT_QUERY_TRUNCATION",
    "LAST_SENTENCES_TOKENS",
    "QUERY_TRUNCATIONS",
    "Fragment",
    "QueryTruncation",
    "Window",
    "cap_query",
    "fragment_length",
    "paragraph_starts",
    "plan_batches",
    "plan_windows",
    "query_token_limit",
]

QueryTruncation = Literal["end", "start", "last_sentences"]
QUERY_TRUNCATIONS: tuple[QueryTruncation, ...] = ("end", "start", "last_sentences")
DEFAULT_QUERY_TRUNCATION: QueryTruncation = "last_sentences"
"""How a long query is cut by default: keep its final sentences, where chat and agent frameworks put the question
(measured on the OOD chat variants: the model does not pick the question out of a history it is given whole)."""
LAST_SENTENCES_TOKENS = 16
"""Token budget of ``query_truncation="last_sentences"``: the query's final sentences that fit in it are kept."""


@dataclass(frozen=True)
class Fragment:
    """A run of a sentence's tokens placed in a window at ``[start, end)`` of its ``input_ids``."""

    sentence: int
    start: int
    end: int


@dataclass(frozen=True)
class Window:
    """One model input: a query and consecutive fragments of one document (``document``: its index in the
    caller's list of prepared documents)."""

    document: int
    input_ids: tuple[int, ...]
    fragments: tuple[Fragment, ...]

    def __len__(self) -> int:
        return len(self.input_ids)


def _window_limit(max_length: int, max_positions: int, layout: InputLayout) -> int:
    """Most query + context tokens one window may hold (the reference's ``max_length - 3``)."""
    return max(2, min(max_length - 3, max_positions - layout.num_special))


def fragment_length(max_length: int) -> int:
    """Sentences are cut into fragments of this many tokens (the reference rule)."""
    return max(16, max_length // 2)


def query_token_limit(max_length: int, max_positions: int, layout: InputLayout) -> int:
    """Longest query kept: it must leave room for one full fragment of context."""
    limit = _window_limit(max_length, max_positions, layout)
    return max(1, limit - min(fragment_length(max_length), limit // 2))


def cap_query(
    ids: Sequence[int],
    offsets: Sequence[tuple[int, int]],
    text: str,
    limit: int,
    truncation: QueryTruncation = DEFAULT_QUERY_TRUNCATION,
) -> list[int]:
    """The query tokens kept (``ids`` with their character ``offsets`` into ``text``, no special tokens).

    ``"end"``: the last ``limit`` tokens of a longer query (the question after a chat history);
    ``"start"``: the first ``limit`` (the reference's habit). ``"last_sentences"``: whenever the query is longer
    than ``min(limit, LAST_SENTENCES_TOKENS)``, its final sentences (:func:`split_sentences`) that fit in that
    budget; the last sentence alone when even it is longer, cut to its last ``limit`` tokens if needed.
    """
    if truncation == "last_sentences":
        budget = min(limit, LAST_SENTENCES_TOKENS)
        if len(ids) <= budget:
            return list(ids)
        starts = [span.start for span in split_sentences(text, None)]
        first_token: dict[
            int, int
        ] = {}  # sentence start (chars) -> index of the first token that ends inside that sentence
        token = 0
        for start in starts:
            while token < len(ids) and offsets[token][1] <= start:
                token += 1
            first_token[start] = token
        fitting = [first_token[s] for s in starts if len(ids) - first_token[s] <= budget]
        keep_from = min(fitting) if fitting else (first_token[starts[-1]] if starts else 0)
        if keep_from >= len(ids):  # a last "sentence" with no token of its own: keep the budget's worth
            keep_from = len(ids) - budget
        return list(ids[keep_from:])[-limit:]
    if len(ids) <= limit:
        return list(ids)
    return list(ids[:limit]) if truncation == "start" else list(ids[len(ids) - limit :])


def paragraph_starts(text: str, spans: Sequence[tuple[int, int]]) -> frozenset[int]:
    """Indices of the sentences (``spans`` into ``text``, in order) that open a paragraph after the first: a blank
    line (two line breaks in the whitespace) separates them from the sentence before."""
    starts = set()
    for i in range(1, len(spans)):
        before = text[spans[i - 1][0] : spans[i][0]]
        tail = before[len(before.rstrip()) :]
        if tail.count("\n") >= 2:
            starts.add(i)
    return frozenset(starts)


def plan_windows(
    document: int,
    query_ids: Sequence[int],
    sentence_ids: Sequence[Sequence[int]],
    layout: InputLayout,
    max_length: int,
    max_positions: int,
    is_blank: Callable[[Sequence[int]], bool] | None = None,
    paragraphs: Collection[int] = (),
) -> list[Window]:
    """Pack one document's sentences (already tokenized) greedily, in order, into windows.

    ``query_ids`` must already respect :func:`query_token_limit`. Fragments for which
    ``is_blank`` is true (tokens that decode to nothing) are skipped, as the reference does.
    ``paragraphs`` (see :func:`paragraph_starts`): a paragraph never starts in a window it does not fit in, so a
    passage of a joined tool output is scored with the windows it would get on its own, not with the tail of the
    passage before it (pass nothing for the reference's purely greedy packing).
    """
    budget = _window_limit(max_length, max_positions, layout) - len(query_ids)
    if budget < 1:
        raise ValueError("query leaves no room for context; cap it with query_token_limit()")
    size = min(fragment_length(max_length), budget)
    offset = layout.context_offset(len(query_ids))
    windows: list[Window] = []
    context: list[int] = []
    placed: list[tuple[int, int, int]] = []

    def close() -> None:
        if placed:
            ids = layout.build(list(query_ids), context)
            frags = tuple(Fragment(s, offset + a, offset + b) for s, a, b in placed)
            windows.append(Window(document, tuple(ids), frags))
            context.clear()
            placed.clear()

    ends = sorted({p for p in paragraphs if 0 < p < len(sentence_ids)} | {len(sentence_ids)})
    paragraph_tokens = {
        start: sum(len(sentence_ids[i]) for i in range(start, end))
        for start, end in zip([0, *ends[:-1]], ends, strict=True)
        if start in paragraphs
    }
    for index, ids in enumerate(sentence_ids):
        if index in paragraph_tokens and len(context) + paragraph_tokens[index] > budget:
            close()
        for a in range(0, len(ids), size):
            piece = ids[a : a + size]
            if is_blank is not None and is_blank(piece):
                continue
            if len(context) + len(piece) > budget:
                close()
            placed.append((index, len(context), len(context) + len(piece)))
            context.extend(piece)
    close()
    return windows


def plan_batches(lengths: Sequence[int], max_batch_tokens: int, max_padding: float = 0.1) -> list[list[int]]:
    """Group item indices into batches, longest first.

    A batch grows while ``rows * longest <= max_batch_tokens`` and its padded size stays within
    ``1 + max_padding`` times its real tokens. Sorting by length keeps padding small; an item
    longer than the budget gets a batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in order:
        n = lengths[i]
        if current:
            padded = (len(current) + 1) * lengths[current[0]]
            if padded > max_batch_tokens or padded > (1.0 + max_padding) * (real + n):
                batches.append(current)
                current, real = [], 0
        current.append(i)
        real += n
    if current:
        batches.append(current)
    return batches
