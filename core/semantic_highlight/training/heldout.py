"""Held-out REPORTING sets for the model card (never used for training or threshold choice).

XQuAD goes through the shared SQuAD loader; MultiSpanQA and FGC have small readers here until
the evaluation package provides its own loaders.
"""

from __future__ import annotations

import json
from pathlib import Path

from semantic_highlight.datasets._common import sentence_spans
from semantic_highlight.datasets.squad import load_squad
from semantic_highlight.datasets.types import Example


def load_multispanqa_valid(path: str | Path, limit: int | None = None) -> list[Example]:
    """MultiSpanQA: context tokens joined by spaces, relevant = sentences overlapping a B/I span."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    out = []
    for item in data[:limit]:
        toks, labels = item["context"], item["label"]
        text, starts = "", []
        for t in toks:
            if text:
                text += " "
            starts.append(len(text))
            text += t
        spans = sentence_spans(text)
        rel = set()
        for k, lab in enumerate(labels):
            if lab != "O":
                a = starts[k]
                rel.update(i for i, (s, e) in enumerate(spans) if s <= a < e)
        out.append(
            Example(
                id=f"msqa:{item['id']}",
                query=" ".join(item["question"]),
                sentences=tuple(text[s:e] for s, e in spans),
                relevant=frozenset(rel),
                lang="en",
                source="multispanqa",
            )
        )
    return out


def load_fgc(path: str | Path) -> list[Example]:
    """FGC (Simplified): sentences = the document's ``SENTS`` clauses, relevant = ``SHINT``."""
    out = []
    for doc in json.loads(Path(path).read_text(encoding="utf-8")):
        sents = tuple(s["text"] for s in doc["SENTS"])
        for q in doc["QUESTIONS"]:
            if not q.get("SHINT"):
                continue
            out.append(
                Example(
                    id=f"fgc:{q['QID']}",
                    query=q.get("QTEXT_CN") or q["QTEXT"],
                    sentences=sents,
                    relevant=frozenset(int(i) for i in q["SHINT"] if int(i) < len(sents)),
                    lang="zh",
                    source="fgc",
                )
            )
    return out


def heldout_sets(data_dir: str | Path, limit: int | None = None) -> dict[str, list[Example]]:
    """The held-out reporting sets (optionally the first ``limit`` of each)."""
    d = Path(data_dir)
    sets = {
        "xquad-en": load_squad(d / "xquad/xquad.en.json", lang="en", source="xquad-en"),
        "xquad-zh": load_squad(d / "xquad/xquad.zh.json", lang="zh", source="xquad-zh"),
        "multispanqa-valid": load_multispanqa_valid(d / "multispanqa/valid.json"),
        "fgc": [e for f in ("train", "dev", "test") for e in load_fgc(d / f"fgc/FGC_release_all_{f}_cn.json")],
    }
    return {k: v[:limit] for k, v in sets.items()}
