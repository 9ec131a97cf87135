"""Checks that decide whether an LLM label becomes a training sample, with a reason when it does not.

Reasons (in the order they are checked): ``malformed`` (no JSON object, missing or mistyped
fields), ``out_of_range`` (a sentence number outside ``1..n``), ``contradiction`` (the reasoning
cites, by number, a sentence that is not in the labels; the prompts ask the model to number only
the sentences it selects) and, with two passes, ``disagreement`` (the passes chose different sets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .parse import extract_json_object

__all__ = ["REASONS", "Verdict", "check_agreement", "check_label", "cited_sentences"]

REASONS = ("malformed", "out_of_range", "contradiction", "disagreement")

_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "1st": 1,
    "2nd": 2,
    "3rd": 3,
}
_ZH_DIGITS = dict(zip("零〇一二两三四五六七八九", (0, 0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9), strict=True))
_NUM = r"(?:\d+|[零〇一二两三四五六七八九十百]+)"
_LIST = rf"{_NUM}(?:\s*(?:,|，|、|/|&|and|or|to|至|到|和|及|与|或|-|–|—|~)\s*{_NUM})*"
_PATTERNS = [
    re.compile(rf"\bsentences?\s*(?:#|no\.?\s*)?({_LIST})", re.IGNORECASE),
    re.compile(rf"\bS({_NUM})\b"),
    re.compile(rf"\[({_NUM})\]"),
    re.compile(rf"第\s*({_LIST})\s*(?:个)?\s*句"),
    re.compile(rf"句子?\s*({_LIST})"),
]
_ORD = "|".join(_ORDINALS)
_ORDINAL_RE = re.compile(rf"\b((?:{_ORD})(?:\s*(?:,|and|or)\s*(?:{_ORD}))*)\s+sentences?\b", re.IGNORECASE)
_ORD_WORD_RE = re.compile(rf"\b(?:{_ORD})\b", re.IGNORECASE)
_RANGE_SEP = ("to", "至", "到", "-", "–", "—", "~")


def _zh_int(token: str) -> int | None:
    """Parse ``"12"``, ``"三"``, ``"十二"``, ``"二十一"`` (up to 999); ``None`` otherwise."""
    if token.isdigit():
        return int(token)
    total, cur = 0, 0
    for ch in token:
        if ch in _ZH_DIGITS:
            cur = _ZH_DIGITS[ch]
        elif ch == "十":
            total += (cur or 1) * 10
            cur = 0
        elif ch == "百":
            total += (cur or 1) * 100
            cur = 0
        else:
            return None
    return total + cur


def _expand(listing: str) -> set[int]:
    parts = re.split(rf"\s*({'|'.join(map(re.escape, _RANGE_SEP))}|,|，|、|/|&|and|or|和|及|与|或)\s*", listing)
    out: set[int] = set()
    prev: int | None = None
    pending_range = False
    for i, part in enumerate(parts):
        if i % 2:  # a separator
            pending_range = part in _RANGE_SEP
            continue
        n = _zh_int(part)
        if n is None:
            continue
        if pending_range and prev is not None and 0 <= n - prev <= 50:
            out.update(range(prev, n + 1))
        out.add(n)
        prev, pending_range = n, False
    return out


def cited_sentences(reasoning: str) -> set[int]:
    """Sentence numbers (as written, 1-based) the reasoning refers to.

    Recognises "sentence 3", "sentences 2, 3 and 5", "sentences 2-4", "S3", "[3]", "the third
    sentence", "第3句", "第三句", "第2、3句", "句3", "句子3".
    """
    found: set[int] = set()
    for pattern in _PATTERNS:
        for m in pattern.finditer(reasoning):
            found |= _expand(m.group(1))
    for m in _ORDINAL_RE.finditer(reasoning):
        found.update(_ORDINALS[w.lower()] for w in _ORD_WORD_RE.findall(m.group(1)))
    return found


@dataclass(frozen=True)
class Verdict:
    """Outcome of checking one LLM answer: 0-based ``relevant`` when accepted, else a ``reason``."""

    relevant: tuple[int, ...] | None
    reasoning: str
    reason: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None


def _as_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def check_label(text: str, n_sentences: int, *, check_reasoning: bool = True) -> Verdict:
    """Parse an answer ``{"reasoning": str, "relevant_sentences": [1-based ints]}`` and check it."""
    obj = extract_json_object(text, "relevant_sentences")
    if obj is None:
        return Verdict(None, "", "malformed", "no JSON object with relevant_sentences")
    reasoning = obj.get("reasoning", "")
    raw = obj["relevant_sentences"]
    if not isinstance(reasoning, str):
        return Verdict(None, "", "malformed", "reasoning is not a string")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raw = [raw]
    numbers = [_as_number(v) for v in raw]
    if any(n is None for n in numbers):
        return Verdict(None, reasoning, "malformed", f"non-integer sentence number in {raw!r}")
    chosen = sorted({n for n in numbers if n is not None})
    bad = [n for n in chosen if not 1 <= n <= n_sentences]
    if bad:
        return Verdict(None, reasoning, "out_of_range", f"{bad} not in 1..{n_sentences}")
    if check_reasoning:
        extra = sorted(cited_sentences(reasoning) - set(chosen))
        if extra:
            return Verdict(None, reasoning, "contradiction", f"reasoning cites {extra}, labels are {chosen}")
    return Verdict(tuple(n - 1 for n in chosen), reasoning)


def check_agreement(first: Verdict, second: Verdict) -> Verdict:
    """``first`` if both passes were accepted and chose the same sentences, else a ``disagreement``."""
    if not first.ok:
        return first
    if not second.ok or set(first.relevant or ()) != set(second.relevant or ()):
        got = "rejected" if not second.ok else [i + 1 for i in second.relevant or ()]
        want = [i + 1 for i in first.relevant or ()]
        return Verdict(None, first.reasoning, "disagreement", f"pass 1 {want}, pass 2 {got}")
    return first
