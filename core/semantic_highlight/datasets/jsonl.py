"""Our own JSONL format, for evaluation and training alike.

One object per line: ``{"query", "context" | "sentences", "relevant": [sentence indices] | "spans":
[[start, end], ...]}`` plus optional ``id``, ``lang``, ``query_type``, ``reasoning``, ``source``,
``provenance``. ``sentences`` items are strings or ``{"text", "start", "end"}`` objects, so the
output of ``semantic-highlight annotate`` loads as it is. With ``context`` the text is split by the
core splitter (``relevant`` then indexes those sentences); gold ``spans`` are character offsets into
the document text (``context``, or ``"".join(sentences)``) and mark every sentence they overlap.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from semantic_highlight.datasets._common import report, sentence_spans
from semantic_highlight.datasets.types import Example

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def guess_lang(text: str) -> str:
    """``"zh"`` when at least 20% of the non-space characters are CJK ideographs, else ``"en"``."""
    chars = [c for c in text if not c.isspace()]
    return "zh" if chars and sum(bool(_CJK.match(c)) for c in chars) >= 0.2 * len(chars) else "en"


def _parse(rec: dict[str, Any]) -> tuple[tuple[str, ...], frozenset[int]] | str:
    """(sentences, relevant) or the reason the record is dropped."""
    if isinstance(rec.get("sentences"), list):
        if any(isinstance(s, dict) and not isinstance(s.get("text"), str) for s in rec["sentences"]):
            return "sentence_without_text"
        sentences = tuple(s["text"] if isinstance(s, dict) else str(s) for s in rec["sentences"])
        bounds, pos = [], 0
        for s in sentences:
            bounds.append((pos, pos + len(s)))
            pos += len(s)
    elif isinstance(rec.get("context"), str):
        text = rec["context"]
        bounds = sentence_spans(text)
        sentences = tuple(text[a:b] for a, b in bounds)
    else:
        return "no_context_or_sentences"
    if not any(s.strip() for s in sentences):
        return "empty_document"
    if "spans" in rec:
        size = bounds[-1][1]
        relevant: set[int] = set()
        for span in rec["spans"] or []:
            a, b = int(span[0]), int(span[1])
            if not 0 <= a < b <= size:
                return "span_out_of_range"
            relevant.update(i for i, (s, e) in enumerate(bounds) if s < b and a < e)
        return sentences, frozenset(relevant)
    if "relevant" in rec:
        idx = [int(i) for i in rec["relevant"] or []]
        if any(not 0 <= i < len(sentences) for i in idx):
            return "relevant_index_out_of_range"
        return sentences, frozenset(idx)
    return "no_relevant_or_spans"


def load_jsonl(
    path: str | Path, *, lang: str | None = None, source: str | None = None, stats: Counter[str] | None = None
) -> list[Example]:
    """Load our JSONL format (see the module docstring). ``lang``: the record's ``lang``, else this
    argument, else guessed from the text. Extra fields go to ``meta`` (``query_type``, ``reasoning``,
    ``source``)."""
    path = Path(path)
    name = source or path.stem
    out: list[Example] = []
    dropped: Counter[str] = Counter()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                dropped["invalid_json"] += 1
                continue
            query = str(rec.get("query") or "").strip() if isinstance(rec, dict) else ""
            if not query:
                dropped["no_query"] += 1
                continue
            parsed = _parse(rec)
            if isinstance(parsed, str):
                dropped[parsed] += 1
                continue
            sentences, relevant = parsed
            meta = {k: rec[k] for k in ("query_type", "reasoning", "source", "provenance") if k in rec}
            prov = rec.get("provenance") if isinstance(rec.get("provenance"), dict) else {}
            out.append(
                Example(
                    id=f"{name}:{rec.get('id', n)}",
                    query=query,
                    sentences=sentences,
                    relevant=relevant,
                    lang=str(rec.get("lang") or prov.get("lang") or lang or guess_lang(query + "".join(sentences))),
                    source=name,
                    meta=meta,
                )
            )
    report(name, len(out), dropped, stats)
    return out
