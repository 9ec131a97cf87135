"""GPU path: half precision matches CPU fp32 closely and batching gives the same scores. Skipped without CUDA."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import FIXTURES
from semantic_highlight import SemanticHighlighter

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

DOCS = [
    "Paris is the capital of France. Bananas are rich in potassium. The Eiffel Tower opened in 1889.",
    "巴黎是法国的首都。香蕉富含钾。埃菲尔铁塔于1889年建成。",
]


@pytest.mark.parametrize("dtype", [None, "float16", "bfloat16"])
def test_gpu_matches_cpu(dtype: str | None) -> None:
    path = str(FIXTURES / "op-tiny-xlmr")
    cpu = SemanticHighlighter(model=path, device="cpu").highlight("capital", DOCS)
    gpu_h = SemanticHighlighter(model=path, device="cuda", dtype=dtype)
    assert gpu_h.device.type == "cuda"
    gpu = gpu_h.highlight("capital", DOCS)
    for a, b in zip(cpu, gpu, strict=True):
        assert [s.score for s in b.sentences] == pytest.approx([s.score for s in a.sentences], abs=0.03)


def test_training_on_gpu_exports_a_model_the_cpu_engine_loads(tmp_path: Path) -> None:
    """`semantic-highlight train --device cuda` on a tiny encoder; the checkpoint and export are device-free."""
    import json

    from semantic_highlight.cli import main as front
    from test_annotate import ZH, _annotate_en_zh, _tiny_encoder

    labelled = tmp_path / "labelled.jsonl"
    _annotate_en_zh(labelled, 6)
    enc = _tiny_encoder(tmp_path / "encoder")
    out = tmp_path / "model"
    args = ["--train-file", str(labelled), "--build", str(tmp_path / "build"), "--batch-size", "4", "--device", "cuda"]
    args += ["--encoder", str(enc), "--out", str(out), "--max-steps", "4", "--max-length", "64", "--val-share", "0.3"]
    assert front(["train", *args, "--run", "gpu"]) == 0
    assert json.loads((tmp_path / "build" / "gpu" / "train_config.json").read_text())["device"] == "cuda"
    assert SemanticHighlighter(model=str(out), device="cpu").highlight("长城有多长？", ZH).sentences
