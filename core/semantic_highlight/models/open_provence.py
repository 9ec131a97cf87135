"""The Open Provence checkpoint format, loaded natively (no ``trust_remote_code``).

Used by zilliz/semantic-highlight-bilingual-v1, the hotchpotch open-provence rerankers and our
default model. ``config.json`` has ``model_type: open_provence`` and a nested
``base_model_config``; ``model.safetensors`` holds ``ranking_model.*`` (a transformers
``*ForSequenceClassification``) and ``pruning_head.classifier.*`` (a token keep/drop head on the
backbone's last layer output).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification

from ..aggregate import check_count, check_relative_threshold, check_threshold
from .base import InputLayout, LoadedModel, ModelFamily, ModelFormatError, read_json

__all__ = [
    "FALLBACK_THRESHOLD",
    "OpenProvenceFamily",
    "OpenProvenceModel",
    "build_backbone",
    "last_layer",
    "load_tokenizer",
    "max_positions",
    "selection_defaults",
]

FALLBACK_THRESHOLD = 0.1
"""Threshold used when a checkpoint declares none (the reference implementation's default)."""

# Tokenizer classes whose pair layout is ``cls A sep sep B sep`` (RoBERTa style); others get ``cls A sep B sep``.
_ROBERTA_STYLE = {
    "XLMRobertaTokenizer",
    "RobertaTokenizer",
    "CamembertTokenizer",
    "BartTokenizer",
    "LongformerTokenizer",
}
_RANKING_PREFIX = "ranking_model."
_HEAD_PREFIX = "pruning_head.classifier."


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def load_tokenizer(path: Path) -> tuple[Tokenizer, InputLayout]:
    """Load ``tokenizer.json`` with truncation and padding off, and derive the pair layout."""
    tok_file = path / "tokenizer.json"
    if not tok_file.is_file():
        raise ModelFormatError(f"{path} has no tokenizer.json (a fast tokenizer file is required)")
    try:
        tokenizer = Tokenizer.from_file(str(tok_file))
    except Exception as exc:  # the tokenizers library raises a bare Exception for a malformed file
        raise ModelFormatError(f"{tok_file} is not a readable tokenizer file ({exc})") from None
    tokenizer.no_truncation()
    tokenizer.no_padding()
    settings: dict[str, Any] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        if (path / name).is_file():
            settings.update(read_json(path / name))

    def token_id(*keys: str, default: str) -> int:
        for key in keys:
            text = _token_text(settings.get(key))
            found = tokenizer.token_to_id(text) if text is not None else None
            if found is not None:
                return int(found)
        found = tokenizer.token_to_id(default)
        if found is None:
            raise ModelFormatError(f"{path}: cannot resolve special token {keys[0]!r}")
        return int(found)

    cls_id = token_id("cls_token", "bos_token", default="<s>")
    sep_id = token_id("sep_token", "eos_token", default="</s>")
    pad_id = token_id("pad_token", default="<pad>")
    tok_class = str(settings.get("tokenizer_class") or "").removesuffix("Fast")
    if tok_class in _ROBERTA_STYLE:
        layout = InputLayout((cls_id,), (sep_id, sep_id), (sep_id,), pad_id)
    else:
        layout = InputLayout((cls_id,), (sep_id,), (sep_id,), pad_id, suffix_when_empty=False)
    return tokenizer, layout


def build_backbone(base_model_config: dict[str, Any], where: str = "config") -> tuple[nn.Module, Any]:
    """An untrained ``AutoModelForSequenceClassification`` (one ranking logit unless the config says
    otherwise) from a checkpoint's ``base_model_config``; transformers code only, never remote code."""
    base_cfg = dict(base_model_config)
    model_type = base_cfg.pop("model_type", None)
    if not model_type:
        raise ModelFormatError(f"{where}: base_model_config has no model_type")
    for key in ("transformers_version", "_name_or_path", "auto_map", "architectures"):
        base_cfg.pop(key, None)
    try:
        backbone_config = AutoConfig.for_model(model_type, **base_cfg)
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelFormatError(f"{where}: base_model_config is not a transformers config ({exc})") from None
    if "num_labels" not in base_cfg and "id2label" not in base_cfg:
        backbone_config.num_labels = 1
    try:
        model = AutoModelForSequenceClassification.from_config(backbone_config, attn_implementation="sdpa")
    except (ValueError, ImportError):
        model = AutoModelForSequenceClassification.from_config(backbone_config)
    return model, backbone_config


def last_layer(model: nn.Module, num_layers: int) -> nn.Module:
    """The backbone's final transformer block (the module list with one entry per layer)."""
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) == num_layers]
    if not lists:
        raise ModelFormatError(f"cannot find the {num_layers} transformer layers of {type(model).__name__}")
    return lists[0][-1]


