"""The trained module in the Open Provence layout: ``ranking_model`` (any transformers encoder with a
sequence-classification head, built exactly as the engine builds it) + ``pruning_head`` (token keep/drop)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from semantic_highlight.models.open_provence import build_backbone, last_layer
from torch import nn

log = logging.getLogger("semantic_highlight.training")


class PruningHead(nn.Module):
    """Token keep/drop classifier (index 1 = keep)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(hidden, 2)


class ProvenceModel(nn.Module):
    """Encoder + ranking head + token pruning head on the last layer's output (read by a hook, like the engine)."""

    def __init__(self, base_config: dict[str, Any]) -> None:
        super().__init__()
        self.ranking_model, self.config = build_backbone(base_config)
        self.pruning_head = PruningHead(self.config.hidden_size)
        self._hidden: list[torch.Tensor] = []
        last_layer(self.ranking_model, int(self.config.num_hidden_layers)).register_forward_hook(self._capture)

    def _capture(self, module: nn.Module, args: Any, output: Any) -> None:
        self._hidden.append(output[0] if isinstance(output, tuple) else output)

    @property
    def backbone(self) -> nn.Module:
        """The bare encoder inside the classification wrapper (``.bert``, ``.roberta``, ...)."""
        backbone: nn.Module = getattr(self.ranking_model, str(self.ranking_model.base_model_prefix))
        return backbone

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (ranking logit [B], token logits [B, T, 2])."""
        self._hidden.clear()
        out = self.ranking_model(input_ids=input_ids, attention_mask=attention_mask)
        hidden = self._hidden.pop()
        return out.logits.squeeze(-1), self.pruning_head.classifier(hidden)

    def freeze(self, layers: int) -> None:
        """Keep the embeddings and the ``layers`` lowest transformer layers fixed (``layers < 0``: train all)."""
        if layers < 0:
            return
        n = int(self.config.num_hidden_layers)
        if layers >= n:
            log.warning("freezing %d layers of a %d-layer encoder: only the heads train", layers, n)
        blocks = last_layer(self.ranking_model, n)
        stack = next(m for m in self.ranking_model.modules() if isinstance(m, nn.ModuleList) and blocks in m)
        embeddings = self.backbone.get_submodule("embeddings")
        frozen = [*embeddings.parameters(), *(p for b in stack[:layers] for p in b.parameters())]
        for p in frozen:
            p.requires_grad_(False)

    @classmethod
    def from_encoder(cls, encoder_dir: str | Path) -> ProvenceModel:
        """Start from a plain encoder folder (``config.json`` + ``model.safetensors``); heads start fresh."""
        from safetensors.torch import load_file

        folder = Path(encoder_dir)
        model = cls(json.loads((folder / "config.json").read_text()))
        prefix = str(model.ranking_model.base_model_prefix) + "."
        sd = {k.removeprefix(prefix): v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
        missing, unexpected = model.backbone.load_state_dict(sd, strict=False)
        missing = [k for k in missing if not k.startswith("pooler.") and not k.endswith("position_ids")]
        unexpected = [k for k in unexpected if not k.startswith(("cls.", "lm_head.", "pooler."))]
        if missing or unexpected:
            raise RuntimeError(
                f"{folder}: encoder weights do not fit: missing={missing[:5]} unexpected={unexpected[:5]}"
            )
        return model

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> ProvenceModel:
        """Load an Open Provence folder (e.g. the shipped default model) in fp32, to fine-tune or evaluate it."""
        from safetensors.torch import load_file

        folder = Path(folder)
        cfg = json.loads((folder / "config.json").read_text())
        model = cls(cfg["base_model_config"])
        sd = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
        missing, unexpected = model.load_state_dict(sd, strict=False)
        missing = [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]
        if missing or unexpected:
            raise RuntimeError(f"{folder}: weights do not fit: missing={missing[:5]} unexpected={unexpected[:5]}")
        return model

    @classmethod
    def skeleton(cls, folder: str | Path) -> ProvenceModel:
        """An untrained model shaped like ``folder`` (an encoder or an Open Provence folder)."""
        cfg = json.loads((Path(folder) / "config.json").read_text())
        return cls(cfg.get("base_model_config", cfg))
