"""SelQA answer-sentence-selection JSON (``candidates`` + ``answers`` indices) -> sentence labels."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from semantic_highlight.datasets._common import glue_whitespace, report
from semantic_highlight.datasets.types import Example


def load_selqa(path: str | Path, *, source: str | None = None, stats: Counter[str] | None = None) -> list[Example]:
    """One example per question; the context is the section's candidates joined by spaces.

    Empty candidates are dropped (answer indices are remapped). ``meta["section_key"]`` is the
    (article, section) pair, shared across dev/test, for leakage-free splits.
    """
    path = Path(path)
    name = source or path.stem
    data = json.loads(path.read_text(encoding="utf-8"))
    out: list[Example] = []
    dropped: Counter[str] = Counter()
    for n, item in enumerate(data):
        cands: list[str] = item.get("candidates", [])
        keep = [i for i, c in enumerate(cands) if c.strip()]
        dropped["empty_candidate_sentences"] += len(cands) - len(keep)
        remap = {old: new for new, old in enumerate(keep)}
        relevant = frozenset(remap[a] for a in item.get("answers", []) if a in remap)
        question = (item.get("question") or "").strip()
        if not keep or not question:
            dropped["empty"] += 1
            continue
        if not relevant:
            dropped["no_answer_after_cleaning"] += 1
            continue
        out.append(
            Example(
                id=f"{name}:{n}",
                query=question,
                sentences=tuple(glue_whitespace([cands[i] for i in keep])),
                relevant=relevant,
                lang="en",
                source=name,
                meta={
                    "section_key": f"{item.get('article', '')}::{item.get('section', '')}",
                    "is_paraphrase": bool(item.get("is_paraphrase", False)),
                },
            )
        )
    report(name, len(out), dropped, stats)
    return out
