"""Standalone multilingual-e5 embedder (mean pooling, ``query: ``/``passage: `` prefixes).

Used by training (teacher similarities) and by the evaluation harness's ``embedding`` baseline.
Loads a Hugging Face ``BertModel`` folder with a ``tokenizer.json`` (e.g. ``build/e5-base``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer


class E5Embedder:
    """Mean-pooled, L2-normalised e5 sentence embeddings on CPU."""

    def __init__(self, model_dir: str | Path, max_length: int = 512, num_threads: int | None = None) -> None:
        from transformers import BertModel

        if num_threads:
            torch.set_num_threads(num_threads)
        self.model = BertModel.from_pretrained(str(model_dir), add_pooling_layer=False).eval()
        self.tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        self.pad_id = 1

    @torch.inference_mode()
    def encode(
        self, texts: Sequence[str], prefix: str = "passage: ", batch_size: int = 64, bf16: bool = True
    ) -> torch.Tensor:
        """Embed ``texts`` (each prefixed with ``prefix``); returns [n, hidden] float32, unit norm."""
        encs = self.tokenizer.encode_batch([prefix + t for t in texts])
        ids = [e.ids for e in encs]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = torch.zeros(len(ids), self.model.config.hidden_size)
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            width = max(len(ids[i]) for i in idx)
            x = torch.full((len(idx), width), self.pad_id, dtype=torch.long)
            m = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                x[r, : len(ids[i])] = torch.tensor(ids[i])
                m[r, : len(ids[i])] = 1
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                h = self.model(input_ids=x, attention_mask=m).last_hidden_state
            h = h.float() * m.unsqueeze(-1)
            emb = h.sum(1) / m.sum(1, keepdim=True)
            out[idx] = torch.nn.functional.normalize(emb, dim=-1)
        return out

    def queries(self, texts: Sequence[str], **kw: object) -> torch.Tensor:
        """Embed queries with the ``query: `` prefix."""
        return self.encode(texts, prefix="query: ", **kw)  # type: ignore[arg-type]

    def passages(self, texts: Sequence[str], **kw: object) -> torch.Tensor:
        """Embed passages/sentences with the ``passage: `` prefix."""
        return self.encode(texts, prefix="passage: ", **kw)  # type: ignore[arg-type]


def load_embedder(model_dir: str | Path, **kw: object) -> E5Embedder:
    """Load an :class:`E5Embedder` from a converted e5 folder."""
    return E5Embedder(model_dir, **kw)  # type: ignore[arg-type]


def cosine_scores(embedder: E5Embedder, query: str, sentences: Sequence[str]) -> list[float]:
    """Query–sentence cosine similarities (the ``embedding`` baseline's sentence scores)."""
    q = embedder.queries([query], bf16=False)
    s = embedder.passages([x.strip() or x for x in sentences], bf16=False)
    return (s @ q[0]).tolist()
