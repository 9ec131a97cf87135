"""Input and output rows of the batch job: which rows are valid, and the shape of what is written.

An input row holds a query, a text and (optionally) an id, in columns named by :class:`Columns`. A row is valid
when its query is a non-blank string, its text a string and its id (when the column is there) a string or an
integer; anything else becomes a reject row ``{"id", "error", "row"}`` with the reason, written apart
and never scored. An output row is ``{"id": ..., **HighlightResult.to_dict()}``: query, text, document score,
ranking score, thresholds, model, pruned text, every sentence (offsets, score, selected) and the highlights
(start, end, text, score), so ``HighlightResult.from_dict(row)`` reads it back. :func:`compare_rows` says whether
two runs (Ray Data and ``--local``, say) wrote the same output rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..results import HighlightResult

__all__ = [
    "ROW_ATOL",
    "BadLine",
    "Columns",
    "RowDiff",
    "ValidRow",
    "check_row",
    "compare_rows",
    "nested_float_diff",
    "output_row",
    "output_schema",
    "parse_json_line",
    "reject_row",
]


@dataclass(frozen=True)
class Columns:
    """Names of the input columns; ``id=None``: the rows have no id (outputs carry ``None``)."""

    query: str = "query"
    text: str = "text"
    id: str | None = "id"

    def __post_init__(self) -> None:
        for name in ("query", "text", "id"):
            value = getattr(self, name)
            if value is None and name == "id":
                continue
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} column must be a non-empty string, got {value!r}")


@dataclass(frozen=True)
class ValidRow:
    """A row that passed :func:`check_row`: what is scored, and the id it is written back with."""

    id: str | int | None
    query: str
    text: str


@dataclass(frozen=True)
class BadLine:
    """A JSONL line that is not JSON: rejected with the parser's reason."""

    error: str
    text: str


def check_row(row: Any, columns: Columns) -> ValidRow | str:
    """The row's (id, query, text), or the reason it cannot be highlighted."""
    if isinstance(row, BadLine):
        return row.error
    if not isinstance(row, Mapping):
        return f"a row must be a JSON object, got {_kind(row)}"
    row_id: Any = None
    if columns.id is not None and columns.id in row:
        row_id = row[columns.id]
        if row_id is not None and (isinstance(row_id, bool) or not isinstance(row_id, (str, int))):
            return f"column {columns.id!r} must be a string or an integer, got {_kind(row_id)}"
    for name, column in (("query", columns.query), ("text", columns.text)):
        if column not in row:
            return f"missing {name} column {column!r}"
        if row[column] is None:
            return f"{name} column {column!r} is null"
        if not isinstance(row[column], str):
            return f"column {column!r} must be a string, got {_kind(row[column])}"
    query, text = row[columns.query], row[columns.text]
    if not query.strip():
        return f"column {columns.query!r} is blank"
    return ValidRow(row_id, query, text)


def parse_json_line(line: str) -> Any:
    """One JSONL line as a value, or a :class:`BadLine` with the parser's reason (NaN and Infinity are refused)."""
    try:
        return json.loads(line, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        return BadLine(f"invalid JSON: {exc.msg} at column {exc.colno}", line)
    except ValueError as exc:
        return BadLine(str(exc), line)


def output_row(row_id: str | int | None, result: HighlightResult) -> dict[str, Any]:
    """What is written for one highlighted row."""
    return {"id": row_id, **result.to_dict()}


def reject_row(row: Any, error: str, columns: Columns) -> dict[str, Any]:
    """What is written for a row that was not highlighted: its id when it has a usable one, why, and the row itself
    as JSON text (a line that is not JSON: the line as it was)."""
    if isinstance(row, BadLine):
        return {"id": None, "error": error, "row": row.text}
    row_id = None
    if isinstance(row, Mapping) and columns.id is not None:
        candidate = row.get(columns.id)
        if isinstance(candidate, (str, int)) and not isinstance(candidate, bool):
            row_id = candidate
    return {"id": row_id, "error": error, "row": _as_json(row)}


ROW_ATOL = 1e-5
"""How far a float of two output rows may differ when the rows count as the same: the runners cut rows into
different model batches, whose float32 rounding moves a score by about 1e-7."""


class RowDiff(NamedTuple):
    """What :func:`compare_rows` found."""

    differing: int
    """Rows that differ beyond the tolerance, or whose id has no partner in the other run."""
    max_diff: float
    """The largest float difference between paired rows that are otherwise equal (0.0 when there are none)."""
    first: Any
    """The id of the first differing row (in id order), ``None`` when none differ."""


def compare_rows(a: Iterable[Mapping[str, Any]], b: Iterable[Mapping[str, Any]], atol: float = ROW_ATOL) -> RowDiff:
    """Compare two runs' output rows, paired by id (in order among rows with the same id, so rows need ids for
    this to mean anything): a pair is the same when every field is equal except floats, which may differ by at
    most ``atol``. Row order does not matter (Ray Data writes rows in no set order)."""
    left, right = _by_id(a), _by_id(b)
    differing, worst, first = 0, 0.0, None
    for key in sorted(left.keys() | right.keys()):
        xs, ys = left.get(key, []), right.get(key, [])
        unpaired: list[float | None] = [None] * abs(len(xs) - len(ys))
        for diff in [nested_float_diff(x, y) for x, y in zip(xs, ys, strict=False)] + unpaired:
            if diff is not None:
                worst = max(worst, diff)
            if diff is None or not diff <= atol:
                differing += 1
                first = (xs or ys)[0]["id"] if first is None else first
    return RowDiff(differing, worst, first)


def _by_id(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row["id"]), []).append(row)
    return grouped


def nested_float_diff(x: Any, y: Any) -> float | None:
    """The largest difference between paired floats of two nested values, ``None`` when anything else differs
    (``inf`` for a NaN, which equals nothing)."""
    if isinstance(x, float) and isinstance(y, float):
        if x == y:
            return 0.0
        diff = abs(x - y)
        return diff if diff == diff else math.inf
    if isinstance(x, Mapping) and isinstance(y, Mapping):
        if x.keys() != y.keys():
            return None
        parts = [nested_float_diff(x[k], y[k]) for k in x]
    elif isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        if len(x) != len(y):
            return None
        parts = [nested_float_diff(s, t) for s, t in zip(x, y, strict=True)]
    else:
        return 0.0 if x == y else None
    if any(p is None for p in parts):
        return None
    return max((p for p in parts if p is not None), default=0.0)


def output_schema(id_type: Any = None) -> Any:
    """The Arrow schema of output rows (``id_type``: the id column's, inferred from the ids when ``None``)."""
    import pyarrow as pa

    sentence = pa.struct(
        [
            ("index", pa.int64()),
            ("text", pa.string()),
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("score", pa.float64()),
            ("selected", pa.bool_()),
        ]
    )
    span = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("text", pa.string()), ("score", pa.float64())])
    return pa.schema(
        [
            ("id", id_type or pa.null()),
            ("query", pa.string()),
            ("text", pa.string()),
            ("score", pa.float64()),
            ("ranking_score", pa.float64()),
            ("threshold", pa.float64()),
            ("fallback_threshold", pa.float64()),
            ("relative_threshold", pa.float64()),
            ("model", pa.string()),
            ("pruned_text", pa.string()),
            ("sentences", pa.list_(sentence)),
            ("highlights", pa.list_(span)),
        ]
    )


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON: {name} is not a JSON number")


def _as_json(value: Any) -> str:
    """The row as JSON text (non-finite floats and odd types written so that they still show)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, default=repr)
    except ValueError:
        return json.dumps(_finite(value), ensure_ascii=False, default=repr)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
