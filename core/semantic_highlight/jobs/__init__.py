"""Batch jobs: highlight a corpus of (query, text[, id]) rows from JSONL or Parquet into output and reject files.

``highlight_rows`` / ``run_local`` run in one process; ``highlight_dataset`` / ``rejected_rows`` / ``run_ray`` run
on Ray Data with an actor pool (the ``[ray]`` extra, imported on first use). The command line is
``semantic-highlight highlight-dataset``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .io import read_rows
from .local import JobSummary, highlight_rows, run_local
from .rows import Columns

if TYPE_CHECKING:
    from .ray_data import highlight_dataset, rejected_rows, run_ray

__all__ = [
    "Columns",
    "JobSummary",
    "highlight_dataset",
    "highlight_rows",
    "read_rows",
    "rejected_rows",
    "run_local",
    "run_ray",
]

_RAY = {"highlight_dataset", "rejected_rows", "run_ray"}


def __getattr__(name: str) -> Any:
    if name in _RAY:
        return getattr(importlib.import_module(".ray_data", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
