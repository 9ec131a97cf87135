"""FGC (Formosa Grand Challenge) evidence labels: ``SHINT`` indices over the ``SENTS`` clause
segments of ``DTEXT_CN`` (Simplified Chinese)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from semantic_highlight.datasets._common import report
from semantic_highlight.datasets.types import Example

_SENTENCE_END = "。！？!?\n"


def _segments(doc: dict[str, Any]) -> tuple[list[str], int]:  # a parsed JSON object
    """The ``SENTS`` clauses as contiguous text units of ``DTEXT_CN``: text before the first
    clause joins it, a gap between clauses joins the clause before it. Text after the last
    clause is not covered by any clause (never labelled) and is cut; returns its length too."""
    text = str(doc.get("DTEXT_CN") or "")
    sents = doc.get("SENTS") or []
    starts = [int(s["start"]) for s in sents]
    ends = [int(s["end"]) for s in sents]
    units = []
    for i in range(len(starts)):
        a = 0 if i == 0 else starts[i]
        b = starts[i + 1] if i + 1 < len(starts) else ends[i]
        units.append(text[a:b])
    covered = ends[-1] if ends else 0
    return units, max(0, len(text) - covered)


def _merge_sentences(units: list[str]) -> tuple[list[str], list[int]]:
    """Merge clauses into sentences ending at 。！？ or a newline; returns sentences and clause -> sentence."""
    merged: list[str] = []
    owner: list[int] = []
    open_sentence = False
    for u in units:
        if not open_sentence:
            merged.append("")
        merged[-1] += u
        owner.append(len(merged) - 1)
        open_sentence = not (u.rstrip(" \t") and u.rstrip(" \t")[-1] in _SENTENCE_END)
    return merged, owner


def load_fgc(
    path: str | Path, *, granularity: str = "clause", source: str | None = None, stats: Counter[str] | None = None
) -> list[Example]:
    """One example per question with evidence: query = ``QTEXT_CN``, units = ``SENTS`` clauses
    (``granularity="clause"``) or clauses merged at 。！？ (``"sentence"``, relevant if any of its
    clauses is), relevant = ``SHINT``. Questions without ``SHINT`` are dropped."""
    if granularity not in ("clause", "sentence"):
        raise ValueError(f"granularity must be 'clause' or 'sentence', got {granularity!r}")
    path = Path(path)
    name = source or "fgc"
    out: list[Example] = []
    dropped: Counter[str] = Counter()
    for doc in json.loads(path.read_text(encoding="utf-8")):
        units, cut = _segments(doc)
        questions = doc.get("QUESTIONS") or []
        if not units:
            dropped["no_segments"] += len(questions)
            continue
        owner = list(range(len(units)))
        if granularity == "sentence":
            units, owner = _merge_sentences(units)
        for q in questions:
            query = str(q.get("QTEXT_CN") or q.get("QTEXT") or "").strip()
            hint = [int(i) for i in q.get("SHINT") or []]
            if not query:
                dropped["empty_question"] += 1
                continue
            if not hint:
                dropped["no_evidence_shint"] += 1
                continue
            if any(not 0 <= i < len(owner) for i in hint):
                dropped["shint_out_of_range"] += 1
                continue
            out.append(
                Example(
                    id=f"{name}:{q.get('QID', len(out))}",
                    query=query,
                    sentences=tuple(units),
                    relevant=frozenset(owner[i] for i in hint),
                    lang="zh",
                    source=name,
                    meta={
                        "did": doc.get("DID", ""),
                        "amode": q.get("AMODE", ""),
                        "atype": q.get("ATYPE", ""),
                        "uncovered_tail_chars": cut,
                    },
                )
            )
    report(name, len(out), dropped, stats)
    return out
