"""The embedded default model: loads offline with no arguments and highlights by meaning (EN + ZH).

Quality floors here are smoke tests on real held-out data; the full numbers come from
``semantic-highlight eval --dataset suite --baselines`` (README, model card).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA
from semantic_highlight import SemanticHighlighter
from semantic_highlight.models import DEFAULT_MODEL_DIR

pytestmark = pytest.mark.skipif(
    not (DEFAULT_MODEL_DIR / "config.json").is_file(), reason="the default model is not built into this checkout"
)


@pytest.fixture(scope="module")
def default() -> SemanticHighlighter:
    return SemanticHighlighter(device="cpu")


def test_shipped_files_are_small_and_safe() -> None:
    files = {p.name: p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir()}
    assert "model.safetensors" in files and "tokenizer.json" in files and "README.md" in files
    assert not any(name.endswith((".bin", ".pt", ".pkl", ".ckpt")) for name in files)
    assert sum(files.values()) <= 80 * 1024 * 1024
    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    assert config["model_type"] == "open_provence" and "auto_map" not in config
    assert config["base_model_config"]["model_type"] == "bert"
    assert 0 < config["default_threshold"] < 1 and config["max_length"] <= 512


def test_default_names_the_embedded_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from semantic_highlight.models import resolve_model_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()  # a local folder of that name is "./default"
    assert resolve_model_path("default") == resolve_model_path(None) == DEFAULT_MODEL_DIR
    assert resolve_model_path("./default") == Path("default")


def test_loads_offline_in_a_fresh_process() -> None:
    code = (
        "from semantic_highlight import SemanticHighlighter;"
        "r = SemanticHighlighter().highlight('Who wrote the film?', "
        "'The film was directed by A, with a screenplay by A and B. It stars C.');"
        "print([s.text for s in r.highlights])"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=True)
    assert "screenplay" in out.stdout and "It stars C." not in out.stdout


@pytest.mark.parametrize(
    ("query", "doc", "answer"),
    [
        (
            "How is the phone's performance?",
            "The phone comes in blue and pink. Its A15 chip scores over a million points in benchmarks, "
            "and apps open without any lag. The box includes a cable.",
            1,
        ),
        (
            "这款手机性能怎么样？",
            "这款手机有蓝色和粉色两种配色。它搭载A15芯片，跑分超过一百万，运行流畅不卡顿。包装盒里附带一根数据线。",
            1,
        ),
        (
            "Where did the singer grow up?",
            "她的第一张专辑在2001年发行。She was born and raised in Taichung, Taiwan. The album sold well.",
            1,
        ),
    ],
)
def test_paraphrased_answers_score_highest(default: SemanticHighlighter, query: str, doc: str, answer: int) -> None:
    r = default.highlight(query, doc)
    best = max(r.sentences, key=lambda s: s.score)
    assert best.index == answer, [(s.text, round(s.score, 3)) for s in r.sentences]
    assert r.sentences[answer].selected


@pytest.mark.parametrize(
    ("query", "sentences"),
    [
        (
            "Who directed the film?",
            ["The film premiered in 2003. ", "It was directed by Jane Park. ", "The soundtrack sold well."],
        ),
        ("这部电影的导演是谁？", ["这部电影于2003年首映。", "影片由朴珍执导。", "原声带销量很好。"]),
    ],
)
def test_answer_sentence_scores_highest(default: SemanticHighlighter, query: str, sentences: list[str]) -> None:
    scores = [s.score for s in default.highlight(query, [sentences])[0].sentences]
    assert max(range(len(scores)), key=scores.__getitem__) == 1, (query, scores)


@pytest.mark.parametrize(
    ("name", "floor"),
    # full sets (stage 8): 0.839 / 0.809 in one language, 0.698 / 0.692 mixed (English question, Chinese passage
    # and back); keyword overlap scores 0.44 / 0.42 and 0.23 / 0.22
    [("xquad-en", 0.70), ("xquad-zh", 0.70), ("xquad-en-zh", 0.55), ("xquad-zh-en", 0.55)],
)
def test_quality_smoke_on_held_out_xquad(default: SemanticHighlighter, name: str, floor: float) -> None:
    if not (DATA / "xquad").is_dir():
        pytest.skip("../shared/data is not available")
    from semantic_highlight.eval.metrics import compute_metrics
    from semantic_highlight.eval.suite import load_dataset

    examples = load_dataset(name, data_dir=DATA, limit=60).examples
    results = default.highlight_batch([(e.query, [list(e.sentences)]) for e in examples])
    gold, pred = [], []
    for e, (r,) in zip(examples, results, strict=True):
        selected = {s.start for s in r.highlights}
        starts = [sum(len(x) for x in e.sentences[:i]) for i in range(len(e.sentences))]
        gold.append([i in e.relevant for i in range(len(e.sentences))])
        pred.append([starts[i] in selected for i in range(len(e.sentences))])
    assert compute_metrics(gold, pred).f1 >= floor
