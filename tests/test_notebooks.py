"""The example notebooks run top to bottom (offline) and are committed without outputs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from conftest import FIXTURES, ROOT, default_model_available  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
CASES = [
    pytest.param("langchain_rag_highlight.ipynb", "langchain_core", id="langchain"),
    pytest.param("llama_index_rag_highlight.ipynb", "llama_index.core", id="llama_index"),
    pytest.param("agent_tool_pruning.ipynb", "langchain.agents", id="agents"),
]


@pytest.mark.parametrize(("name", "framework"), CASES)
def test_notebook_is_committed_without_outputs(name: str, framework: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: clear the outputs before committing"


def run_notebook(name: str) -> Any:
    """Execute a notebook in a fresh ``python3`` kernel (this interpreter's) with notebooks/ as cwd."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    try:
        client.execute()
    except Exception as exc:  # reported by the test of that notebook
        return exc
    return nb


@pytest.fixture(scope="module")
def executed() -> dict[str, Any]:
    """Both notebooks, run side by side (most of their time is imports and model loading)."""
    if not default_model_available() and not (FIXTURES / "op-tiny-xlmr").is_dir():
        pytest.skip("neither the default model nor ../shared/fixtures is available")
    names = [p.values[0] for p in CASES if _importable(p.values[1])]
    with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
        return dict(zip(names, pool.map(run_notebook, names), strict=True))


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(("name", "framework"), CASES)
def test_notebook_runs(name: str, framework: str, executed: dict[str, Any]) -> None:
    pytest.importorskip(framework)
    nb = executed[name]
    if isinstance(nb, Exception):
        raise nb
    html = [
        out["data"]["text/html"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.get("output_type") == "display_data" and "text/html" in out.get("data", {})
    ]
    assert html and all('class="semantic-highlight"' in h for h in html)
    assert any("<mark" in h for h in html)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert [out for out in outputs if out.get("output_type") == "error"] == []
