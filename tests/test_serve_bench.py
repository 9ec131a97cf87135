"""``benchmarks/serve_bench.py --quick`` runs end to end on the tiny fixture model (no timing assertions)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import FIXTURES, ROOT

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("serve_bench", ROOT / "benchmarks" / "serve_bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_serve_bench_quick_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not (FIXTURES / "op-tiny-xlmr").is_dir():
        pytest.skip("../shared/fixtures is not available")
    bench = _load_bench()
    model = str(FIXTURES / "op-tiny-xlmr")
    # One server, batching off (the flag this benchmark depends on), one worker process: keeps the test short.
    rc = bench.main(["--quick", "--model", model, "--modes", "off", "--workers", "1", "--out", str(tmp_path)])
    assert rc == 0
    report = json.loads((tmp_path / "serve_bench.json").read_text())
    rows = report["summary"]
    assert [(r["mode"], r["clients"]) for r in rows] == [("off", 1), ("off", 4)]
    assert [(r["mode"], r["clients"], r["repeat"]) for r in report["runs"]] == [("off", 1, 0), ("off", 4, 0)]
    for r in rows:
        assert r["errors"] == 0 and r["mismatches"] == 0 and r["requests_per_s"] > 0
        assert r["p99_ms"] >= r["p50_ms"] > 0
        assert r["batch_requests_mean"] == 1.0, "batching off runs one request per batch"
    assert report["in_process_requests_per_s"] > 0
    assert [m["process"] for m in report["memory"]] == [
        "one server, batching off (after the load)",
        "one worker process with its own model",
    ]
    assert all(m["rss_mb"] > 0 for m in report["memory"])
    out = capsys.readouterr().out
    assert "| batching | clients |" in out and "| off (1 request/batch) | 4 | 4 |" in out
    assert (tmp_path / "serve_bench.md").read_text().strip() in out
