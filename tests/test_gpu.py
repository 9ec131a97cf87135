"""GPU path: half precision matches CPU fp32 closely and batching gives the same scores. Skipped without CUDA."""

from __future__ import annotations

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
