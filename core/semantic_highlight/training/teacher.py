"""Teacher signal: e5 bi-encoder query–sentence cosine for every training example (cached)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from semantic_highlight.datasets.types import Example
from semantic_highlight.training.e5_embed import load_embedder

log = logging.getLogger("semantic_highlight.training")


def teacher_cosines(examples: list[Example], e5_dir: str | Path, cache: str | Path) -> dict[str, list[float]]:
    """``{example id: [cosine per sentence]}``, computed once with the base e5 and cached to ``cache``."""
    cache = Path(cache)
    got: dict[str, list[float]] = torch.load(cache) if cache.exists() else {}
    todo = [ex for ex in examples if ex.id not in got]
    if not todo:
        return got
    examples = todo
    emb = load_embedder(e5_dir, max_length=256)
    queries = sorted({ex.query for ex in examples})
    sents = sorted({s.strip() or s for ex in examples for s in ex.sentences})
    log.info("teacher: embedding %d queries and %d sentences", len(queries), len(sents))
    q_vec = emb.queries(queries, batch_size=128)
    s_vec = emb.passages(sents, batch_size=64)
    q_idx = {q: i for i, q in enumerate(queries)}
    s_idx = {s: i for i, s in enumerate(sents)}
    out = dict(got)
    for ex in examples:
        rows = torch.tensor([s_idx[s.strip() or s] for s in ex.sentences])
        out[ex.id] = (s_vec[rows] @ q_vec[q_idx[ex.query]]).tolist()
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, cache)
    return out
