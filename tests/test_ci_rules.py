"""The suite's own rules: under ``CI=true`` a test that needs ../shared fails when it is missing (a skip
would hide the gap), while a local run without it skips; unknown markers are errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PROBE = """
import pytest
from conftest import FIXTURES


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is not available")
def test_marker() -> None:
    pass


def test_fixture(xlmr) -> None:
    pass
"""


def run_probe(tmp_path: Path, ci: str | None, body: str = PROBE) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text(body)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(SEMANTIC_HIGHLIGHT_SHARED=str(tmp_path / "no-shared"), PYTHONPATH=str(ROOT / "tests"))
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the probe needs no plugin; loading them all is slow
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider", "--strict-markers",
         f"--rootdir={tmp_path}", str(tmp_path / "test_probe.py")],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip


def test_missing_shared_skips_locally_and_fails_under_ci(tmp_path: Path) -> None:
    local = run_probe(tmp_path, None)
    assert local.returncode == 0 and "2 skipped" in local.stdout, local.stdout + local.stderr
    ci = run_probe(tmp_path, "true")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "2 failed" in ci.stdout or "2 error" in ci.stdout, ci.stdout
    assert "../shared must be present" in ci.stdout


def test_unknown_markers_are_errors(tmp_path: Path) -> None:
    proc = run_probe(tmp_path, None, "import pytest\n\n@pytest.mark.slwo\ndef test_x() -> None:\n    pass\n")
    assert proc.returncode != 0 and "slwo" in proc.stdout + proc.stderr
