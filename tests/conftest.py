"""Shared fixtures: the tiny reference checkpoints in ../shared and helpers to load their cases."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"
DATA = SHARED / "data"
FIXTURE_NAMES = ["op-tiny-xlmr", "op-tiny-modernbert"]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@cache
def tiny_highlighter(name: str) -> Any:
    from semantic_highlight import SemanticHighlighter

    return SemanticHighlighter(model=str(FIXTURES / name), device="cpu")


@pytest.fixture(scope="session")
def xlmr() -> Any:
    if not (FIXTURES / "op-tiny-xlmr").is_dir():
        pytest.skip("../shared/fixtures is not available")
    return tiny_highlighter("op-tiny-xlmr")


@pytest.fixture(scope="session")
def modernbert() -> Any:
    if not (FIXTURES / "op-tiny-modernbert").is_dir():
        pytest.skip("../shared/fixtures is not available")
    return tiny_highlighter("op-tiny-modernbert")
