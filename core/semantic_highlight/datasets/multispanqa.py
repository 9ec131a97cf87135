"""MultiSpanQA (token BIO labels) -> sentence labels, sentences rebuilt from the token list."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from semantic_highlight.datasets._common import report
from semantic_highlight.datasets.types import Example

_ENDS = frozenset({".", "?", "!"})
_CLOSERS = frozenset({'"', "'", "''", ")", "]", "”", "’"})
_NO_SPACE_BEFORE = frozenset(
    {".", ",", ";", ":", "?", "!", ")", "]", "%", "''", "'s", "n't", "'re", "'ve", "'ll", "'d", "'m"}
)
_NO_SPACE_AFTER = frozenset({"(", "[", "$", "``"})


def rebuild_sentences(tokens: list[str], labels: list[str]) -> tuple[list[str], set[int]]:
    """Detokenize lightly (no space before ``, . ) 's`` etc.) and cut after ``.``/``?``/``!`` tokens
    (closing quotes/brackets stay on the sentence). Returns the sentences (each with its trailing
    space) and the indices of sentences holding a B or I token."""
    groups: list[list[int]] = []
    current: list[int] = []
    ended = False
    for k, tok in enumerate(tokens):
        if ended and tok not in _CLOSERS:
            groups.append(current)
            current, ended = [], False
        current.append(k)
        ended = ended or tok in _ENDS
    if current:
        groups.append(current)
    sentences: list[str] = []
    relevant: set[int] = set()
    for n, idx in enumerate(groups):
        text = ""
        for j, k in enumerate(idx):
            tok = tokens[k]
            prev = tokens[idx[j - 1]] if j else ""
            glued = tok in _NO_SPACE_BEFORE or prev in _NO_SPACE_AFTER or (tok in _CLOSERS and prev in _ENDS)
            if j and not glued:
                text += " "
            text += tok
        sentences.append(text + (" " if n < len(groups) - 1 else ""))
        if any(labels[k] in ("B", "I") for k in idx):
            relevant.add(n)
    return sentences, relevant


def load_multispanqa(
    path: str | Path, *, source: str | None = None, stats: Counter[str] | None = None
) -> list[Example]:
    """Load a labelled MultiSpanQA file (``{"data": [{id, question, context, label}]}``).

    The question tokens are joined by spaces; a sentence is relevant if any of its tokens is
    labelled B or I. Records without labels, or whose label count differs from the token
    count, are dropped.
    """
    path = Path(path)
    name = source or "multispanqa"
    data = json.loads(path.read_text(encoding="utf-8"))
    out: list[Example] = []
    dropped: Counter[str] = Counter()
    for n, item in enumerate(data["data"] if isinstance(data, dict) else data):
        tokens = [str(t) for t in item.get("context", [])]
        labels = [str(x) for x in item.get("label", [])]
        question = " ".join(str(t) for t in item.get("question", [])).strip()
        if not tokens or not question:
            dropped["empty"] += 1
            continue
        if len(labels) != len(tokens):
            dropped["missing_or_misaligned_labels"] += 1
            continue
        sentences, relevant = rebuild_sentences(tokens, labels)
        out.append(
            Example(
                id=f"{name}:{item.get('id', n)}",
                query=question,
                sentences=tuple(sentences),
                relevant=frozenset(relevant),
                lang="en",
                source=name,
                meta={"type": item.get("type", ""), "structure": item.get("structure", "")},
            )
        )
    report(name, len(out), dropped, stats)
    return out
