"""`semantic-highlight train` on the user's own files: what it refuses, and what it refuses before training."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from semantic_highlight.cli import main as front
from semantic_highlight.models import DEFAULT_MODEL_DIR
from test_annotate import FIXTURES, _tiny_encoder, write_jsonl

pytestmark = pytest.mark.skipif(not (FIXTURES / "op-tiny-xlmr").is_dir(), reason="../shared/fixtures is not available")

WORDS = ["red", "blue", "green", "small", "large", "old", "new", "round"]


def _records(n: int, tag: str, relevant: list[int] | None = None, sentences: int = 3) -> list[dict[str, Any]]:
    """``n`` labelled English records; sentence 1 answers unless ``relevant`` says otherwise."""
    rows = []
    for i in range(n):
        sents = [f"The {WORDS[(i + j) % 8]} box {tag}{i} holds item {j}. " for j in range(sentences)]
        rows.append({"id": f"{tag}{i}", "query": f"What does box {tag}{i} hold?", "sentences": sents})
        rows[-1]["relevant"] = [1] if relevant is None else relevant
    return rows


@pytest.fixture
def encoder(tmp_path: Path) -> Path:
    return _tiny_encoder(tmp_path / "encoder")


def _common(tmp_path: Path, encoder: Path, *extra: str) -> list[str]:
    build = ["--build", str(tmp_path / "build"), "--batch-size", "4", "--max-length", "64"]
    return ["train", "--encoder", str(encoder), *build, *extra]


def _step(run: Path) -> int:
    import torch

    return int(torch.load(run / "ckpt.pt", weights_only=True)["step"])


def test_a_run_folder_resumes_its_own_data_and_refuses_other_data(tmp_path: Path, encoder: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", _records(12, "a"))
    b = write_jsonl(tmp_path / "b.jsonl", _records(12, "b"))
    val = ["--val-file", str(write_jsonl(tmp_path / "val.jsonl", _records(3, "v")))]
    run = tmp_path / "build" / "run"
    args = _common(tmp_path, encoder, *val, "--train-file", str(a), "--out", str(tmp_path / "m"))
    assert front([*args, "--max-steps", "2"]) == 0 and _step(run) == 2
    assert front([*args, "--max-steps", "3"]) == 0 and _step(run) == 3  # the same command resumes (longer)
    other = _common(tmp_path, encoder, *val, "--train-file", str(b), "--out", str(tmp_path / "m2"), "--max-steps", "5")
    with pytest.raises(SystemExit) as info:
        front(other)
    assert "differs in: training data" in str(info.value.code) and "another --run" in str(info.value.code)
    with pytest.raises(SystemExit) as info:
        front([*args, "--max-steps", "5", "--lr", "1e-4"])
    assert "differs in: --lr" in str(info.value.code)
    assert _step(run) == 3 and not (tmp_path / "m2").exists()  # nothing trained, nothing exported
    assert front([*other, "--run", "b"]) == 0 and _step(tmp_path / "build" / "b") == 5


def test_own_data_run_writes_its_card_and_keeps_thresholds_a_tiny_split_cannot_pick(
    tmp_path: Path, encoder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from semantic_highlight.training.export import set_default_thresholds

    train = write_jsonl(tmp_path / "train.jsonl", [*_records(16, "t"), {"query": "q", "relevant": ["one"]}])
    val = write_jsonl(tmp_path / "val.jsonl", _records(5, "v"))
    first = tmp_path / "first"
    args = _common(tmp_path, encoder, "--train-file", str(train), "--val-file", str(val), "--max-steps", "2")
    assert front([*args, "--out", str(first)]) == 0
    validation = json.loads((tmp_path / "build" / "run" / "validation.json").read_text())
    config = json.loads((first / "config.json").read_text())
    # 5 answerable examples cannot pick thresholds: the export default (an encoder start) is kept
    assert validation["calibrated"] is False and config["default_threshold"] == 0.5
    assert "default_fallback_threshold" not in config
    assert (first / "model.safetensors").stat().st_mode & 0o777 == (first / "config.json").stat().st_mode & 0o777
    card = (first / "README.md").read_text()  # steps `train export card` by default
    assert card.startswith("# semantic-highlight model `first`") and f"--train-file {train}" in card
    assert "| train | 16 | 1 |" in card and "16 training examples, 5 validation examples" in card
    assert "kept from the starting model" in card and "default model (bilingual" not in card
    assert "handwritten" not in card and "Targets" not in card

    set_default_thresholds(first, 0.42, 0.2, 0.8)
    second = tmp_path / "second"
    tuned = ["train", "--build", str(tmp_path / "build"), "--batch-size", "4", "--train-file", str(train)]
    tuned += ["--val-file", str(val), "--max-steps", "1", "--init-from", str(first), "--run", "ft"]
    assert front([*tuned, "--out", str(second)]) == 0
    config = json.loads((second / "config.json").read_text())
    assert (config["default_threshold"], config["default_fallback_threshold"]) == (0.42, 0.2)  # the start's
    assert config["default_relative_threshold"] == 0.8 and config["max_length"] == 64

    # a larger split is calibrated; ties go to the starting model's point
    big_val = write_jsonl(tmp_path / "big_val.jsonl", _records(24, "w"))
    tuned[tuned.index(str(val))] = str(big_val)
    assert front(["train", "export", *tuned[1:], "--out", str(second)]) == 0
    validation = json.loads((tmp_path / "build" / "ft" / "validation.json").read_text())
    assert validation["calibrated"] is True and validation["fallback_calibrated"] is False
    assert json.loads((second / "config.json").read_text())["default_fallback_threshold"] == 0.2  # no negatives
    assert not (second / "README.md").exists()  # export alone drops the card of the replaced weights
    assert front(["train", "card", *tuned[1:], "--out", str(second)]) == 0  # a later card names the training call
    trained_by = f"`semantic-highlight train --build {tmp_path / 'build'} --batch-size 4"
    assert trained_by in (second / "README.md").read_text()
    # validate: `--compare default` scores the shipped model on the same split
    assert front(["train", "validate", *tuned[1:], "--out", str(second), "--compare", "default"]) == 0
    rows = json.loads((tmp_path / "build" / "ft" / "validate.json").read_text())
    assert [r["model"] for r in rows] == [str(second), str(DEFAULT_MODEL_DIR)] and rows[1]["n"] == 24
    # a --compare folder that is --out, or named twice, is scored once
    again = ["--compare", str(second), "--compare", "default", "--compare", str(DEFAULT_MODEL_DIR)]
    assert front(["train", "validate", *tuned[1:], "--out", str(second), *again]) == 0
    rows = json.loads((tmp_path / "build" / "ft" / "validate.json").read_text())
    assert [r["model"] for r in rows] == [str(second), str(DEFAULT_MODEL_DIR)]
    # on another split than export calibrated on, validate says so
    tuned[tuned.index(str(big_val))] = str(val)
    with caplog.at_level("WARNING", logger="semantic_highlight.training"):
        assert front(["train", "validate", *tuned[1:], "--out", str(second)]) == 0
    assert any("not the one" in r.getMessage() and "calibrated on" in r.getMessage() for r in caplog.records)


def test_validation_and_out_are_checked_before_training(tmp_path: Path, encoder: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", _records(8, "t"))
    negatives = write_jsonl(tmp_path / "neg.jsonl", _records(4, "n", relevant=[]))
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    for extra, message in (
        (["--val-file", str(negatives), "--out", str(tmp_path / "m")], "none of the 4 validation examples"),
        (["--val-share", "0", "--out", str(tmp_path / "m")], "no validation example"),
        (["--out", str(notes)], "is not a model folder"),
        (["--val-file", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "m")], "no such file"),
    ):
        with pytest.raises(SystemExit) as info:
            front(_common(tmp_path, encoder, "--train-file", str(train), "--max-steps", "1", *extra))
        assert message in str(info.value.code)
    assert not (tmp_path / "build" / "run").exists()  # refused before any training
    assert [p.name for p in notes.iterdir()] == ["todo.txt"]


def test_epochs_count_training_windows_not_examples(tmp_path: Path, encoder: Path) -> None:
    # 8 sentences a document, all relevant, in 32-token windows: several windows per example
    docs = write_jsonl(tmp_path / "long.jsonl", _records(8, "l", relevant=list(range(8)), sentences=8))
    args = ["--train-file", str(docs), "--val-file", str(docs), "--out", str(tmp_path / "m"), "--epochs", "1"]
    assert front([*_common(tmp_path, encoder, *args), "--train-max-length", "32"]) == 0
    steps = json.loads((tmp_path / "build" / "run" / "train_config.json").read_text())["max_steps"]
    assert steps > math.ceil(8 / 4) and _step(tmp_path / "build" / "run") == steps


def test_starting_points_and_devices_are_checked(
    tmp_path: Path, encoder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    train = write_jsonl(tmp_path / "train.jsonl", _records(8, "t"))
    base = ["train", "--train-file", str(train), "--out", str(tmp_path / "m"), "--build", str(tmp_path / "b")]
    for init, message in ((encoder, "config.json has no base_model_config"), (tmp_path / "nope", "does not exist")):
        with pytest.raises(SystemExit) as info:
            front([*base, "--init-from", str(init)])
        assert message in str(info.value.code) and "--init-from" in str(info.value.code)
    notes = tmp_path / "notes"
    notes.mkdir()
    model = tmp_path / "model"
    shutil.copytree(FIXTURES / "op-tiny-xlmr", model)
    for folder, message in ((model, "is a highlighting model: start from it with --init-from"), (notes, "no config")):
        with pytest.raises(SystemExit) as info:
            front([*base, "--encoder", str(folder), "--val-share", "0.3"])
        assert message in str(info.value.code)
    bad = [("--epochs", "0", "must be above 0"), ("--batch-size", "0", "must be above 0")]
    bad += [("--device", "gpu", "not a torch device")]
    if not torch.cuda.is_available():
        bad.append(("--device", "cuda", "sees no cuda device"))
    for flag, value, message in bad:
        with pytest.raises(SystemExit) as info:
            front([*base, "--init-from", "default", flag, value])
        assert info.value.code == 2 and message in capsys.readouterr().err


def test_held_out_share_takes_whole_passages_and_at_least_one(tmp_path: Path) -> None:
    from collections import Counter

    from semantic_highlight.training.cli import _args, _user_data

    few = str(write_jsonl(tmp_path / "few.jsonl", _records(8, "f")))
    train, val = _user_data(_args(["--train-file", few, "--out", "m", "--val-share", "0.01"]), Counter())
    assert (len(train), len(val)) == (7, 1)  # 1% of 8 rounds to none: one is held out all the same
    with pytest.raises(SystemExit, match="leaves no training example"):
        _user_data(_args(["--train-file", few, "--out", "m", "--val-share", "0.99"]), Counter())
    # 24 passages, each asked twice: a passage is never on both sides
    rows = _records(24, "p")
    many = str(
        write_jsonl(tmp_path / "many.jsonl", rows + [{**r, "id": f"{r['id']}b", "query": "Which?"} for r in rows])
    )
    train, val = _user_data(_args(["--train-file", many, "--out", "m"]), Counter())
    assert len(val) == 2 * round(0.1 * 24) and not {e.text for e in train} & {e.text for e in val}


def test_precision_is_recorded_and_auto_follows_the_hardware(
    tmp_path: Path, encoder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from semantic_highlight.training.train import bf16_is_fast

    docs = write_jsonl(tmp_path / "d.jsonl", _records(6, "p"))
    args = ["--train-file", str(docs), "--val-file", str(docs), "--max-steps", "1", "--device", "cpu", "train"]

    def trained_bf16(run: str, *precision: str) -> bool:
        assert front([*_common(tmp_path, encoder, *args), "--run", run, *precision]) == 0
        return bool(json.loads((tmp_path / "build" / run / "train_config.json").read_text())["bf16"])

    assert trained_bf16("fp32", "--precision", "fp32") is False
    assert trained_bf16("bf16", "--precision", "bf16") is True
    assert trained_bf16("auto") is bf16_is_fast("cpu")
    # auto: bf16 only where the CPU runs it natively (emulated bf16 on AVX2 made a step ~12x slower here)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert bf16_is_fast("cpu") is False
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert bf16_is_fast("cpu") is True
    with pytest.raises(SystemExit):
        front([*_common(tmp_path, encoder, *args), "--precision", "fp16"])
