"""The example notebooks run top to bottom (offline) and are committed with current, stable outputs.

Every notebook is re-executed (``scripts/refresh_notebooks.py``: fresh ``python3`` kernel, notebooks/ as working
directory, a temporary Milvus Lite folder) and its text outputs (standard output, text/plain, text/html) must
equal the committed ones, numbers with a fractional part within ``FLOAT_TOLERANCE`` (float rounding differs
between CPUs); otherwise the test fails with the command that refreshes them. The committed outputs are made with
the embedded default model, so that comparison is skipped where it is not installed (the notebooks then run on
the tiny random fixture and must still run).
"""

from __future__ import annotations

import copy
import importlib.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from conftest import FIXTURES, ROOT, default_model_available  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
CASES = [
    pytest.param("langchain_rag_highlight.ipynb", ("langchain_core",), id="langchain"),
    pytest.param("llama_index_rag_highlight.ipynb", ("llama_index.core",), id="llama_index"),
    pytest.param("agent_tool_pruning.ipynb", ("langchain.agents", "llama_index.core"), id="agents"),
    pytest.param(
        "milvus_lite_rag.ipynb",
        ("langchain_milvus", "milvus_lite", "llama_index.vector_stores.milvus"),
        id="milvus",
    ),
]
NAMES = [p.values[0] for p in CASES]
MAX_BYTES = 100_000  # outputs are text and a few marks; anything bigger is a dump that does not belong here


def _load_refresh_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("refresh_notebooks", ROOT / "scripts" / "refresh_notebooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


refresh = _load_refresh_script()


def _importable(modules: tuple[str, ...]) -> bool:
    try:
        for module in modules:
            __import__(module)
    except ImportError:
        return False
    return True


def _committed(name: str) -> Any:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def _html_outputs(nb: Any) -> list[str]:
    return [
        "".join(out["data"]["text/html"])
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.get("output_type") == "display_data" and "text/html" in out.get("data", {})
    ]


def test_every_notebook_is_tested() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize(("name", "modules"), CASES)
def test_committed_outputs_are_small_and_stable(name: str, modules: tuple[str, ...]) -> None:
    """Committed executed, with highlights GitHub can render, and nothing that changes from run to run."""
    path = NOTEBOOKS / name
    assert path.stat().st_size < MAX_BYTES, f"{name} is {path.stat().st_size} bytes"
    nb = _committed(name)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    command = refresh.refresh_command([path])
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), f"not executed: run {command}"
    html = _html_outputs(nb)
    # <mark> renders without any stylesheet (GitHub drops <style> and style attributes from notebook outputs)
    assert any("<mark" in h for h in html) and all("<style" not in h and "<script" not in h for h in html)
    for cell in code:
        assert "execution" not in cell.metadata
        for out in cell.outputs:
            assert out.output_type != "error"
            assert not (out.output_type == "stream" and out.name == "stderr"), f"{name}: stderr output committed"
            assert set(out.get("data", {})) <= set(refresh.KEPT_MIME)
    assert refresh.unstable_content(nb) == []


def test_first_difference_tolerates_rounding_only() -> None:
    committed = _committed("milvus_lite_rag.ipynb")
    assert refresh.first_difference(committed, copy.deepcopy(committed)) is None
    cell, out = next(
        (cell, out)
        for cell in committed.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "<mark title=" in out.get("data", {}).get("text/html", "")
    )
    html = out.data["text/html"]
    score = html.split('<mark title="', 1)[1].split('"', 1)[0]
    nudged, moved = copy.deepcopy(committed), copy.deepcopy(committed)
    index, position = committed.cells.index(cell), cell.outputs.index(out)
    nudged.cells[index].outputs[position].data["text/html"] = html.replace(score, f"{float(score) + 0.001:.3f}", 1)
    assert refresh.first_difference(committed, nudged) is None
    moved.cells[index].outputs[position].data["text/html"] = html.replace("<mark", "<span", 1)
    difference = refresh.first_difference(committed, moved)
    assert difference is not None and "text/html differs" in difference
    moved.cells[index].outputs.pop(position)
    assert "outputs" in (refresh.first_difference(committed, moved) or "")


def test_refresh_script_rejects_unknown_notebook() -> None:
    with pytest.raises(FileNotFoundError, match="no notebook"):
        refresh.notebook_paths(["no_such_notebook.ipynb"])
    assert refresh.notebook_paths() == sorted(NOTEBOOKS / n for n in NAMES)
    assert refresh.refresh_command([NOTEBOOKS / "a.ipynb"]) == "python scripts/refresh_notebooks.py notebooks/a.ipynb"


def _run(name: str, milvus_dir: Path) -> Any:
    """The notebook executed and cleaned, or the exception it raised (reported by that notebook's test)."""
    try:
        return refresh.execute(NOTEBOOKS / name, env=refresh.kernel_env(milvus_dir))
    except Exception as exc:
        return exc


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Path]]:
    """Every notebook whose frameworks are installed, run side by side (most of their time is imports and
    model loading), each with its own temporary Milvus Lite folder: ``{name: (notebook or exception, folder)}``."""
    if not default_model_available() and not (FIXTURES / "op-tiny-xlmr").is_dir():
        pytest.skip("neither the default model nor ../shared/fixtures is available")
    names = [p.values[0] for p in CASES if _importable(p.values[1])]
    folders = [tmp_path_factory.mktemp("milvus") for _ in names]
    with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
        return dict(zip(names, zip(pool.map(_run, names, folders), folders, strict=True), strict=True))


@pytest.mark.parametrize(("name", "modules"), CASES)
def test_notebook_runs(name: str, modules: tuple[str, ...], executed: dict[str, tuple[Any, Path]]) -> None:
    for module in modules:
        pytest.importorskip(module)
    nb, milvus_dir = executed[name]
    if isinstance(nb, Exception):
        raise nb
    assert any('class="semantic-highlight"' in h and "<mark" in h for h in _html_outputs(nb))
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert [out for out in outputs if out.get("output_type") == "error"] == []
    assert refresh.unstable_content(nb) == []  # no memory address, temporary folder or clone path
    if name == "milvus_lite_rag.ipynb":  # the Milvus Lite databases went to the folder the test gave
        assert sorted(p.name for p in milvus_dir.iterdir()) == ["langchain.db", "llama_index.db"]


@pytest.mark.parametrize(("name", "modules"), CASES)
def test_committed_outputs_are_current(
    name: str, modules: tuple[str, ...], executed: dict[str, tuple[Any, Path]]
) -> None:
    for module in modules:
        pytest.importorskip(module)
    if not default_model_available():
        pytest.skip("the committed outputs are the embedded default model's, which is not installed")
    nb, _ = executed[name]
    if isinstance(nb, Exception):
        raise nb
    difference = refresh.first_difference(_committed(name), nb)
    command = refresh.refresh_command([NOTEBOOKS / name])
    assert difference is None, f"{name}: the committed outputs are stale; refresh them with: {command}\n{difference}"
