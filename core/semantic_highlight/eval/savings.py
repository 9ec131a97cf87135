"""Context saved vs answers kept: how much of the context a selection keeps, and how much of the gold.

For one model on one dataset, at its default selection (and, with ``--sweep``, at every threshold):

- ``tokens_kept`` / ``chars_kept``: the selected sentences' share of all the context's tokens / characters
  (micro: summed over the dataset), where the context is each example's non-blank sentences, the ones
  the metrics count. ``1 - tokens_kept`` is what pruning to the highlights saves.
- ``gold_recall``: the share of gold sentences selected (micro recall).
- ``answers_kept``: among examples with a gold sentence, the share with at least one selected.

Tokens are counted with the model's own tokenizer (subword tokens, no special tokens) when the scorer
is a checkpoint; for baselines, which have none, with :func:`~semantic_highlight.agents.approximate_tokens`
(one token per CJK character, one per four other characters). ``token_counter`` records which.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from semantic_highlight.datasets.types import Example

__all__ = [
    "Savings",
    "compute_savings",
    "labelled_sentences",
    "sentence_sizes",
    "sweep_savings",
    "token_counter",
]

CountTokens = Callable[[list[str]], list[int]]


def labelled_sentences(examples: Sequence[Example]) -> list[list[str]]:
    """Each example's non-blank sentences: the ones :func:`~semantic_highlight.eval.runner.labelled_scores`
    keeps, in the same order."""
    return [[s for s in ex.sentences if s.strip()] for ex in examples]


def token_counter(scorer: Any) -> tuple[str, CountTokens]:
    """``("tokenizer", count)`` with the scorer's model tokenizer when it has one (a checkpoint), else
    ``("approx", count)`` with the character-based estimate. ``count(texts)`` returns one count per text."""
    tokenizer = getattr(getattr(getattr(scorer, "highlighter", None), "model", None), "tokenizer", None)
    if tokenizer is not None and callable(getattr(tokenizer, "encode_batch", None)):

        def count(texts: list[str]) -> list[int]:
            return [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)] if texts else []

        return "tokenizer", count
    from semantic_highlight.agents import approximate_tokens

    return "approx", lambda texts: [approximate_tokens(t) for t in texts]


def sentence_sizes(sentences: Sequence[Sequence[str]], count: CountTokens) -> tuple[list[list[int]], list[list[int]]]:
    """Characters and tokens of every sentence, shaped like ``sentences`` (tokenized in one batch)."""
    flat = [s for row in sentences for s in row]
    counts = count(flat)
    chars: list[list[int]] = []
    tokens: list[list[int]] = []
    pos = 0
    for row in sentences:
        chars.append([len(s) for s in row])
        tokens.append(list(counts[pos : pos + len(row)]))
        pos += len(row)
    return chars, tokens


@dataclass(frozen=True)
class Savings:
    """The context a selection keeps and the gold it keeps, on one dataset."""

    context_chars: int
    context_tokens: int
    chars_kept: float
    tokens_kept: float
    gold_recall: float
    answers_kept: float
    token_counter: str
    """``"tokenizer"`` (the model's) or ``"approx"`` (see the module docstring)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def compute_savings(
    gold: Sequence[Sequence[bool]],
    pred: Sequence[Sequence[bool]],
    chars: Sequence[Sequence[int]],
    tokens: Sequence[Sequence[int]],
    counter: str,
) -> Savings:
    """:class:`Savings` from per-sentence gold labels, selections and sizes (all the same shape)."""
    if not len(gold) == len(pred) == len(chars) == len(tokens):
        raise ValueError("gold, pred, chars and tokens must have one row per example")
    kept_c = all_c = kept_t = all_t = n_gold = gold_hit = answerable = answered = 0
    for g, p, c, t in zip(gold, pred, chars, tokens, strict=True):
        if not len(g) == len(p) == len(c) == len(t):
            raise ValueError("an example's gold, pred, chars and tokens differ in length")
        all_c += sum(c)
        all_t += sum(t)
        kept_c += sum(n for n, keep in zip(c, p, strict=True) if keep)
        kept_t += sum(n for n, keep in zip(t, p, strict=True) if keep)
        hits = sum(bool(a and b) for a, b in zip(g, p, strict=True))
        n_gold += sum(map(bool, g))
        gold_hit += hits
        if any(g):
            answerable += 1
            answered += hits > 0
    return Savings(
        context_chars=all_c,
        context_tokens=all_t,
        chars_kept=_share(kept_c, all_c),
        tokens_kept=_share(kept_t, all_t),
        gold_recall=_share(gold_hit, n_gold),
        answers_kept=_share(answered, answerable),
        token_counter=counter,
    )


def sweep_savings(
    selected: np.ndarray,
    gold: Sequence[Sequence[bool]],
    chars: Sequence[Sequence[int]],
    tokens: Sequence[Sequence[int]],
) -> dict[str, list[float]]:
    """Per threshold (the rows of ``selected``, a ``[thresholds, sentences]`` boolean matrix from
    :func:`~semantic_highlight.eval.metrics.sweep_selection`): ``tokens_kept``, ``chars_kept``, ``gold_recall``
    and ``answers_kept``, each a list over the thresholds."""
    g = np.fromiter((bool(x) for row in gold for x in row), dtype=bool)
    c = np.fromiter((x for row in chars for x in row), dtype=np.float64)
    t = np.fromiter((x for row in tokens for x in row), dtype=np.float64)
    if not selected.shape[1] == g.size == c.size == t.size:
        raise ValueError("selected, gold, chars and tokens differ in shape")
    bounds = np.cumsum([0, *(len(row) for row in gold)])
    answerable = np.array([any(row) for row in gold], dtype=bool)
    hit = selected & g[None, :]
    running = np.concatenate([np.zeros((hit.shape[0], 1), dtype=np.int64), np.cumsum(hit, axis=1)], axis=1)
    answered = (running[:, bounds[1:]] - running[:, bounds[:-1]]) > 0  # [thresholds, examples]
    n_answerable = int(answerable.sum())
    return {
        "tokens_kept": [_share(float(x), float(t.sum())) for x in selected @ t],
        "chars_kept": [_share(float(x), float(c.sum())) for x in selected @ c],
        "gold_recall": [_share(float(x), float(g.sum())) for x in hit.sum(1)],
        "answers_kept": [_share(float(x), n_answerable) for x in answered[:, answerable].sum(1)],
    }
