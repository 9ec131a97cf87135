"""What a checkpoint family provides to the engine: a tokenizer, an input layout and a scorer.

The engine never looks inside a model: a family turns a checkpoint folder into a
:class:`LoadedModel`, and the engine only calls :meth:`LoadedModel.forward` on padded batches.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from tokenizers import Tokenizer

__all__ = ["InputLayout", "LoadedModel", "ModelFamily", "ModelFormatError", "read_json"]


class ModelFormatError(ValueError):
    """The folder is not a checkpoint format the engine knows how to load."""


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; ``ModelFormatError`` naming the file when it is not UTF-8 JSON or not an object."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except UnicodeDecodeError as exc:
        raise ModelFormatError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ModelFormatError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise ModelFormatError(f"{path} must hold a JSON object")
    return data


@dataclass(frozen=True)
class InputLayout:
    """Special tokens around the query and the context: ``prefix Q middle C suffix``.

    ``suffix_when_empty`` is False for layouts that omit the closing separator of an empty context.
    """

    prefix: tuple[int, ...]
    middle: tuple[int, ...]
    suffix: tuple[int, ...]
    pad_id: int
    suffix_when_empty: bool = True

    @property
    def num_special(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    def build(self, query: list[int], context: list[int]) -> list[int]:
        suffix = self.suffix if (context or self.suffix_when_empty) else ()
        return [*self.prefix, *query, *self.middle, *context, *suffix]

    def context_offset(self, query_len: int) -> int:
        return len(self.prefix) + query_len + len(self.middle)


class LoadedModel(ABC):
    """A ready-to-run token-relevance model with its tokenizer and packing settings."""

    tokenizer: Tokenizer
    layout: InputLayout
    max_length: int
    """Reference window setting: query + context tokens per window <= ``max_length - 3``."""
    max_positions: int
    """Hard limit on the length of one model input (position embeddings)."""
    default_threshold: float
    default_fallback_threshold: float | None = None
    """Lower bar at which a document's best sentence is still kept when none passes the threshold."""
    default_relative_threshold: float | None = None
    """Share of the best sentence's score at which other sentences join a selected best one."""
    name: str
    device: torch.device

    @abstractmethod
    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return per-token keep probabilities ``[B, T]`` (float32) and ranking scores ``[B]`` or None."""


class ModelFamily(ABC):
    """One checkpoint format. Families are tried in order by :func:`semantic_highlight.models.load_model`."""

    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def accepts(cls, config: dict[str, Any]) -> bool:
        """Whether ``config.json`` of a checkpoint folder belongs to this family."""

    @classmethod
    @abstractmethod
    def load(cls, path: Path, device: torch.device, dtype: torch.dtype | None, name: str) -> LoadedModel:
        """Build the model from a local folder; only safetensors weights, never repository code."""
