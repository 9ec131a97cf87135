"""The trained module in Open Provence layout: ``ranking_model`` (BertForSequenceClassification) + ``pruning_head``."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn


class PruningHead(nn.Module):
    """Token keep/drop classifier (index 1 = keep)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(hidden, 2)


class ProvenceModel(nn.Module):
    """Encoder + ranking head (on the pooled first token) + token pruning head on the last hidden state."""

    def __init__(self, base_config: dict[str, object]) -> None:
        super().__init__()
        from transformers import BertConfig, BertForSequenceClassification

        cfg = {k: v for k, v in base_config.items() if k != "model_type"}
        cfg.update(num_labels=1, architectures=["BertForSequenceClassification"])
        self.config = BertConfig(**cfg)
        self.ranking_model = BertForSequenceClassification(self.config)
        self.pruning_head = PruningHead(self.config.hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (ranking logit [B], token logits [B, T, 2])."""
        out = self.ranking_model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        return out.logits.squeeze(-1), self.pruning_head.classifier(out.hidden_states[-1])

    @classmethod
    def from_encoder(cls, encoder_dir: str | Path) -> ProvenceModel:
        """Initialise from a (pruned) converted e5 ``BertModel`` folder; pooler and heads start fresh."""
        from safetensors.torch import load_file

        base = json.loads((Path(encoder_dir) / "config.json").read_text())
        model = cls(base)
        sd = load_file(str(Path(encoder_dir) / "model.safetensors"))
        missing, unexpected = model.ranking_model.bert.load_state_dict(sd, strict=False)
        missing = [k for k in missing if not k.startswith("pooler.")]
        if missing or unexpected:
            raise RuntimeError(f"encoder mismatch: missing={missing} unexpected={unexpected}")
        return model
