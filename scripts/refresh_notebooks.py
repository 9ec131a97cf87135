"""Execute the example notebooks in place, so that they are committed with current, stable outputs.

    python scripts/refresh_notebooks.py                     # every notebooks/*.ipynb
    python scripts/refresh_notebooks.py notebooks/X.ipynb   # some of them
    python scripts/refresh_notebooks.py --check             # execute and compare with the committed; write nothing

Each notebook runs top to bottom in a fresh ``python3`` kernel (this interpreter's ipykernel) with notebooks/ as
its working directory, ``PYTHONHASHSEED=0``, progress bars off, the Hugging Face hub offline and a temporary
Milvus Lite folder (``SEMANTIC_HIGHLIGHT_MILVUS_DIR``). Then the outputs are cleaned so that a re-run gives the
same file: standard-error streams (warnings, progress bars) and widget outputs are dropped, only text/plain,
text/html, text/markdown and image/png data are kept, consecutive stream chunks are merged, and timing metadata
is removed. A notebook whose outputs hold something that changes from run to run (a memory address, the
temporary folder, this clone's absolute path) is refused: print something stable instead.

``tests/test_notebooks.py`` uses the same functions to check that the committed outputs are current
(:func:`first_difference`: the same text outputs, numbers with a fractional part within
:data:`FLOAT_TOLERANCE`, since float rounding may differ from one CPU to another).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
KEPT_MIME = ("text/plain", "text/html", "text/markdown", "image/png")
COMPARED_MIME = ("text/plain", "text/html", "text/markdown")
FLOAT_TOLERANCE = 0.002
"""Numbers with a fractional part may differ by this much between the committed and a fresh run (two units
in the third decimal, the precision the notebooks print scores with)."""
MILVUS_DIR_ENV = "SEMANTIC_HIGHLIGHT_MILVUS_DIR"
CELL_TIMEOUT_S = 900
NUMBER = re.compile(r"-?\d+\.\d+")
ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")


def notebook_paths(names: Sequence[str] = ()) -> list[Path]:
    """The notebooks named (paths, or names inside notebooks/), else every notebooks/*.ipynb, sorted."""
    if not names:
        return sorted(NOTEBOOKS.glob("*.ipynb"))
    paths = []
    for name in names:
        path = Path(name) if Path(name).exists() else NOTEBOOKS / name
        if path.suffix != ".ipynb" or not path.is_file():
            raise FileNotFoundError(f"no notebook {name!r} (give a path or a name in {NOTEBOOKS})")
        paths.append(path.resolve())
    return paths


def refresh_command(paths: Sequence[Path] = ()) -> str:
    """The command that refreshes ``paths`` (all notebooks when empty), as typed from the repository root."""
    args = "".join(f" notebooks/{p.name}" for p in paths)
    return f"python scripts/refresh_notebooks.py{args}"


def kernel_env(milvus_dir: Path) -> dict[str, str]:
    """The kernel's environment: this one, made deterministic and offline."""
    env = dict(os.environ)
    env.update(
        PYTHONHASHSEED="0",
        TQDM_DISABLE="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_VERBOSITY="error",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    env[MILVUS_DIR_ENV] = str(milvus_dir)
    return env


def execute(path: Path, env: Mapping[str, str] | None = None) -> Any:
    """``path`` executed top to bottom in a fresh kernel, cleaned (:func:`clean`); raises on a failing cell.
    ``env``: the kernel's environment (default: :func:`kernel_env` with a temporary Milvus folder)."""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    if env is not None:
        client.execute(env=dict(env))
    else:
        with tempfile.TemporaryDirectory(prefix="milvus-lite-") as milvus_dir:
            client.execute(env=kernel_env(Path(milvus_dir)))
    return clean(nb)


def clean(nb: Any) -> Any:
    """Drop what changes from run to run or bloats the file (see the module docstring); returns ``nb``."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        outputs: list[Any] = []
        for out in cell.outputs:
            if out.output_type == "stream":
                if out.name != "stdout":
                    continue
                if outputs and outputs[-1].output_type == "stream":
                    outputs[-1].text += out.text
                    continue
            elif out.output_type in ("display_data", "execute_result"):
                out.data = {mime: value for mime, value in out.data.items() if mime in KEPT_MIME}
                out.metadata = {}
                out.pop("transient", None)
                if not out.data:
                    continue
            outputs.append(out)
        cell.outputs = outputs
    nb.metadata.pop("widgets", None)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def text_outputs(nb: Any) -> list[list[tuple[str, str]]]:
    """Per code cell, its compared outputs as ``(kind, text)``: standard output and the text data of
    display and result outputs (images and execution counts are not compared)."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        found: list[tuple[str, str]] = []
        for out in cell.outputs:
            if out.output_type == "stream":
                found.append((f"stream {out.name}", _text(out.text)))
            elif out.output_type == "error":
                found.append(("error", f"{out.ename}: {out.evalue}"))
            else:
                found += [(mime, _text(out.data[mime])) for mime in COMPARED_MIME if mime in out.data]
        cells.append(found)
    return cells


def same_text(committed: str, fresh: str, tolerance: float = FLOAT_TOLERANCE) -> bool:
    """Equal texts, except that numbers with a fractional part may differ by ``tolerance``."""
    if committed == fresh:
        return True
    if NUMBER.split(committed) != NUMBER.split(fresh):
        return False
    pairs = zip(NUMBER.findall(committed), NUMBER.findall(fresh), strict=True)
    return all(abs(float(a) - float(b)) <= tolerance for a, b in pairs)


def first_difference(committed: Any, fresh: Any) -> str | None:
    """Where the fresh run's text outputs first differ from the committed ones (``None``: they match)."""
    old, new = text_outputs(committed), text_outputs(fresh)
    if len(old) != len(new):
        return f"{len(old)} code cells committed, {len(new)} executed"
    for number, (old_cell, new_cell) in enumerate(zip(old, new, strict=True), start=1):
        if [kind for kind, _ in old_cell] != [kind for kind, _ in new_cell]:
            return f"code cell {number}: outputs {[k for k, _ in old_cell]} committed, {[k for k, _ in new_cell]} now"
        for (kind, a), (_, b) in zip(old_cell, new_cell, strict=True):
            if not same_text(a, b):
                at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
                return (
                    f"code cell {number}, {kind} differs at character {at}:\n"
                    f"  committed: {a[max(0, at - 60) : at + 100]!r}\n  now:       {b[max(0, at - 60) : at + 100]!r}"
                )
    return None


def unstable_content(nb: Any, extra: Sequence[str] = ()) -> list[str]:
    """Output text that would change from run to run or machine to machine: memory addresses, the temporary
    folder, this clone's absolute path, and any string in ``extra``."""
    needles = [tempfile.gettempdir() + os.sep, str(ROOT), *extra]
    problems = []
    for number, cell in enumerate(text_outputs(nb), start=1):
        for kind, text in cell:
            problems += [f"code cell {number}, {kind}: memory address {m}" for m in ADDRESS.findall(text)]
            problems += [f"code cell {number}, {kind}: contains {n!r}" for n in needles if n and n in text]
    return problems


def refresh(path: Path) -> None:
    """Execute ``path`` and write it back with its new outputs (refused when they are unstable)."""
    import nbformat

    nb = execute(path)
    problems = unstable_content(nb)
    if problems:
        raise ValueError(f"{path.name}: outputs would change from run to run:\n  " + "\n  ".join(problems))
    nbformat.write(nb, path)


def check(path: Path) -> str | None:
    """Execute ``path`` and compare with its committed outputs (:func:`first_difference`); writes nothing."""
    import nbformat

    return first_difference(nbformat.read(path, as_version=4), execute(path))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook paths or names in notebooks/ (default: all)")
    parser.add_argument("--check", action="store_true", help="compare with the committed outputs, write nothing")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks executed at once (default 1)")
    args = parser.parse_args(argv)
    paths = notebook_paths(args.notebooks)
    work = check if args.check else refresh
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(pool.map(lambda p: _attempt(work, p), paths))
    failed = []
    for path, outcome in zip(paths, outcomes, strict=True):
        if outcome is None:
            print(f"{path.name}: {'current' if args.check else 'refreshed'}")
        else:
            failed.append(path)
            print(f"{path.name}: {outcome}", file=sys.stderr)
    if failed and args.check:
        print(f"refresh with: {refresh_command(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _attempt(work: Any, path: Path) -> str | None:
    try:
        return work(path)
    except Exception as exc:  # reported per notebook; the others still run
        return f"{type(exc).__name__}: {exc}"


if __name__ == "__main__":
    sys.exit(main())
