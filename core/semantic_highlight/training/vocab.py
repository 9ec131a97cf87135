"""Vocabulary pruning for the XLM-R SentencePiece (Unigram) tokenizer.

Keeps the special tokens, the most frequent pieces on a corpus and every single-character
CJK piece, then rebuilds ``tokenizer.json`` with a re-indexed vocabulary (unk id and
post-processor ids updated), so segmentation happens directly in the pruned vocabulary and
unknown characters still fall back to ``<unk>``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import torch
from semantic_highlight.training.export import write_xlmr_tokenizer_config
from tokenizers import Tokenizer

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
_CJK_CHAR = re.compile(r"^▁?[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]$")
_BASIC_CHAR = re.compile(r"^▁?[\x20-\x7e\u00a0-\u024f\u2000-\u206f]$")


def count_ids(tokenizer: Tokenizer, texts: Iterable[str], batch: int = 2048) -> Counter[int]:
    """Token-id frequencies of ``texts`` under the full tokenizer."""
    counts: Counter[int] = Counter()
    buf: list[str] = []
    for t in texts:
        buf.append(t)
        if len(buf) >= batch:
            for enc in tokenizer.encode_batch(buf, add_special_tokens=False):
                counts.update(enc.ids)
            buf = []
    if buf:
        for enc in tokenizer.encode_batch(buf, add_special_tokens=False):
            counts.update(enc.ids)
    return counts


def choose_pieces(tok_json: dict, counts: Counter[int], top_k: int) -> list[int]:
    """Old ids to keep, in original order: specials, ``top_k`` most frequent, single CJK/basic chars, ``<mask>``."""
    vocab = tok_json["model"]["vocab"]
    keep = set(range(len(SPECIALS)))
    keep.update(i for i, _ in counts.most_common(top_k))
    for i, (piece, _score) in enumerate(vocab):
        if _CJK_CHAR.match(piece) or _BASIC_CHAR.match(piece):
            keep.add(i)
    keep.update(a["id"] for a in tok_json["added_tokens"])
    return sorted(keep)


def rebuild_tokenizer_json(tok_json: dict, keep: list[int]) -> dict:
    """A copy of ``tok_json`` whose Unigram vocab holds only ``keep`` (old ids), re-indexed in order."""
    new = json.loads(json.dumps(tok_json))
    old_to_new = {old: n for n, old in enumerate(keep)}
    vocab = tok_json["model"]["vocab"]
    new["model"]["vocab"] = [vocab[i] for i in keep]
    new["model"]["unk_id"] = old_to_new[tok_json["model"]["unk_id"]]
    for a in new["added_tokens"]:
        a["id"] = old_to_new[a["id"]]
    pp = new.get("post_processor") or {}
    for spec in (pp.get("special_tokens") or {}).values():
        spec["ids"] = [old_to_new[i] for i in spec["ids"]]
    for key in ("sep", "cls"):
        if key in pp:
            pp[key] = [pp[key][0], old_to_new[pp[key][1]]]
    return new


def prune(src_tokenizer: str | Path, texts: Iterable[str], top_k: int = 40000) -> tuple[dict, list[int]]:
    """Build the pruned ``tokenizer.json`` dict and the list of kept old ids (row index map)."""
    tok_json = json.loads(Path(src_tokenizer).read_text(encoding="utf-8"))
    counts = count_ids(Tokenizer.from_file(str(src_tokenizer)), texts)
    keep = choose_pieces(tok_json, counts, top_k)
    return rebuild_tokenizer_json(tok_json, keep), keep


def prune_model_dir(src_dir: str | Path, out_dir: str | Path, texts: Iterable[str], top_k: int = 40000) -> Path:
    """Write a pruned copy of a converted e5 ``BertModel`` folder (embedding rows sliced)."""
    from safetensors.torch import load_file, save_file

    src, out = Path(src_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok, keep = prune(src / "tokenizer.json", texts, top_k)
    (out / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
    sd = load_file(str(src / "model.safetensors"))
    key = "embeddings.word_embeddings.weight"
    sd[key] = sd[key][torch.tensor(keep)].contiguous()
    save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
    cfg = json.loads((src / "config.json").read_text())
    cfg["vocab_size"] = len(keep)
    name = cfg.get("base_model_name_or_path") or src.name
    cfg["base_model_name_or_path"] = f"{name}, vocabulary pruned to {len(keep)} pieces"
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    write_xlmr_tokenizer_config(out)  # ids of the added tokens changed: written anew, not copied
    (out / "kept_ids.json").write_text(json.dumps(keep))
    return out


def unk_rate(tokenizer: Tokenizer, texts: Iterable[str]) -> float:
    """Share of ``<unk>`` tokens when encoding ``texts``."""
    unk = tokenizer.token_to_id("<unk>")
    n = u = 0
    for enc in tokenizer.encode_batch(list(texts), add_special_tokens=False):
        n += len(enc.ids)
        u += sum(1 for i in enc.ids if i == unk)
    return u / max(n, 1)
