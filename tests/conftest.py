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

    return SemanticHighlighter(model=str(FIXTURES / name), device="cpu", dtype="float32")  # parity needs fp32


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


# --- integrations (LangChain, LlamaIndex, annotations, notebooks) ---------------------------------


def default_model_available() -> bool:
    """True when the embedded default model has been shipped into the package."""
    from semantic_highlight.models import DEFAULT_MODEL_DIR

    return (DEFAULT_MODEL_DIR / "config.json").is_file()


def integration_model() -> str | None:
    """``model=`` for the integration tests: the embedded default (``None``) when present, else the tiny fixture."""
    return None if default_model_available() else str(FIXTURES / "op-tiny-xlmr")


@cache
def integration_highlighter() -> Any:
    from semantic_highlight import SemanticHighlighter

    return SemanticHighlighter(model=integration_model(), device="cpu")


@pytest.fixture(scope="session")
def highlighter() -> Any:
    """The shipped default model when present, else the tiny random op-tiny-xlmr fixture; loaded once."""
    if not default_model_available() and not (FIXTURES / "op-tiny-xlmr").is_dir():
        pytest.skip("neither the default model nor ../shared/fixtures is available")
    return integration_highlighter()


def mixed_threshold(highlighter: Any, query: str, texts: list[str]) -> float:
    """A threshold that selects some sentences of ``texts`` and leaves others out, whatever the model
    (the random fixture and the trained default score on very different scales)."""
    results = highlighter.highlight(query, texts)
    scores = sorted({s.score for r in results for s in r.sentences})
    assert len(scores) >= 2, "need at least two distinct sentence scores"
    return scores[len(scores) // 2 - 1] if len(scores) % 2 == 0 else scores[len(scores) // 2]
