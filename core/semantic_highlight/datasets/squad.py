"""SQuAD-style span JSON (SQuAD 1.1/2.0, XQuAD, TyDi GoldP, CMRC 2018, DRCD) -> sentence labels.

A sentence is relevant when it overlaps a gold answer span. Answers are located by their
offset, falling back to a string search (nearest occurrence) when the offset is missing,
-1 or does not match the text.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from semantic_highlight.datasets._common import report, sentence_spans
from semantic_highlight.datasets.types import Example


def locate_answer(context: str, text: str, start: int | None) -> tuple[int, int] | None:
    """Character span of an answer: the given offset if it matches, else the nearest occurrence."""
    if not text:
        return None
    if start is not None and start >= 0 and context[start : start + len(text)] == text:
        return start, start + len(text)
    hits, pos = [], context.find(text)
    while pos >= 0:
        hits.append(pos)
        pos = context.find(text, pos + 1)
    if not hits:
        return None
    ref = start if start is not None and start >= 0 else 0
    best = min(hits, key=lambda h: abs(h - ref))
    return best, best + len(text)


def load_squad(
    path: str | Path,
    *,
    lang: str = "en",
    source: str | None = None,
    keep_unanswerable: bool = True,
    stats: Counter[str] | None = None,
) -> list[Example]:
    """Load a SQuAD-format file into :class:`Example` objects (one per question).

    Unanswerable questions (``is_impossible`` true, or no answers) become examples with no
    relevant sentence when ``keep_unanswerable``; answerable questions whose answers cannot be
    found in the context are dropped.
    """
    path = Path(path)
    name = source or path.stem
    data = json.loads(path.read_text(encoding="utf-8"))
    out: list[Example] = []
    dropped: Counter[str] = Counter()
    for article in data["data"]:
        for para in article.get("paragraphs", []):
            context: str = para.get("context", "")
            if not context.strip():
                dropped["empty_context"] += len(para.get("qas", []))
                continue
            spans = sentence_spans(context)
            sentences = tuple(context[s:e] for s, e in spans)
            for qa in para.get("qas", []):
                question = (qa.get("question") or "").strip()
                if not question:
                    dropped["empty_question"] += 1
                    continue
                impossible = str(qa.get("is_impossible", "false")).lower() == "true"
                answers = [] if impossible else qa.get("answers", [])
                located = [locate_answer(context, a.get("text", ""), a.get("answer_start")) for a in answers]
                found = [x for x in located if x is not None]
                if answers and not found:
                    dropped["answer_not_found"] += 1
                    continue
                if not answers and not keep_unanswerable:
                    dropped["unanswerable"] += 1
                    continue
                relevant = frozenset(i for i, (s, e) in enumerate(spans) for a, b in found if s < b and a < e)
                meta = {"title": article.get("title", ""), "answers": [a.get("text", "") for a in answers]}
                out.append(
                    Example(
                        id=f"{name}:{qa.get('id', len(out))}",
                        query=question,
                        sentences=sentences,
                        relevant=relevant,
                        lang=lang,
                        source=name,
                        meta=meta,
                    )
                )
    report(name, len(out), dropped, stats)
    return out
