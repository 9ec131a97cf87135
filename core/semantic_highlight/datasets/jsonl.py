"""Our own JSONL format, for evaluation and training alike.

One object per line: ``{"query", "context" | "sentences", "relevant": [sentence indices] | "spans":
[[start, end], ...]}`` plus optional ``id``, ``lang``, ``query_type``, ``reasoning``, ``source``,
``provenance``. ``sentences`` items are strings or ``{"text", "start", "end"}`` objects, so the
output of ``semantic-highlight annotate`` loads as it is. With ``context`` the text is split by the
core splitter (``relevant`` then indexes those sentences); gold ``spans`` are character offsets into
the document text (``context``, or ``"".join(sentences)``) and mark every sentence they overlap.

A record without ``relevant`` or ``spans`` is unlabelled and dropped (``"relevant": []`` is a labelled
record with no relevant sentence: a negative). Records that do not fit the format are counted by
reason, skipped, and logged as a warning with the line of the first one; the file may start with a
UTF-8 byte-order mark.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

from semantic_highlight.datasets._common import report, sentence_spans
from semantic_highlight.datasets.types import Example

log = logging.getLogger("semantic_highlight.datasets")

_HINTS = {
    "unlabelled_annotate_input": ": passages to label; run `semantic-highlight annotate` on them first",
    "no_relevant_or_spans": ": unlabelled; give `relevant` (sentence indices, [] for none) or `spans`",
    "bad_relevant": ": `relevant` must be a list of integer sentence indices",
    "bad_spans": ": `spans` must be a list of [start, end] character offsets",
}

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
    elif isinstance(rec.get("passage"), str) or isinstance(rec.get("text"), str):
        return "unlabelled_annotate_input"  # `semantic-highlight annotate` input: label it first
    else:
        return "no_context_or_sentences"
    if not any(s.strip() for s in sentences):
        return "empty_document"
    if "spans" in rec:
        spans = rec["spans"]
        if not isinstance(spans, list) or not all(
            isinstance(sp, list) and len(sp) == 2 and all(_is_int(x) for x in sp) for sp in spans
        ):
            return "bad_spans"  # not a list of [start, end] integer pairs
        size = bounds[-1][1]
        relevant: set[int] = set()
        for a, b in spans:
            if not 0 <= a < b <= size:
                return "span_out_of_range"
            relevant.update(i for i, (s, e) in enumerate(bounds) if s < b and a < e)
        return sentences, frozenset(relevant)
    if "relevant" in rec:
        idx = rec["relevant"]  # a list; `0`, `null` or `""` are not "no relevant sentence" (that is `[]`)
        if not isinstance(idx, list) or not all(_is_int(i) for i in idx):
            return "bad_relevant"  # not a list of integer sentence indices
        if any(not 0 <= i < len(sentences) for i in idx):
            return "relevant_index_out_of_range"
        return sentences, frozenset(idx)
    return "no_relevant_or_spans"


def _is_int(x: object) -> bool:
    """A JSON integer (``true``/``false`` are not)."""
    return isinstance(x, int) and not isinstance(x, bool)


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
    first_line: dict[str, int] = {}  # reason -> line number (1-based) of its first record

    def drop(reason: str, n: int) -> None:
        dropped[reason] += 1
        first_line.setdefault(reason, n + 1)

    with open(path, encoding="utf-8-sig") as f:
        for n, line in enumerate(f):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                drop("invalid_json", n)
                continue
            query = str(rec.get("query") or "").strip() if isinstance(rec, dict) else ""
            if not query:
                drop("no_query", n)
                continue
            parsed = _parse(rec)
            if isinstance(parsed, str):
                drop(parsed, n)
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
    if dropped:
        log.warning(
            "%s: skipped %d of %d records: %s",
            path,
            sum(dropped.values()),
            sum(dropped.values()) + len(out),
            "; ".join(f"{r} x{k} (first at line {first_line[r]}){_HINTS.get(r, '')}" for r, k in dropped.items()),
        )
    return out
