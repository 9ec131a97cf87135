"""Open Provence context-relevance rows (``query, texts, context_spans, context_spans_relevance``)
-> one example per (query, text), units = the labelled spans."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from semantic_highlight.datasets._common import report
from semantic_highlight.datasets.types import Example


def _read_rows(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _mask(values: Any, n: int) -> list[int] | None:
    """0/1 per span (a list of that length) or span indices; ``None`` if inconsistent."""
    if values is None:
        return [0] * n
    values = list(values)
    if len(values) == n and all(int(v) in (0, 1) for v in values):
        return [int(v) for v in values]
    if all(0 <= int(v) < n for v in values):
        mask = [0] * n
        for v in values:
            mask[int(v)] = 1
        return mask
    return None


def _units(text: str, spans: Sequence[Sequence[int]]) -> list[str] | None:
    """Span texts made contiguous: leading text joins the first span, a gap joins the span before it,
    the tail joins the last one. ``None`` if spans are out of order or out of range."""
    starts = [int(s[0]) for s in spans]
    if any(b < a for a, b in itertools.pairwise(starts)) or any(
        not 0 <= int(s[0]) <= int(s[1]) <= len(text) for s in spans
    ):
        return None
    bounds = [0, *starts[1:], len(text)]
    return [text[bounds[i] : bounds[i + 1]] for i in range(len(spans))]


def load_openprovence(
    path: str | Path, *, lang: str = "en", source: str | None = None, stats: Counter[str] | None = None
) -> list[Example]:
    """Load Open Provence rows from JSON or JSONL. ``texts`` may be one string or a list; each
    text with spans becomes an example whose relevant units are the spans marked relevant.
    ``meta["label"]`` keeps the row's document label when present."""
    path = Path(path)
    name = source or path.stem
    out: list[Example] = []
    dropped: Counter[str] = Counter()
    for n, row in enumerate(_read_rows(path)):
        query = str(row.get("query") or "").strip()
        texts = row.get("texts")
        spans_all = row.get("context_spans")
        rel_all = row.get("context_spans_relevance")
        labels = row.get("labels")
        if isinstance(texts, str):
            texts, spans_all, rel_all = [texts], [spans_all], [rel_all]
            labels = [labels] if labels is not None else None
        if not query or not texts or spans_all is None or len(spans_all) != len(texts):
            dropped["missing_fields"] += 1
            continue
        rel_all = rel_all if rel_all is not None else [None] * len(texts)
        for t, (text, spans) in enumerate(zip(texts, spans_all, strict=True)):
            spans = [s for s in (spans or []) if s is not None]
            units = _units(str(text), spans) if spans else None
            mask = _mask(rel_all[t] if t < len(rel_all) else None, len(spans))
            if not units or mask is None:
                dropped["bad_spans_or_relevance"] += 1
                continue
            meta: dict[str, object] = {"row": n, "text_index": t}
            if labels is not None and t < len(labels):
                meta["label"] = labels[t]
            out.append(
                Example(
                    id=f"{name}:{row.get('id', n)}:{t}",
                    query=query,
                    sentences=tuple(units),
                    relevant=frozenset(i for i, m in enumerate(mask) if m),
                    lang=str(row.get("lang", lang)),
                    source=name,
                    meta=meta,
                )
            )
    report(name, len(out), dropped, stats)
    return out
