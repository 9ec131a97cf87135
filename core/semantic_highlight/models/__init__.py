"""Checkpoint families behind one protocol, and resolution of model ids, devices and dtypes."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .base import InputLayout, LoadedModel, ModelFamily, ModelFormatError, read_json
from .open_provence import OpenProvenceFamily

__all__ = [
    "DEFAULT_MODEL_DIR",
    "FAMILIES",
    "InputLayout",
    "LoadedModel",
    "ModelFamily",
    "ModelFormatError",
    "load_model",
    "resolve_device",
    "resolve_dtype",
    "resolve_model_path",
]

FAMILIES: list[type[ModelFamily]] = [OpenProvenceFamily]
"""Known checkpoint formats, tried in order."""

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "default_model"
"""The embedded bilingual model shipped inside the package."""

_HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.md"]
_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "int8": torch.qint8, "qint8": torch.qint8,
}  # fmt: skip


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` picks cuda, then mps, then cpu."""
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a str, torch.device or None, got {type(device).__name__}")
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device {device!r} is not a device; use 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
    _check_available(chosen)
    return chosen


def _check_available(device: torch.device) -> None:
    """``ValueError`` naming ``device`` when this machine cannot run on it (before any weights load)."""
    if device.type == "cpu":
        return
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {str(device)!r} was asked for, but CUDA is not available on this machine")
        if device.index is not None and device.index >= count:
            raise ValueError(f"device {str(device)!r} was asked for, but this machine has {count} CUDA device(s)")
        return
    if device.type == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise ValueError(f"device {str(device)!r} was asked for, but MPS is not available on this machine")
        return
    raise ValueError(f"device {str(device)!r} is not supported; use 'cpu', 'cuda', 'cuda:N' or 'mps'")


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None`` picks bf16 (or fp16) on GPUs and fp32 on CPU; ``"int8"`` is CPU dynamic quantization.

    fp32 stays the CPU default because bf16 autocast measured slower on CPU for the same F1 and int8
    lost F1 out of domain (figures: "CPU dtype" in benchmarks/README.md)."""
    if dtype is None:
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "mps":
            return torch.float16
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise ValueError(f"unsupported dtype {dtype}; use float32, bfloat16, float16 or int8")
        chosen = dtype
    elif isinstance(dtype, str) and dtype.lower().removeprefix("torch.") in _DTYPES:
        chosen = _DTYPES[dtype.lower().removeprefix("torch.")]
    else:
        raise ValueError(f"unsupported dtype {dtype!r}; use one of {sorted(_DTYPES)}")
    if chosen == torch.qint8 and device.type != "cpu":
        raise ValueError("dtype='int8' (dynamic quantization) runs on CPU only")
    return chosen


def resolve_model_path(model: str | os.PathLike[str] | None) -> Path:
    """A local folder, the embedded default (``None`` or ``"default"``) or a Hugging Face hub id (downloaded once).

    ``"default"`` names the embedded model everywhere a model is named (CLI flags, ``--compare``); a local
    folder called ``default`` is ``"./default"``."""
    if model is None or model == "default":
        if not (DEFAULT_MODEL_DIR / "config.json").is_file():
            raise FileNotFoundError(
                f"the embedded default model is missing from {DEFAULT_MODEL_DIR}; reinstall the package or pass model="
            )
        return DEFAULT_MODEL_DIR
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a path, a hub id or None, got {type(model).__name__}")
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    text = os.fspath(model)
    if path.exists() or text.count("/") != 1 or text.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model {text!r} is not a checkpoint folder (nor a hub id like 'org/name')")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=text, allow_patterns=_HUB_PATTERNS))
    except Exception as exc:  # network, auth or missing repo: say what to do
        raise FileNotFoundError(
            f"could not fetch {text!r} from the Hugging Face hub ({exc.__class__.__name__}: {exc}); "
            "download it once with network access or pass a local folder"
        ) from exc


def load_model(
    model: str | os.PathLike[str] | None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
) -> LoadedModel:
    """Resolve ``model`` and load it with the first family that accepts its ``config.json``."""
    path = resolve_model_path(model)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelFormatError(f"{path} has no config.json")
    config = read_json(config_file)
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    for family in FAMILIES:
        if family.accepts(config):
            name = "default" if model is None else os.fspath(model)
            return family.load(path, torch_device, torch_dtype, name)
    known = ", ".join(f.name for f in FAMILIES)
    raise ModelFormatError(
        f"{path}: unknown checkpoint format (model_type={config.get('model_type')!r}); supported: {known}"
    )
