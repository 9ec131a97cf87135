"""Turn annotated JSONL into what the training tooling reads.

``semantic_highlight.training`` takes extra examples from a folder of hand-written JSONL files
(``--handwritten``; lines ``{"id", "query", "sentences": [str, ...], "relevant": [0-based]}``,
language taken from the file name: ``*_zh*`` is Chinese). :func:`write_training_jsonl` writes
the annotated samples in that form, one file per language; :func:`load_examples` returns them as
the shared :class:`~semantic_highlight.datasets.types.Example` type for the Python training API.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from semantic_highlight.datasets.types import Example

__all__ = ["load_examples", "record_to_example", "write_training_jsonl"]

log = logging.getLogger("semantic_highlight.annotate")


def _records(paths: str | Path | Iterable[str | Path]) -> Iterator[dict[str, Any]]:
    for path in [paths] if isinstance(paths, str | Path) else paths:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    log.warning("%s:%d: unreadable line skipped", path, n)
                    continue
                if isinstance(rec, dict) and "sentences" in rec and "relevant" in rec:
                    yield rec


def record_to_example(rec: dict[str, Any]) -> Example:
    """One annotated line -> :class:`Example` (sentence texts keep their trailing whitespace)."""
    sents = tuple(s["text"] if isinstance(s, dict) else str(s) for s in rec["sentences"])
    prov = rec.get("provenance") or {}
    lang = str(rec.get("lang") or prov.get("lang") or "en")
    relevant = frozenset(int(i) for i in rec["relevant"] if 0 <= int(i) < len(sents))
    meta = {"reasoning": rec.get("reasoning", ""), "provenance": prov, "query_type": rec.get("query_type", "")}
    return Example(
        id=f"llm:{rec.get('id', prov.get('input_hash', ''))}",
        query=str(rec["query"]),
        sentences=sents,
        relevant=relevant,
        lang=lang,
        source="llm",
        meta=meta,
    )


def load_examples(paths: str | Path | Iterable[str | Path]) -> list[Example]:
    """All samples of one or more annotated JSONL files as :class:`Example` objects."""
    return [record_to_example(r) for r in _records(paths)]


def write_training_jsonl(
    paths: str | Path | Iterable[str | Path], out_dir: str | Path, stem: str = "annotated"
) -> dict[str, Path]:
    """Write ``{out_dir}/{stem}_en.jsonl`` and ``{stem}_zh.jsonl`` in the hand-written training format.

    Returns the files written, by language. Pass ``out_dir`` as ``--handwritten`` to the trainer.
    """
    if "_zh" in stem:
        raise ValueError("stem must not contain '_zh' (the trainer reads the language from the file name)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = {}
    for ex in load_examples(paths):
        lang = "zh" if ex.lang == "zh" else "en"
        row = {
            "id": ex.id,
            "query": ex.query,
            "sentences": list(ex.sentences),
            "relevant": sorted(ex.relevant),
            "query_type": ex.meta.get("query_type", ""),
            "reasoning": ex.meta.get("reasoning", ""),
        }
        lines.setdefault(lang, []).append(json.dumps(row, ensure_ascii=False))
    written: dict[str, Path] = {}
    for lang, rows in lines.items():
        path = out / f"{stem}_{lang}.jsonl"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("\n".join(rows) + "\n", encoding="utf-8")
        tmp.replace(path)
        written[lang] = path
    return written
