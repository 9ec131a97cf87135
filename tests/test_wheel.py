"""The built wheel is a complete install: build it, install it into a fresh venv, import both integrations
from the wheel (not from this checkout) and highlight with the embedded model through its console script.

Third-party dependencies (torch, transformers, LangChain, LlamaIndex) come from the running venv through a
``.pth`` line, so nothing is downloaded; the package itself comes only from the wheel (asserted). ``slow``:
``-m "not slow"`` skips it in a quick local run; CI runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow

PACKAGE_DIRS = [ROOT / "core" / "semantic_highlight", ROOT / "integrations"]


def shipped_files() -> list[str]:
    """The files of this checkout that the wheel must carry, as wheel paths: every file under the package
    folders that git tracks or would track (untracked, not ignored), byte-code excluded."""
    listed = subprocess.run(
        [
            "git",
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            "core/semantic_highlight",
            "integrations",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    out = []
    for name in listed:
        path = ROOT / name
        if not path.is_file() or path.suffix == ".pyc":
            continue
        root = ROOT / "core" if name.startswith("core/") else ROOT / "integrations"
        out.append(path.relative_to(root).as_posix())
    return sorted(out)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    (built,) = out.glob("semantic_highlight-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (no dependencies resolved: they come from the running venv)."""
    env = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    python = env / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # the running venv's packages after the new venv's own; its .pth files (our editable install) are not run
    parent = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "_parent_venv.pth").write_text("".join(f"{p}\n" for p in sorted(parent)))
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    return env


def run_in(env: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        list(args), input=stdin, capture_output=True, text=True, timeout=600, cwd=env.parent, env=clean
    )


def test_wheel_carries_every_package_file_and_the_embedded_model(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        model = zf.getinfo("semantic_highlight/default_model/model.safetensors")
    missing = [name for name in shipped_files() if name not in names]
    assert not missing, f"files missing from the wheel (pyproject package-data?): {missing}"
    assert model.file_size > 50_000_000  # the real weights, not a Git LFS pointer
    for typed in ("semantic_highlight", "langchain_semantic_highlight", "llama_index/postprocessor/semantic_highlight"):
        assert f"{typed}/py.typed" in names


def test_installed_wheel_imports_both_integrations_from_the_venv(venv: Path) -> None:
    code = (
        "import semantic_highlight, langchain_semantic_highlight, llama_index.postprocessor.semantic_highlight as li;"
        "from langchain_semantic_highlight import SemanticHighlightCompressor;"
        "from llama_index.postprocessor.semantic_highlight import SemanticHighlightPostprocessor;"
        "print(semantic_highlight.__file__); print(langchain_semantic_highlight.__file__); print(li.__file__)"
    )
    proc = run_in(venv, str(venv / "bin" / "python"), "-c", code)
    assert proc.returncode == 0, proc.stderr
    paths = [Path(line) for line in proc.stdout.splitlines()]
    assert len(paths) == 3
    for path in paths:  # from the wheel, not from this checkout (editable install) or the running venv
        assert path.resolve().is_relative_to(venv.resolve()), path


def test_installed_console_script_highlights_with_the_embedded_model(venv: Path) -> None:
    text = "The film was directed by A, with a screenplay by A and B. It stars C."
    proc = run_in(
        venv,
        str(venv / "bin" / "semantic-highlight"),
        "highlight",
        "-q",
        "Who wrote the film?",
        "--format",
        "json",
        "-",
        stdin=text,
    )
    assert proc.returncode == 0, proc.stderr
    assert "screenplay by A and B" in proc.stdout and '"selected": true' in proc.stdout
    assert '"model": "default"' in proc.stdout
