"""The batch job on Ray Data: an actor pool where each actor loads the model once and highlights batches of rows.

:func:`highlight_dataset` takes any ``ray.data.Dataset`` of (query, text[, id]) rows and returns one of output
rows (see :mod:`.rows`), so it drops into an existing Ray pipeline; :func:`rejected_rows` returns the rows it
leaves out, with the reason. :func:`run_ray` is ``semantic-highlight highlight-dataset`` (without ``--local``):
read JSONL or Parquet, write highlights and rejects. Inside each actor a batch is one ``highlight_batch`` call,
the engine's token-budget batching, exactly as :func:`~.local.highlight_rows` does in one process.

Arrow columns hold one type, so the ids of one job must all be strings or all integers. Needs the ``[ray]`` extra.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import partial
from typing import Any

try:
    import pyarrow as pa
    import ray
    import ray.data
    from ray.data import Dataset
    from ray.data.datasource import BlockBasedFileDatasink
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        f"semantic_highlight.jobs.ray_data needs the [ray] extra ({exc.name} is missing): "
        'pip install "semantic-highlight[ray]"'
    ) from exc

from .io import input_files, json_line, prepare_output
from .local import DEFAULT_BATCH_SIZE, JobSummary, highlight_valid
from .rows import Columns, ValidRow, check_row, output_schema, parse_json_line, reject_row

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_NUM_CPUS",
    "HighlightActor",
    "JsonLinesDatasink",
    "highlight_dataset",
    "pool_leaves_no_cpu",
    "read_input",
    "rejected_rows",
    "run_ray",
]

_log = logging.getLogger(__name__)

_LINE_COLUMN = "text"
"""The column ``ray.data.read_text`` puts each line in."""

DEFAULT_CONCURRENCY = 1
"""Actors in the pool, each with its own model (the default of :func:`highlight_dataset` and :func:`run_ray`)."""
DEFAULT_NUM_CPUS: float = 1
"""Logical CPUs each actor reserves, a reservation and not threads (the default of both, likewise)."""


class HighlightActor:
    """One actor of the pool: loads the model once, then highlights batches of valid rows (``id``, ``query``,
    ``text``) into output rows."""

    def __init__(
        self,
        model: str | None,
        device: str | None,
        dtype: str | None,
        max_batch_tokens: int | None,
        torch_threads: int | None,
        options: dict[str, Any],
    ) -> None:
        import torch

        from ..highlighter import DEFAULT_MAX_BATCH_TOKENS, SemanticHighlighter

        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
        budget = DEFAULT_MAX_BATCH_TOKENS if max_batch_tokens is None else max_batch_tokens
        self.highlighter = SemanticHighlighter(model=model, device=device, dtype=dtype, max_batch_tokens=budget)
        self.options = options

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = [ValidRow(r["id"], r["query"], r["text"]) for r in batch.to_pylist()]
        out = highlight_valid(self.highlighter, rows, self.options)
        return pa.Table.from_pylist(out, schema=output_schema(batch.schema.field("id").type))


def _checked(batch: pa.Table, columns: Columns, json_lines: bool) -> list[tuple[Any, ValidRow | str]]:
    raw = [parse_json_line(line) for line in batch.column(_LINE_COLUMN).to_pylist()] if json_lines else None
    rows = raw if raw is not None else batch.to_pylist()
    return [(row, check_row(row, columns)) for row in rows]


def _valid_batch(batch: pa.Table, columns: Columns, json_lines: bool) -> pa.Table:
    valid = [c for _, c in _checked(batch, columns, json_lines) if isinstance(c, ValidRow)]
    ids = pa.array([v.id for v in valid])
    schema = pa.schema([("id", ids.type), ("query", pa.string()), ("text", pa.string())])
    return pa.Table.from_pylist([{"id": v.id, "query": v.query, "text": v.text} for v in valid], schema=schema)


def _reject_batch(batch: pa.Table, columns: Columns, json_lines: bool) -> pa.Table:
    rejects = [reject_row(row, c, columns) for row, c in _checked(batch, columns, json_lines) if isinstance(c, str)]
    ids = pa.array([r["id"] for r in rejects])
    schema = pa.schema([("id", ids.type), ("error", pa.string()), ("row", pa.string())])
    return pa.Table.from_pylist(rejects, schema=schema)


def rejected_rows(ds: Dataset, columns: Columns | None = None, *, json_lines: bool = False) -> Dataset:
    """The rows of ``ds`` that :func:`highlight_dataset` leaves out, as ``{"id", "error", "row"}`` (``row``: the
    input row as JSON text). ``json_lines``: ``ds`` holds JSONL lines (``ray.data.read_text``), parsed here."""
    return ds.map_batches(
        partial(_reject_batch, columns=columns or Columns(), json_lines=json_lines), batch_format="pyarrow"
    )


def highlight_dataset(
    ds: Dataset,
    *,
    model: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    columns: Columns | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    concurrency: int | tuple[int, int] = DEFAULT_CONCURRENCY,
    num_gpus: float = 0,
    num_cpus: float = DEFAULT_NUM_CPUS,
    max_batch_tokens: int | None = None,
    torch_threads: int | None = None,
    json_lines: bool = False,
    **options: Any,
) -> Dataset:
    """Output rows (one per valid input row, ids kept) of ``ds``'s (query, text[, id]) rows, lazily.

    Rows that cannot be highlighted are not in the result: :func:`rejected_rows` gives them with the reason.
    ``concurrency`` actors (or ``(min, max)`` for an autoscaling pool) each load the model once and get
    ``batch_size`` rows per call; each reserves ``num_cpus`` and ``num_gpus`` (a fraction shares a GPU;
    ``device=None`` picks the GPU when it has one). ``options`` are ``highlight_batch``'s selection options
    (``threshold``, ``top_k``, ...). ``json_lines``: ``ds`` holds JSONL lines (``ray.data.read_text``).
    """
    columns = columns or Columns()
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    valid = ds.map_batches(partial(_valid_batch, columns=columns, json_lines=json_lines), batch_format="pyarrow")
    return valid.map_batches(
        HighlightActor,
        fn_constructor_kwargs={
            "model": model,
            "device": device,
            "dtype": dtype,
            "max_batch_tokens": max_batch_tokens,
            "torch_threads": torch_threads,
            "options": options,
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        concurrency=concurrency,
        num_cpus=num_cpus,
        num_gpus=num_gpus or None,
    )


def read_input(paths: Sequence[str], input_format: str | None = None) -> tuple[Dataset, bool]:
    """(dataset, json_lines) for local JSONL or Parquet files and folders: JSONL is read as lines (parsed and
    checked row by row later, so one malformed line is a reject, not a failed read), Parquet as tables."""
    fmt, files = input_files(paths, input_format)
    names = [str(f) for f in files]
    if fmt == "jsonl":
        return ray.data.read_text(names), True
    return ray.data.read_parquet(names), False


class JsonLinesDatasink(BlockBasedFileDatasink):
    """Writes each row as one ``json.dumps`` line (floats exact, keys in column order), one file per write task."""

    def __init__(self, path: str) -> None:
        super().__init__(path, file_format="jsonl")

    def write_block_to_file(self, block: Any, file: Any) -> None:
        for row in block.to_arrow().to_pylist():
            file.write((json_line(row) + "\n").encode("utf-8"))


def pool_leaves_no_cpu(concurrency: int | tuple[int, int], num_cpus: float, cluster_cpus: float) -> str | None:
    """Why an actor pool of ``concurrency`` actors reserving ``num_cpus`` each would stall on a cluster of
    ``cluster_cpus`` CPUs (the read and write tasks need one CPU the actors do not hold), else ``None``.

    Ray counts reserved CPUs, not threads: give an actor more torch threads with ``torch_threads``, not more CPUs."""
    actors = concurrency[1] if isinstance(concurrency, tuple) else concurrency
    reserved = actors * num_cpus
    if num_cpus > 0 and cluster_cpus - reserved < 1:
        return (
            f"{actors} actor(s) x {num_cpus:g} CPUs reserve {reserved:g} of the cluster's {cluster_cpus:g} CPUs and "
            "leave none for the read and write tasks, so the job would wait forever; lower --num-cpus-per-worker "
            "or --concurrency (set an actor's threads with --torch-threads instead)"
        )
    return None


def run_ray(
    input_paths: Sequence[str],
    output_dir: str,
    *,
    output_format: str = "jsonl",
    input_format: str | None = None,
    ray_address: str | None = None,
    columns: Columns | None = None,
    concurrency: int | tuple[int, int] = DEFAULT_CONCURRENCY,
    num_cpus: float = DEFAULT_NUM_CPUS,
    **kwargs: Any,
) -> JobSummary:
    """Highlight the rows of JSONL or Parquet files into ``output_dir``/highlights and ``output_dir``/rejects on
    Ray (``ray_address``: an existing cluster, ``"auto"`` to find one; ``None``: a running one or a new local one).

    ``columns``, ``concurrency`` and ``num_cpus`` are :func:`highlight_dataset`'s; named here because this function
    uses them too (the rejects are found with ``columns``; a pool of ``concurrency`` actors reserving ``num_cpus``
    each that would leave no CPU for the read and write tasks is refused on a local instance started here, and
    warned about on a cluster). ``kwargs`` are :func:`highlight_dataset`'s other arguments (``model``, ``device``,
    ``dtype``, ``batch_size``, ``num_gpus``, ``max_batch_tokens``, ``torch_threads``, selection options)."""
    if output_format not in ("jsonl", "parquet"):
        raise ValueError(f"output format must be jsonl or parquet, got {output_format!r}")
    input_files(input_paths, input_format)  # missing files and unknown formats fail before anything is written
    started = not ray.is_initialized()
    if started:
        ray.init(address=ray_address, log_to_driver=False)
    problem = pool_leaves_no_cpu(concurrency, num_cpus, ray.cluster_resources().get("CPU", 0.0))
    if problem and started and ray_address is None:  # a local instance we started: its CPUs are all there is
        raise ValueError(problem)
    if problem:  # a cluster may still add nodes
        _log.warning("%s (unless the cluster adds nodes)", problem)
    out, rejects_dir = prepare_output(output_dir)
    ds, json_lines = read_input(input_paths, input_format)
    rejected_rows(ds, columns, json_lines=json_lines).write_datasink(JsonLinesDatasink(str(rejects_dir)))
    highlighted = highlight_dataset(
        ds, columns=columns, concurrency=concurrency, num_cpus=num_cpus, json_lines=json_lines, **kwargs
    )
    if output_format == "parquet":
        highlighted.write_parquet(str(out))
    else:
        highlighted.write_datasink(JsonLinesDatasink(str(out)))
    return JobSummary(ds.count(), _count_rows(out), _count_rows(rejects_dir), str(out), str(rejects_dir))


def _count_rows(folder: Any) -> int:
    """Rows written to ``folder``: Parquet from file metadata, JSONL by lines."""
    total = 0
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            total += pq.ParquetFile(path).metadata.num_rows
        elif name.endswith(".jsonl"):
            with open(path, "rb") as f:
                total += sum(1 for line in f if line.strip())
    return total
