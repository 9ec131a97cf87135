"""Bad inputs outside the happy path (issue 23, items 12-14): corrupt model folders, devices this machine
lacks, closed standard streams, and a bounded fuzz of the sentence splitter."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file
from semantic_highlight import split_sentences
from semantic_highlight.cli import main
from semantic_highlight.models import ModelFormatError, load_model

SOURCE = FIXTURES / "op-tiny-xlmr"
needs_fixture = pytest.mark.skipif(not SOURCE.is_dir(), reason="../shared/fixtures is not available")


def corrupt_copy(tmp_path: Path, name: str, **files: bytes) -> Path:
    """A copy of the tiny fixture (links to its files) with the named files replaced by ``files``."""
    folder = tmp_path / name
    folder.mkdir()
    for f in SOURCE.iterdir():
        if f.name in files:
            (folder / f.name).write_bytes(files[f.name])
        else:
            (folder / f.name).symlink_to(f)
    return folder


def _config() -> dict:
    return json.loads((SOURCE / "config.json").read_text(encoding="utf-8"))


def _json(data: dict) -> bytes:
    return json.dumps(data).encode()


def _weights_with_head_of_width(width: int) -> bytes:
    state = load_file(str(SOURCE / "model.safetensors"))
    state["pruning_head.classifier.weight"] = torch.zeros(2, width)
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"h2-head-{os.getpid()}.safetensors"
    save_file(state, str(tmp))
    try:
        return tmp.read_bytes()
    finally:
        tmp.unlink()


def _corrupt_cases() -> dict[str, tuple[str, dict[str, bytes]]]:
    """Case name -> (the file the error must name, replaced files)."""
    weights = (SOURCE / "model.safetensors").read_bytes() if SOURCE.is_dir() else b""
    config = _config() if SOURCE.is_dir() else {"base_model_config": {"hidden_size": 0}}
    wider = {**config["base_model_config"], "hidden_size": config["base_model_config"]["hidden_size"] * 2}
    return {
        "truncated weights": ("model.safetensors", {"model.safetensors": weights[: len(weights) // 2]}),
        "empty weights": ("model.safetensors", {"model.safetensors": b""}),
        "random weights": ("model.safetensors", {"model.safetensors": bytes(range(256)) * 64}),
        "corrupt tokenizer": ("tokenizer.json", {"tokenizer.json": b'{"version": "1.0", "model": {'}),
        "truncated config": ("config.json", {"config.json": (SOURCE / "config.json").read_bytes()[:100]}),
        "non-UTF-8 config": ("config.json", {"config.json": b'{"model_type": "\xff"}'}),
        "threshold 'high'": (
            "config.json",
            {"config.json": json.dumps({**config, "default_threshold": "high"}).encode()},
        ),
        "weights of the wrong shape": (
            "model.safetensors",
            {"config.json": _json({**config, "base_model_config": wider})},
        ),
    }


CASES = _corrupt_cases() if SOURCE.is_dir() else {}


@needs_fixture
@pytest.mark.parametrize("case", list(CASES))
def test_a_corrupt_model_folder_is_a_model_format_error_naming_the_file(tmp_path: Path, case: str) -> None:
    named, files = CASES[case]
    folder = corrupt_copy(tmp_path, "model", **files)
    with pytest.raises(ModelFormatError, match=str(folder / named).replace(".", r"\.")):
        load_model(str(folder), device="cpu")


@needs_fixture
def test_a_pruning_head_of_the_wrong_width_is_caught_before_inference(tmp_path: Path) -> None:
    # a head narrower than the backbone loads into nn.Linear fine and would fail only inside the first forward pass
    folder = corrupt_copy(tmp_path, "model", **{"model.safetensors": _weights_with_head_of_width(16)})
    with pytest.raises(ModelFormatError, match=r"model\.safetensors: pruning_head\.classifier has shape \(2, 16\)"):
        load_model(str(folder), device="cpu")


@needs_fixture
@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("junk", "device 'junk' is not a device"),
        ("cuda:99", "device 'cuda:99' was asked for"),
        ("meta", "device 'meta' is not supported"),
    ]
    + ([] if torch.cuda.is_available() else [("cuda", "device 'cuda' was asked for, but CUDA is not available")]),
)
def test_a_device_this_machine_lacks_is_a_value_error_naming_it(device: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_model(str(SOURCE), device=device)


@needs_fixture
@pytest.mark.parametrize("case", ["truncated weights", "corrupt tokenizer", "threshold 'high'"])
def test_the_cli_reports_a_corrupt_model_in_one_line_and_exits_2(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    named, files = CASES[case]
    folder = corrupt_copy(tmp_path, "model", **files)
    doc = tmp_path / "doc.txt"
    doc.write_text("Paris is the capital of France. Bananas are yellow.", encoding="utf-8")
    assert main(["highlight", "-m", str(folder), "-q", "capital", str(doc)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("semantic-highlight: error: ") and str(folder / named) in err


@needs_fixture
def test_the_cli_reports_a_bad_device_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("Paris is the capital of France.", encoding="utf-8")
    assert main(["highlight", "-m", str(SOURCE), "--device", "junk", "-q", "capital", str(doc)]) == 2
    err = capsys.readouterr().err
    assert err == "semantic-highlight: error: device 'junk' is not a device; use 'cpu', 'cuda', 'cuda:N' or 'mps'\n"


# ------------------------------------------------------------------ closed standard streams (subprocess)


def _cli(args: list[str], redirect: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI under ``sh`` with a redirection such as ``<&-`` (stdin closed) or ``>&-`` (stdout closed)."""
    command = [sys.executable, "-c", "from semantic_highlight.cli import main; raise SystemExit(main())", *args]
    return subprocess.run(
        ["sh", "-c", f"{shlex.join(command)} {redirect}"], capture_output=True, text=True, timeout=300
    )


