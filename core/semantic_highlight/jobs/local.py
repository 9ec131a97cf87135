"""The batch job in one process, without Ray: read rows, highlight them in batches, write outputs and rejects.

:func:`highlight_rows` is the Python API for any iterable of rows; :func:`run_local` is ``semantic-highlight
highlight-dataset --local``. Every batch of valid rows is one ``highlight_batch`` call (the engine plans all their
windows together under its token budget), the same call each Ray Data actor makes on its batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..highlighter import SemanticHighlighter
from .io import INPUT_FORMATS, OUTPUT_FORMATS, input_files, iter_input_rows, prepare_output, write_rows
from .rows import Columns, ValidRow, check_row, output_row, reject_row

__all__ = ["DEFAULT_BATCH_SIZE", "JobSummary", "highlight_rows", "highlight_valid", "run_local"]

DEFAULT_BATCH_SIZE = 256
"""Rows per ``highlight_batch`` call (locally) and per actor call (Ray): enough windows to fill the token budget."""


@dataclass(frozen=True)
class JobSummary:
    """What a job did: rows read, rows highlighted, rows rejected, and where it wrote them."""

    rows: int
    highlighted: int
    rejected: int
    output: str
    rejects: str


def highlight_valid(h: Any, rows: Sequence[ValidRow], options: dict[str, Any]) -> list[dict[str, Any]]:
    """One output row per valid row, from one ``highlight_batch`` call (the batch path shared with the Ray actors)."""
    if not rows:
        return []
    results = h.highlight_batch([(r.query, [r.text]) for r in rows], **options)
    return [output_row(r.id, rs[0]) for r, rs in zip(rows, results, strict=True)]


def highlight_rows(
    rows: Iterable[Any],
    highlighter: SemanticHighlighter,
    *,
    columns: Columns | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_reject: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> Iterator[dict[str, Any]]:
    """Output rows for ``rows`` (mappings with the query, text and id columns), in input order.

    A row that cannot be highlighted (missing or non-string query or text, blank query, an id that is neither a
    string nor an integer) is passed to ``on_reject`` as ``{"id", "error", "row"}``; without ``on_reject`` it
    raises ``ValueError`` naming the reason. ``options`` are ``highlight_batch``'s selection options
    (``threshold``, ``top_k``, ...).
    """
    columns = columns or Columns()
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    pending: list[ValidRow] = []
    for n, row in enumerate(rows):
        checked = check_row(row, columns)
        if isinstance(checked, str):
            if on_reject is None:
                raise ValueError(f"row {n}: {checked}")
            on_reject(reject_row(row, checked, columns))
            continue
        pending.append(checked)
        if len(pending) == batch_size:
            yield from highlight_valid(highlighter, pending, options)
            pending = []
    yield from highlight_valid(highlighter, pending, options)


def run_local(
    input_paths: Sequence[str],
    output_dir: str,
    *,
    output_format: str = "jsonl",
    input_format: str | None = None,
    columns: Columns | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    highlighter: SemanticHighlighter | None = None,
    model: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    **options: Any,
) -> JobSummary:
    """Highlight the rows of JSONL or Parquet files into ``output_dir``/highlights and ``output_dir``/rejects."""
    if input_format is not None and input_format not in INPUT_FORMATS:
        raise ValueError(f"input format must be one of {', '.join(INPUT_FORMATS)}, got {input_format!r}")
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}, got {output_format!r}")
    input_files(input_paths, input_format)  # missing files and unknown formats fail before anything is written
    out, rejects_dir = prepare_output(output_dir)
    h = highlighter or SemanticHighlighter(model=model, device=device, dtype=dtype)
    rejects: list[dict[str, Any]] = []
    counter = _Counter(iter_input_rows(input_paths, input_format))
    highlighted = write_rows(
        highlight_rows(counter, h, columns=columns, batch_size=batch_size, on_reject=rejects.append, **options),
        out,
        output_format,
    )
    write_rows(iter(rejects), rejects_dir, "jsonl")
    return JobSummary(counter.count, highlighted, len(rejects), str(out), str(rejects_dir))


class _Counter:
    """Counts the rows an iterator yields."""

    def __init__(self, rows: Iterable[Any]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[Any]:
        for row in self.rows:
            self.count += 1
            yield row
