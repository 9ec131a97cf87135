"""The ``semantic-highlight highlight`` command: text, JSON and HTML output, errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import FIXTURES
from semantic_highlight.cli import main

MODEL = str(FIXTURES / "op-tiny-xlmr")


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "doc.txt"
    path.write_text("Paris is the capital of France. Bananas are yellow. 巴黎是法国的首都。", encoding="utf-8")
    return path


def test_text_output_marks_highlights_without_tty(doc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["highlight", "-q", "capital of France", "-m", MODEL, "-t", "0.3", str(doc)]) == 0
    out = capsys.readouterr().out
    assert "[[" in out and "]]" in out and "\033[" not in out
    assert out.replace("[[", "").replace("]]", "").strip() == doc.read_text(encoding="utf-8")


def test_json_output(doc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["highlight", "-q", "capital", "-m", MODEL, "-f", "json", "-t", "0.3", str(doc), str(doc)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert len(payload) == 2 and payload[0]["file"] == str(doc)
    text = payload[0]["text"]
    assert all(text[h["start"] : h["end"]] == h["text"] for h in payload[0]["highlights"])


def test_selection_options_reach_the_engine(doc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["highlight", "-q", "capital", "-m", MODEL, "-f", "json", "-t", "1.0", "--fallback-threshold", "0.0"]
    assert main([*base, str(doc)]) == 0
    (best,) = json.loads(capsys.readouterr().out)
    assert len(best["highlights"]) == 1 and best["relative_threshold"] is None
    assert main([*base, "--relative-threshold", "0.000001", str(doc)]) == 0
    (wide,) = json.loads(capsys.readouterr().out)
    assert len(wide["highlights"]) == len(wide["sentences"]) > 1 and wide["relative_threshold"] == 1e-6
    assert main([*base, "--relative-threshold", "1.5", str(doc)]) == 2
    assert "relative_threshold must be in (0, 1]" in capsys.readouterr().err


def test_html_output(doc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["highlight", "-q", "capital", "-m", MODEL, "-f", "html", "-t", "0.0", str(doc)]) == 0
    assert "<mark" in capsys.readouterr().out


def test_errors_exit_2(doc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["highlight", "-q", "x", "-m", str(tmp_path / "nope"), str(doc)]) == 2
    assert "not a checkpoint folder" in capsys.readouterr().err
    assert main(["highlight", "-q", "x", "-m", MODEL, str(tmp_path / "missing.txt")]) == 2
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Caf\u00e9 au lait.".encode("latin-1"))
    assert main(["highlight", "-q", "x", "-m", MODEL, str(latin1)]) == 2
    assert f"{latin1} is not UTF-8 text (invalid continuation byte at byte 3)" in capsys.readouterr().err
    assert main(["highlight", "-q", "x", "-m", MODEL, str(tmp_path)]) == 2  # a folder: an OSError, not a traceback
    assert main(["highlight", "-q", "x", "-m", MODEL, "--max-sentence-chars", "-3", str(doc)]) == 2
    assert "max_sentence_chars must be an int >= 1" in capsys.readouterr().err


def test_offsets_index_the_file_as_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CRLF line endings are not translated (offsets index the file's characters), from a file or stdin."""
    raw = "Paris is the capital.\r\nBananas are yellow.\r\n巴黎是法国的首都。\r\n".encode()
    path = tmp_path / "crlf.txt"
    path.write_bytes(raw)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="ascii"))  # the locale is ignored
    assert main(["highlight", "-q", "capital", "-m", MODEL, "-f", "json", "-t", "0.0", str(path), "-"]) == 0
    from_file, from_stdin = json.loads(capsys.readouterr().out)
    assert from_file["text"] == from_stdin["text"] == raw.decode("utf-8")
    assert len(from_file["highlights"]) == 3
    assert all(from_file["text"][h["start"] : h["end"]] == h["text"] for h in from_file["highlights"])
    assert from_file["highlights"][1]["text"] == "Bananas are yellow.\r\n"


def test_min_score_and_max_sentence_chars(doc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["highlight", "-q", "capital", "-m", MODEL, "-f", "json", "-t", "0.0", str(doc)]
    assert main([*base, "--min-score", "1.0"]) == 0
    (none,) = json.loads(capsys.readouterr().out)
    assert none["highlights"] == [] and len(none["sentences"]) == 3
    assert main([*base, "--max-sentence-chars", "12"]) == 0
    (cut,) = json.loads(capsys.readouterr().out)
    assert len(cut["sentences"]) > 3 and all(len(s["text"].strip()) <= 12 for s in cut["sentences"])
    assert main([*base, "--max-sentence-chars", "0"]) == 0  # 0: no cap
    (whole,) = json.loads(capsys.readouterr().out)
    assert len(whole["sentences"]) == 3