@needs_fixture
@pytest.mark.parametrize(
    ("args", "redirect", "message"),
    [
        (["-"], "<&-", "standard input is closed"),
        (["DOC"], ">&-", "standard output is closed"),
        (["-f", "json", "DOC"], ">&-", "standard output is closed"),  # used to exit 0 with the output lost
    ],
    ids=["stdin closed", "text, stdout closed", "json, stdout closed"],
)
def test_closed_standard_streams_are_a_clear_error(
    tmp_path: Path, args: list[str], redirect: str, message: str
) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("Paris is the capital of France. Bananas are yellow.", encoding="utf-8")
    args = [str(doc) if a == "DOC" else a for a in args]
    done = _cli(["highlight", "-m", str(SOURCE), "--device", "cpu", "-q", "capital", *args], redirect)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("semantic-highlight: error: ") and message in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


# ------------------------------------------------------------------ splitter fuzz (bounded)

_ODD_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(".!?。！？；…,，;:\"'”’」）)] \t\r\n\u3000\u00a0\u2028\u200b\u200d\ufe0f")),
        st.sampled_from(["\u0301", "\U0001f1eb", "\U0001f1f7", "\U0001f3fd", "\U0001f468", "\ud800"]),
        st.characters(),
        st.sampled_from(list("abcXYZ019 的是中国")),
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_ODD_TEXT, max_chars=st.one_of(st.none(), st.integers(min_value=1, max_value=40)))
def test_split_sentences_fuzz(text: str, max_chars: int | None) -> None:
    spans = split_sentences(text, max_chars)
    body = text.lstrip()
    assert "".join(s.text for s in spans) == body  # the spans tile the text after its leading whitespace
    pos = len(text) - len(body)
    for s in spans:
        assert s.start == pos and text[s.start : s.end] == s.text and s.end > s.start
        assert s.text.strip(), "a blank sentence"
        if max_chars is not None:
            assert len(s.text.rstrip()) <= max_chars
        pos = s.end
    assert pos == len(text) or not spans
