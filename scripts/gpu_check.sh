#!/usr/bin/env bash
# GPU check (issue 6): run the GPU tests and the benchmark on a CUDA machine in under 5 minutes.
# Usage: bash scripts/gpu_check.sh [extra bench args]   (expects torch with CUDA already installed)
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
pip install -q --no-deps -e . 2>/dev/null || true
python -m pytest -q -m gpu tests/test_gpu.py
# default model (all workloads) + the zilliz-shaped random model (XLM-R 24 x 1024, 8192 positions)
timeout 270 python -m semantic_highlight.bench --device cuda --zilliz-shape --repeats 7 --out bench_out/gpu "$@"
