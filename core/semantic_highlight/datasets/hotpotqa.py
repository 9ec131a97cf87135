"""HotpotQA JSON/JSONL (the AMOR subset's two supporting-fact layouts) -> sentence labels."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from semantic_highlight.datasets._common import glue_whitespace, report
from semantic_highlight.datasets.types import Example


def _read(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _facts(item: dict[str, Any]) -> list[tuple[str, int]]:
    """Supporting facts as (title, sentence id), for ``[title, id]`` and ``[title, [ids], ...]`` layouts."""
    facts: list[tuple[str, int]] = []
    for sf in item.get("supporting_facts", []):
        title, ids = sf[0], sf[1]
        facts.extend((title, int(i)) for i in (ids if isinstance(ids, list) else [ids]))
    return facts


def load_hotpotqa(
    path: str | Path,
    *,
    per_paragraph: bool = True,
    require_complete: bool = True,
    source: str | None = None,
    stats: Counter[str] | None = None,
) -> list[Example]:
    """Load HotpotQA questions.

    With ``per_paragraph`` each context paragraph becomes its own example (relevant = its
    supporting sentences; paragraphs without any are negatives, ``meta["distractor"]``);
    otherwise the paragraphs are concatenated into one document. With ``require_complete``
    questions whose supporting facts are not all present in ``context`` are dropped.
    """
    path = Path(path)
    name = source or path.stem
    out: list[Example] = []
    dropped: Counter[str] = Counter()
    for item in _read(path):
        qid = str(item.get("_id", len(out)))
        question = str(item.get("question", "")).strip()
        paras = {str(t): list(s) for t, s in item.get("context", [])}
        facts = _facts(item)
        present = [(t, i) for t, i in facts if t in paras and i < len(paras[t])]
        if not facts or not present:
            dropped["no_supporting_fact_in_context"] += 1
            continue
        if require_complete and len(present) < len(facts):
            dropped["incomplete_supporting_facts"] += 1
            continue
        gold = set(present)
        if per_paragraph:
            for title, sents in paras.items():
                keep = [i for i, s in enumerate(sents) if s.strip()]
                if not keep:
                    continue
                rel = frozenset(n for n, i in enumerate(keep) if (title, i) in gold)
                sents = [sents[i] for i in keep]
                out.append(
                    Example(
                        id=f"{name}:{qid}:{title}",
                        query=question,
                        sentences=tuple(glue_whitespace(sents)),
                        relevant=rel,
                        lang="en",
                        source=name,
                        meta={"title": title, "distractor": not rel, "qid": qid},
                    )
                )
        else:
            sentences: list[str] = []
            rel_idx: set[int] = set()
            for title, sents in paras.items():
                for i, s in enumerate(sents):
                    if (title, i) in gold:
                        rel_idx.add(len(sentences))
                    sentences.append(s)
            out.append(
                Example(
                    id=f"{name}:{qid}",
                    query=question,
                    sentences=tuple(glue_whitespace(sentences)),
                    relevant=frozenset(rel_idx),
                    lang="en",
                    source=name,
                    meta={"qid": qid},
                )
            )
    report(name, len(out), dropped, stats)
    return out
