"""WikiQA answer-sentence selection TSV (CRLF, no quoting) -> sentence labels."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from semantic_highlight.datasets._common import glue_whitespace, report
from semantic_highlight.datasets.types import Example


def _sentence_order(sentence_id: str) -> int:
    """``D12-3`` -> 3 (rows are sorted by it within a document)."""
    tail = sentence_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def load_wikiqa(
    path: str | Path, *, keep_unanswerable: bool = True, source: str | None = None, stats: Counter[str] | None = None
) -> list[Example]:
    """One example per question: the candidate sentences of its document joined by spaces,
    relevant = rows with ``Label == 1``. Questions with no positive sentence become examples
    with nothing to highlight when ``keep_unanswerable`` (else they are dropped)."""
    path = Path(path)
    name = source or "wikiqa"
    groups: dict[str, dict[str, object]] = {}
    rows: dict[str, list[tuple[int, str, bool]]] = {}
    dropped: Counter[str] = Counter()
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        for row in reader:
            qid = (row.get("QuestionID") or "").strip()
            if not qid or row.get("Sentence") is None:
                dropped["malformed_row"] += 1
                continue
            groups.setdefault(
                qid,
                {
                    "question": (row.get("Question") or "").strip(),
                    "title": row.get("DocumentTitle") or "",
                    "doc": row.get("DocumentID") or "",
                },
            )
            label = (row.get("Label") or "0").strip() == "1"
            rows.setdefault(qid, []).append((_sentence_order(row.get("SentenceID") or ""), row["Sentence"], label))
    out: list[Example] = []
    for qid, info in groups.items():
        cands = sorted(rows[qid], key=lambda r: r[0])
        keep = [c for c in cands if c[1].strip()]
        if len(keep) < len(cands):
            dropped["empty_candidate_sentences"] += len(cands) - len(keep)
        if not keep or not info["question"]:
            dropped["empty"] += 1
            continue
        relevant = frozenset(i for i, c in enumerate(keep) if c[2])
        if not relevant and not keep_unanswerable:
            dropped["no_positive_sentence"] += 1
            continue
        out.append(
            Example(
                id=f"{name}:{qid}",
                query=str(info["question"]),
                sentences=tuple(glue_whitespace([c[1] for c in keep])),
                relevant=relevant,
                lang="en",
                source=name,
                meta={"title": info["title"], "document": info["doc"]},
            )
        )
    report(name, len(out), dropped, stats)
    return out
