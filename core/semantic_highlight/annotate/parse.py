"""Tolerant extraction of the JSON object an LLM was asked to answer with.

Accepts the bare object, the object inside a Markdown code fence, the object surrounded by prose,
a leading ``<think>...</think>`` block, and trailing commas. Returns ``None`` when no object fits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

__all__ = ["extract_json_object", "iter_json_objects"]

_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE_RE = re.compile(r"```[ \t]*(?:json|JSON|javascript)?[ \t]*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA_RE = re.compile(r",(\s*[}\]])")


def _loads(text: str) -> object | None:
    for candidate in (text, _TRAILING_COMMA_RE.sub(r"\1", text)):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


def _balanced_objects(text: str) -> Iterator[str]:
    """Substrings of ``text`` that start with ``{`` and end at the matching ``}`` (strings respected)."""
    start = text.find("{")
    while start >= 0:
        depth, in_str, esc = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    yield text[start : i + 1]
                    break
        start = text.find("{", start + 1)


def iter_json_objects(text: str) -> Iterator[dict[str, object]]:
    """Every JSON object found in ``text``: the whole text, fenced blocks, then balanced ``{...}`` spans."""
    text = _THINK_RE.sub("", text or "").strip()
    candidates = [text, *(m.group(1).strip() for m in _FENCE_RE.finditer(text))]
    for c in candidates:
        obj = _loads(c)
        if isinstance(obj, dict):
            yield obj
    for c in _balanced_objects(text):
        obj = _loads(c)
        if isinstance(obj, dict):
            yield obj


def extract_json_object(text: str, required_key: str | None = None) -> dict[str, object] | None:
    """The first JSON object in ``text`` (having ``required_key`` when given), else ``None``."""
    for obj in iter_json_objects(text):
        if required_key is None or required_key in obj:
            return obj
    return None
