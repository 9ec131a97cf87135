"""Annotated JSONL as training input.

``semantic-highlight train --train-file labelled.jsonl`` reads the annotator's output as it is
(through :func:`semantic_highlight.datasets.jsonl.load_jsonl`, like every JSONL we read).
:func:`load_examples` returns it as :class:`~semantic_highlight.datasets.types.Example` objects for
the Python training API; :func:`write_training_jsonl` writes the compact hand-written form (plain
sentence strings, one file per language) for a ``--handwritten`` folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from semantic_highlight.datasets.jsonl import load_jsonl
from semantic_highlight.datasets.types import Example

__all__ = ["load_examples", "write_training_jsonl"]


def load_examples(paths: str | Path | Iterable[str | Path]) -> list[Example]:
    """All samples of one or more annotated JSONL files as :class:`Example` objects (the shared reader)."""
    return [
        ex for path in ([paths] if isinstance(paths, str | Path) else paths) for ex in load_jsonl(path, source="llm")
    ]


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