def quantize_int8(model: nn.Module) -> list[str]:
    """Dynamic int8 quantization (per-channel weights) of the Linear layers that do not reduce the width.

    Down-projections (the feed-forward output, whose input is the post-GELU activation with its large
    outliers) stay fp32: quantizing their per-tensor 8-bit activations cost a large share of F1 on our
    suite (figures: "CPU dtype" in benchmarks/README.md).
    Done in place: a copy would have to deep-copy the capture hook. Returns the quantized module names.
    """
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and m.in_features <= m.out_features]
    qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
    # torch.ao.quantization is deprecated in favour of torchao (not a dependency); it still works in
    # torch 2.13, so its notices are silenced here instead of reaching every user
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.ao.quantization.quantize_dynamic(model, {n: qconfig for n in names}, dtype=torch.qint8, inplace=True)
    return names


def selection_defaults(config: dict[str, Any], path: Path) -> tuple[float, float | None, float | None]:
    """(threshold, fallback threshold, relative threshold) a checkpoint's ``config.json`` declares, as the
    engine applies them (``path``: the folder, for the error message)."""
    key = "default_threshold" if config.get("default_threshold") is not None else "default_threadshold"
    # default_threadshold: the reference's legacy spelling
    threshold = _config_number(config, key, path)
    fallback = _config_number(config, "default_fallback_threshold", path)  # ours; absent from reference checkpoints
    relative = config.get("default_relative_threshold")  # ours too
    try:
        relative = check_relative_threshold(relative)
    except (TypeError, ValueError):
        raise ModelFormatError(
            f"{path / 'config.json'}: default_relative_threshold must be a number in (0, 1], got {relative!r}"
        ) from None
    return (threshold if threshold is not None else FALLBACK_THRESHOLD, fallback, relative)


def _config_count(config: dict[str, Any], key: str, path: Path) -> int | None:
    """``config[key]`` as an int >= 1 (``None`` when absent or null); ``ModelFormatError`` naming the file and key."""
    try:
        return check_count(config.get(key), key, 1)
    except (TypeError, ValueError):
        raise ModelFormatError(f"{path / 'config.json'}: {key} must be an int >= 1, got {config.get(key)!r}") from None


def _config_number(config: dict[str, Any], key: str, path: Path) -> float | None:
    """``config[key]`` as a finite float (``None`` when absent); ``ModelFormatError`` naming the file and key."""
    try:
        return check_threshold(config.get(key), key)
    except (TypeError, ValueError):
        raise ModelFormatError(f"{path / 'config.json'}: {key} must be a number, got {config.get(key)!r}") from None


def max_positions(config: Any) -> int:
    """Longest input the backbone's position table allows (RoBERTa-style tables start after padding)."""
    limit = int(getattr(config, "max_position_embeddings", 0) or 0)
    if getattr(config, "model_type", "") in {"xlm-roberta", "roberta", "camembert"}:
        limit -= int(config.pad_token_id or 1) + 1  # positions start after padding_idx
    return limit if limit > 0 else 10**9


