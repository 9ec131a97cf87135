"""``scripts/make_readme_images.py``: the README's pictures, drawn into a temporary folder from a real
``semantic-highlight eval --sweep`` JSON (tiny fixture model and keyword baseline on a few examples) and a highlight
screenshot in headless Chromium; each is a small, valid PNG with what it should show."""

from __future__ import annotations

import importlib.util
import json
import os
import struct
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import FIXTURES, ROOT, require_shared

TINY = FIXTURES / "op-tiny-xlmr"
ROWS = [
    {"query": "capital of France", "sentences": ["Paris is the capital of France. ", "It rains."], "relevant": [0]},
    {"query": "which animal barks", "sentences": ["Cats sleep. ", "Dogs bark. ", "Birds sing."], "relevant": [1]},
    {"query": "长城在哪里", "sentences": ["长城很长。", "它位于中国北方。"], "relevant": [1]},
    {"query": "boiling point of water", "sentences": ["Water boils at 100 C. ", "Ice melts at 0 C."], "relevant": [0]},
]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_readme_images", ROOT / "scripts" / "make_readme_images.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _eval_json(tmp: Path, sweep: bool = True) -> Path:
    """``results.json`` as ``semantic-highlight eval -m TINY --baselines [--sweep]`` writes it (no e5 encoder)."""
    from semantic_highlight.eval.report import write_json
    from semantic_highlight.eval.runner import evaluate

    data = tmp / "tiny.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS), encoding="utf-8")
    table = evaluate([str(TINY), "keyword", "embedding"], [str(data)], sweep=sweep, e5_dir=str(tmp / "no-e5"))
    return write_json(table, tmp / "eval" / "results.json")


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (after checking the signature)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", path
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _has_color(pixels: np.ndarray, rgb: tuple[int, int, int]) -> bool:
    return bool((np.abs(pixels[..., :3] * 255 - np.array(rgb)) < 4).all(axis=-1).any())


def test_readme_images_from_a_real_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_shared(TINY)
    script = _script()
    if script.find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed")
    results = _eval_json(tmp_path)
    out = tmp_path / "img"
    argv = ["--eval-json", str(results), "--out", str(out), "--model", str(TINY), "--threshold", "0"]
    assert script.main(argv) == 0
    said = capsys.readouterr().out
    assert "left out of the curves: embedding baseline" in said  # no e5 encoder here: drawn without it, and said
    assert {p.name for p in out.iterdir()} == {"highlight.png", "f1_threshold.png", "tokens_recall.png"}
    for name, (min_w, min_h) in {"highlight.png": (600, 200), "f1_threshold.png": (200, 150),
                                 "tokens_recall.png": (400, 200)}.items():  # fmt: skip
        width, height = _png_size(out / name)
        assert min_w <= width <= 2000 and min_h <= height <= 1600, (name, width, height)
        assert 5_000 < (out / name).stat().st_size < 150_000, name
    import matplotlib.image as mpimg

    shot = mpimg.imread(out / "highlight.png")
    assert _has_color(shot, (0xFF, 0xE0, 0x66))  # the model's marks (threshold 0: the tiny model selects)
    assert _has_color(shot, (0xD0, 0xE4, 0xFF))  # keyword marks ("film" in "Who wrote the film?")
    # the curves: the model and the keyword baseline in their tab10 colours
    curves = mpimg.imread(out / "f1_threshold.png")
    assert _has_color(curves, (0x1F, 0x77, 0xB4)) and _has_color(curves, (0xFF, 0x7F, 0x0E))


def test_readme_images_need_sweep_curves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_shared(TINY)
    script = _script()
    results = _eval_json(tmp_path, sweep=False)
    assert script.main(["--eval-json", str(results), "--out", str(tmp_path / "img"), "--no-highlight"]) == 2
    assert "no sweep curves: run `semantic-highlight eval --sweep`" in capsys.readouterr().err
    assert not (tmp_path / "img").exists()
    missing = tmp_path / "nothing.json"
    assert script.main(["--eval-json", str(missing), "--no-highlight"]) == 2
    assert str(missing) in capsys.readouterr().err
