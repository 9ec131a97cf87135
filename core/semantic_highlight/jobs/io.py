"""Files of the batch job: input discovery and reading (JSONL, Parquet), the output folders, and writing rows.

Both runners write the same layout: ``OUTPUT/highlights/`` (JSONL or Parquet files of output rows) and
``OUTPUT/rejects/`` (JSONL files of reject rows). JSONL lines are ``json.dumps`` of the row (floats written
exactly, so a row read back is the row written); :func:`read_rows` reads a folder of either kind back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .rows import output_schema, parse_json_line

__all__ = [
    "INPUT_FORMATS",
    "JSONL_SUFFIXES",
    "OUTPUT_FORMATS",
    "input_files",
    "iter_input_rows",
    "iter_jsonl",
    "json_line",
    "prepare_output",
    "read_rows",
    "write_rows",
]

INPUT_FORMATS = ("jsonl", "parquet")
OUTPUT_FORMATS = ("jsonl", "parquet")
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
_CHUNK = 1024


def input_files(paths: Sequence[str], input_format: str | None = None) -> tuple[str, list[Path]]:
    """(format, files) for files and folders of JSONL or Parquet; the format comes from the suffixes when not given."""
    if isinstance(paths, str):
        paths = [paths]
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and _format_of(p) is not None)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {raw}")
    if not files:
        raise ValueError(f"no .jsonl or .parquet files in {', '.join(map(str, paths))}")
    if input_format is None:
        found = {_format_of(p) for p in files}
        if None in found or len(found) != 1:
            raise ValueError("cannot tell the input format from the file names; pass --input-format jsonl|parquet")
        input_format = found.pop()
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"input format must be jsonl or parquet, got {input_format!r}")
    return str(input_format), files


def iter_jsonl(path: str | Path) -> Iterator[Any]:
    """The value of each line of one JSONL file, in order, or a :class:`~.rows.BadLine` with the reason for a line
    that is not JSON (NaN and Infinity included). Blank lines are skipped (as Ray Data's ``read_text`` does).
    The one JSONL reader of the package: the batch job and the annotator read their inputs with it."""
    with open(path, encoding="utf-8", newline="\n") as f:
        for line in f:
            line = line.rstrip("\n").rstrip("\r")
            if line.strip():
                yield parse_json_line(line)


def iter_input_rows(paths: Sequence[str], input_format: str | None = None) -> Iterator[Any]:
    """Every input row in file order: dicts, or :class:`~.rows.BadLine` for JSONL lines that are not JSON."""
    fmt, files = input_files(paths, input_format)
    for path in files:
        if fmt == "jsonl":
            yield from iter_jsonl(path)
        else:
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=_CHUNK):
                yield from batch.to_pylist()


def prepare_output(output_dir: str | Path) -> tuple[Path, Path]:
    """``output_dir``/highlights and ``output_dir``/rejects, created empty (``FileExistsError`` if one holds files)."""
    root = Path(output_dir)
    folders = (root / "highlights", root / "rejects")
    for folder in folders:
        if folder.exists() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty; choose a new output folder")
        folder.mkdir(parents=True, exist_ok=True)
    return folders


def json_line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, allow_nan=False)


def write_rows(rows: Iterator[dict[str, Any]], folder: Path, fmt: str, name: str = "part-00000") -> int:
    """Write ``rows`` to ``folder``/``name``.jsonl or .parquet (output rows); returns how many were written."""
    if fmt == "jsonl":
        count = 0
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json_line(row) + "\n")
                count += 1
        return count
    if fmt != "parquet":
        raise ValueError(f"output format must be jsonl or parquet, got {fmt!r}")
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer: pq.ParquetWriter | None = None
    count = 0
    try:
        for chunk in _chunks(rows, _CHUNK):
            ids = pa.array([r["id"] for r in chunk])
            if writer is None:
                writer = pq.ParquetWriter(folder / f"{name}.parquet", output_schema(ids.type))
            writer.write_table(pa.Table.from_pylist(chunk, schema=writer.schema))
            count += len(chunk)
        if writer is None:  # no rows: an empty file with the schema
            pq.write_table(output_schema().empty_table(), folder / f"{name}.parquet")
    finally:
        if writer is not None:
            writer.close()
    return count


def read_rows(folder: str | Path) -> list[dict[str, Any]]:
    """Every row of the JSONL and Parquet files in ``folder`` (file name order)."""
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(folder).iterdir()):
        if path.suffix in JSONL_SUFFIXES:
            with open(path, encoding="utf-8") as f:
                rows += [json.loads(line) for line in f if line.strip()]
        elif path.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows += pq.read_table(path).to_pylist()
    return rows


def _format_of(path: Path) -> str | None:
    if path.suffix.lower() in JSONL_SUFFIXES:
        return "jsonl"
    if path.suffix.lower() == ".parquet":
        return "parquet"
    return None


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