def _load_weights(weights_file: Path, model: nn.Module, hidden_size: int) -> nn.Linear:
    """Load ``ranking_model.*`` of ``weights_file`` into ``model`` and return the pruning head built from
    ``pruning_head.classifier.*``; ``ModelFormatError`` naming the file when it is missing, unreadable
    (truncated, empty, not safetensors) or holds weights of other names or shapes."""
    if not weights_file.is_file():
        raise ModelFormatError(f"{weights_file.parent} has no model.safetensors (only safetensors weights are loaded)")
    try:
        state = load_file(str(weights_file))
    except Exception as exc:  # SafetensorError (not an OSError/ValueError) for a truncated or foreign file
        raise ModelFormatError(f"{weights_file} is not a readable safetensors file ({exc})") from None
    ranking = {k[len(_RANKING_PREFIX) :]: v for k, v in state.items() if k.startswith(_RANKING_PREFIX)}
    head = {k[len(_HEAD_PREFIX) :]: v for k, v in state.items() if k.startswith(_HEAD_PREFIX)}
    if not ranking or set(head) != {"weight", "bias"}:
        raise ModelFormatError(f"{weights_file}: expected ranking_model.* and pruning_head.classifier.* weights")
    try:
        missing, unexpected = model.load_state_dict(ranking, strict=False)
    except RuntimeError as exc:  # size mismatches
        first = str(exc).strip().splitlines()[1:2] or [str(exc)]
        raise ModelFormatError(f"{weights_file}: weights do not fit the backbone ({first[0].strip()})") from None
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ModelFormatError(
            f"{weights_file}: weights do not fit the backbone (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    weight, bias = head["weight"], head["bias"]
    if weight.dim() != 2 or weight.shape[1] != hidden_size or bias.shape != (weight.shape[0],):
        raise ModelFormatError(
            f"{weights_file}: pruning_head.classifier has shape {tuple(weight.shape)} / {tuple(bias.shape)}, "
            f"expected (labels, {hidden_size}) / (labels,)"
        )
    pruning_head = nn.Linear(hidden_size, int(weight.shape[0]))
    pruning_head.load_state_dict({k: v.float() for k, v in head.items()})
    return pruning_head


class OpenProvenceModel(LoadedModel):
    """Backbone + ranking head + token pruning head, ready for batched inference."""

    def __init__(self, path: Path, config: dict[str, Any], device: torch.device, dtype: torch.dtype | None, name: str):
        model, backbone_config = build_backbone(config["base_model_config"], where=str(path / "config.json"))
        self.pruning_head = _load_weights(path / "model.safetensors", model, int(backbone_config.hidden_size))
        self.ranking_model = model.float().eval()
        self.pruning_head.eval()
        # The head reads the last layer's output. A hook captures it: ``hidden_states[-1]`` is not
        # that tensor for every backbone (ModernBERT applies final_norm first in transformers 5).
        self._captured = threading.local()
        last_layer(model, int(backbone_config.num_hidden_layers)).register_forward_hook(self._capture)
        self.autocast_dtype: torch.dtype | None = None
        if dtype == torch.qint8:
            quantize_int8(self.ranking_model)
        elif dtype is not None and dtype != torch.float32:
            if device.type == "cpu":
                self.autocast_dtype = dtype  # keep fp32 weights, run matmuls in bf16/fp16
            else:
                self.ranking_model.to(dtype)
                self.pruning_head.to(dtype)
        self.ranking_model.to(device)
        self.pruning_head.to(device)
        self.device = device
        self.tokenizer, self.layout = load_tokenizer(path)
        self.max_length = _config_count(config, "max_length", path) or 512
        self.max_positions = max_positions(backbone_config)
        self.default_threshold, self.default_fallback_threshold, self.default_relative_threshold = selection_defaults(
            config, path
        )
        self.name = name

    def _capture(self, module: nn.Module, args: Any, output: Any) -> None:
        self._captured.value = output[0] if isinstance(output, tuple) else output

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        ctx = (
            torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype is not None
            else contextlib.nullcontext()
        )
        with ctx:
            out = self.ranking_model(input_ids=input_ids, attention_mask=attention_mask)
            hidden = self._captured.value
            self._captured.value = None
            logits = self.pruning_head(hidden.to(self.pruning_head.weight.dtype))
        keep = torch.softmax(logits.float(), dim=-1)[..., 1]
        rank_logits = out.logits.float()
        ranking = (
            torch.sigmoid(rank_logits[:, 0]) if rank_logits.shape[-1] == 1 else torch.softmax(rank_logits, -1)[:, 1]
        )
        return keep, ranking


class OpenProvenceFamily(ModelFamily):
    name = "open_provence"

    @classmethod
    def accepts(cls, config: dict[str, Any]) -> bool:
        return config.get("model_type") == "open_provence" and isinstance(config.get("base_model_config"), dict)

    @classmethod
    def load(cls, path: Path, device: torch.device, dtype: torch.dtype | None, name: str) -> LoadedModel:
        return OpenProvenceModel(path, read_json(path / "config.json"), device, dtype, name)
