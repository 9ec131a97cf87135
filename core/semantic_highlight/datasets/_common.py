"""Helpers shared by the dataset loaders: sentence splitting with offsets, drop accounting."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from semantic_highlight.splitting import split_sentences

log = logging.getLogger("semantic_highlight.datasets")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Contiguous ``[start, end)`` sentence spans covering ``text`` (whitespace goes to the preceding one)."""
    raw = [(s.start, s.end) for s in split_sentences(text)]
    spans: list[tuple[int, int]] = []
    prev = 0
    for i, (_, end) in enumerate(raw):
        end = len(text) if i == len(raw) - 1 else end
        if end > prev:
            spans.append((prev, end))
            prev = end
    if not spans and text:
        spans = [(0, len(text))]
    elif spans and spans[-1][1] < len(text):
        spans[-1] = (spans[-1][0], len(text))
    return spans


def glue_whitespace(parts: Sequence[str], sep: str = " ") -> list[str]:
    """Join pre-split sentences: strip each, attach ``sep`` (or the original gap) to the preceding one."""
    out: list[str] = []
    for i, p in enumerate(parts):
        core = p.strip()
        out.append(core + (sep if i < len(parts) - 1 else ""))
    return out


def report(name: str, kept: int, dropped: Counter[str], stats: Counter[str] | None) -> None:
    """Log what a loader kept and dropped (and why); also add it to ``stats`` if given."""
    if stats is not None:
        stats[f"{name}:kept"] += kept
        for reason, n in dropped.items():
            stats[f"{name}:dropped:{reason}"] += n
    detail = ", ".join(f"{r}={n}" for r, n in sorted(dropped.items())) or "none"
    log.info("%s: kept %d examples; dropped: %s", name, kept, detail)
