"""Write a trained :class:`ProvenceModel` as an Open Provence checkpoint folder (fp16 safetensors)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from semantic_highlight.training.model import ProvenceModel

_SPECIAL = {
    "bos_token": "<s>",
    "cls_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
}


def _tokenizer_files(src: Path, out: Path) -> None:
    """Copy the source's tokenizer files as they are: the engine derives the pair layout from them,
    so the exported model is scored with exactly the layout it was trained with."""
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (src / name).is_file() and src.resolve() != out.resolve():
            shutil.copy(src / name, out / name)


def write_xlmr_tokenizer_config(folder: Path) -> None:
    """Write ``tokenizer_config.json`` + ``special_tokens_map.json`` for an XLM-R ``tokenizer.json`` in ``folder``."""
    tok = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    added = {
        str(a["id"]): {
            "content": a["content"],
            "lstrip": a["content"] == "<mask>",
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for a in tok["added_tokens"]
    }
    cfg = {
        "added_tokens_decoder": added,
        **_SPECIAL,
        "clean_up_tokenization_spaces": False,
        "extra_special_tokens": {},
        "model_max_length": 512,
        "tokenizer_class": "XLMRobertaTokenizerFast",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False))
    smap = {
        k: {"content": v, "lstrip": v == "<mask>", "normalized": False, "rstrip": False, "single_word": False}
        for k, v in _SPECIAL.items()
    }
    (folder / "special_tokens_map.json").write_text(json.dumps(smap, indent=2))


def export_open_provence(
    model: ProvenceModel,
    source_dir: str | Path,
    out_dir: str | Path,
    max_length: int,
    threshold: float,
    dtype: torch.dtype = torch.float16,
    extra: dict[str, object] | None = None,
    base_name: str | None = None,
) -> Path:
    """Save config.json, model.safetensors and the tokenizer files of ``source_dir`` in the Open Provence layout."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src_cfg = json.loads((Path(source_dir) / "config.json").read_text())
    base = model.config.to_dict()
    base.update(architectures=[type(model.ranking_model).__name__], num_labels=1)
    for key in ("transformers_version", "_name_or_path", "dtype", "torch_dtype"):
        base.pop(key, None)
    if base_name is None:
        base_name = str(src_cfg.get("base_model_name_or_path") or src_cfg.get("_name_or_path") or Path(source_dir).name)
    hidden = model.config.hidden_size
    cfg = {
        "architectures": ["OpenProvenceForSequenceClassification"],
        "model_type": "open_provence",
        "base_model_config": base,
        "base_model_name_or_path": base_name,
        "encoder_architecture": base.get("model_type"),
        "mode": "reranking_pruning",
        "max_length": max_length,
        "default_threshold": threshold,
        "default_threadshold": threshold,
        "num_pruning_labels": 2,
        "hidden_size": hidden,
        "vocab_size": model.config.vocab_size,
        "tokenizer_name_or_path": None,
        "pruning_config": {
            "hidden_size": hidden,
            "num_labels": 2,
            "classifier_dropout": 0.0,
            "sentence_pooling": "mean",
            "use_weighted_pooling": False,
        },
        **(extra or {}),
    }
    (out / "config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False))
    sd = {
        k: v.detach().to(dtype).contiguous()
        for k, v in model.state_dict().items()
        if not k.endswith("position_ids") and not k.endswith("token_type_ids")
    }
    save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
    _readable_like_other_files(out / "model.safetensors")
    _tokenizer_files(Path(source_dir), out)
    return out


def _readable_like_other_files(path: Path) -> None:
    """Give ``path`` the mode a new file gets under the umask: safetensors writes its files 0600, which would
    leave an exported model unreadable to the other users of a shared model folder or image."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def set_default_thresholds(
    folder: str | Path, threshold: float, fallback_threshold: float | None, relative_threshold: float | None = None
) -> None:
    """Write the calibrated selection defaults into ``folder/config.json`` (``None``: no fallback, no relative)."""
    path = Path(folder) / "config.json"
    cfg = json.loads(path.read_text())
    cfg["default_threshold"] = cfg["default_threadshold"] = threshold
    for key, value in (
        ("default_fallback_threshold", fallback_threshold),
        ("default_relative_threshold", relative_threshold),
    ):
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False))
