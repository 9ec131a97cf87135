"""The batch job (tiny fixture model): ``--local`` and Ray Data (an actor pool on a local Ray instance) write the
same rows for a few thousand inputs, ids kept; bad rows go to the rejects file with their reason; the Python APIs
(``highlight_rows`` on an iterable, ``highlight_dataset`` on a ``ray.data.Dataset``) give the engine's results."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, assert_close, require_shared
from conftest import WORKLOAD_QUERIES as QUERIES
from conftest import WORKLOAD_SENTENCES as SENTENCES
from ray_support import ray_local  # noqa: F401  # the session fixture (starts Ray only when a test asks for it)
from semantic_highlight import HighlightResult
from semantic_highlight.jobs import Columns, highlight_rows, read_rows, run_local
from semantic_highlight.jobs.cli import main as job_main
from semantic_highlight.jobs.rows import compare_rows

TINY = FIXTURES / "op-tiny-xlmr"
BAD_ROWS: list[tuple[Any, str]] = [
    ({"id": "bad-null-text", "query": "q?", "text": None}, "text column 'text' is null"),
    ({"id": "bad-no-query", "text": "Some text."}, "missing query column 'query'"),
    ({"id": "bad-int-text", "query": "q?", "text": 17}, "column 'text' must be a string, got int"),
    ({"id": "bad-list-query", "query": ["q"], "text": "x"}, "column 'query' must be a string, got list"),
    ({"id": "bad-blank-query", "query": "  ", "text": "x"}, "column 'query' is blank"),
    ({"id": ["not", "an", "id"], "query": "q?", "text": "x"}, "column 'id' must be a string or an integer, got list"),
]


def good_rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"row-{i:05d}",
            "query": QUERIES[i % len(QUERIES)],
            "text": "".join(SENTENCES[(i * 3 + k) % len(SENTENCES)] for k in range(1 + i % 4)),
            "extra": i,  # other columns are ignored
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, rows: list[Any], extra_lines: tuple[str, ...] = ()) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        for line in extra_lines:
            f.write(line + "\n")
    return path


def by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: str(r["id"]))


def test_local_rows_are_the_engines_results_and_bad_rows_are_rejected(xlmr: Any) -> None:
    rows = good_rows(40)
    mixed = rows[:20] + [bad for bad, _ in BAD_ROWS] + rows[20:] + ["not a row"]
    rejects: list[dict[str, Any]] = []
    out = list(highlight_rows(mixed, xlmr, batch_size=7, on_reject=rejects.append, top_k=1))
    assert [r["id"] for r in out] == [r["id"] for r in rows]  # input order, ids kept
    for row, got in zip(rows, out, strict=True):
        want = xlmr.highlight(row["query"], row["text"], top_k=1)
        assert_close({k: v for k, v in got.items() if k != "id"}, want.to_dict())
        assert_close(HighlightResult.from_dict(got).to_dict(), want.to_dict())  # rows read back as results
        assert len(got["highlights"]) <= 1
    assert [r["error"] for r in rejects] == [reason for _, reason in BAD_ROWS] + [
        "a row must be a JSON object, got str"
    ]
    assert rejects[0] == {
        "id": "bad-null-text",
        "error": "text column 'text' is null",
        "row": '{"id": "bad-null-text", "query": "q?", "text": null}',
    }
    assert rejects[5]["id"] is None  # an unusable id is not copied
    with pytest.raises(ValueError, match="row 2: missing query column"):
        list(highlight_rows([rows[0], rows[1], {"text": "x"}], xlmr))  # no on_reject: never dropped silently


def test_local_job_writes_highlights_and_rejects(tmp_path: Path, xlmr: Any) -> None:
    rows = good_rows(30)
    source = write_jsonl(tmp_path / "in.jsonl", [*rows, BAD_ROWS[0][0]], ("{broken", "", "NaN"))
    summary = run_local([str(source)], str(tmp_path / "out"), highlighter=xlmr, batch_size=8)
    assert (summary.rows, summary.highlighted, summary.rejected) == (33, 30, 3)
    written = read_rows(tmp_path / "out" / "highlights")
    assert [r["id"] for r in written] == [r["id"] for r in rows]
    errors = [r["error"] for r in read_rows(tmp_path / "out" / "rejects")]
    assert errors[0] == "text column 'text' is null"
    assert errors[1].startswith("invalid JSON: ") and errors[2] == "invalid JSON: NaN is not a JSON number"
    with pytest.raises(FileExistsError, match="not empty"):
        run_local([str(source)], str(tmp_path / "out"), highlighter=xlmr)  # never overwrites a job's output


def test_columns_are_configurable(xlmr: Any) -> None:
    rows = [{"q": "What do cats eat?", "passage": SENTENCES[3] + SENTENCES[0]}]
    (out,) = highlight_rows(rows, xlmr, columns=Columns(query="q", text="passage", id=None))
    assert out["id"] is None and out["query"] == "What do cats eat?"
    with pytest.raises(ValueError, match="query column"):
        Columns(query="")


def test_compare_rows_pairs_by_id_and_allows_float_noise_only(xlmr: Any) -> None:
    """The rule the Ray tests and benchmarks/ray_bench.py judge two runs' rows by."""
    rows = list(highlight_rows(good_rows(3), xlmr))
    assert compare_rows(rows[::-1], rows) == (0, 0.0, None)  # order does not matter

    def changed(i: int, edit: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
        copy = json.loads(json.dumps(rows))
        edit(copy[i])
        return copy

    noisy = changed(1, lambda r: r["sentences"][0].update(score=r["sentences"][0]["score"] + 3e-7))
    diff = compare_rows(noisy, rows)
    assert diff.differing == 0 and 2e-7 < diff.max_diff < 4e-7
    assert compare_rows(noisy, rows, atol=1e-7)[:2] == (1, diff.max_diff)
    flipped = changed(2, lambda r: r["sentences"][0].update(selected=not r["sentences"][0]["selected"]))
    assert compare_rows(flipped, rows) == (1, 0.0, rows[2]["id"])
    assert compare_rows(changed(0, lambda r: r.update(score=float("nan"))), rows)[:2] == (1, float("inf"))
    assert compare_rows(rows[:2], rows) == (1, 0.0, rows[2]["id"])  # a row one run lacks


# --- Ray Data (skipped without the [ray] extra; CI installs it) ---------------------------------------------

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the [ray] extra")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """3000 good rows and the bad ones, in two JSONL files of one folder (bad rows and bad lines in between)."""
    folder = tmp_path_factory.mktemp("corpus")
    rows = good_rows(3000)
    bad = [row for row, _ in BAD_ROWS]
    write_jsonl(folder / "a.jsonl", rows[:1500] + bad[:3], ("{broken",))
    write_jsonl(folder / "b.jsonl", bad[3:] + rows[1500:], ("[1, 2]",))
    return folder, rows


@needs_ray
def test_ray_job_equals_local_row_for_row(
    ray_local: Any,  # noqa: F811
    corpus: tuple[Path, list[dict[str, Any]]],
    tmp_path: Path,
    xlmr: Any,
) -> None:
    require_shared(TINY)
    folder, rows = corpus
    local = run_local([str(folder)], str(tmp_path / "local"), highlighter=xlmr, batch_size=128)
    from semantic_highlight.jobs import run_ray

    remote = run_ray(
        [str(folder)],
        str(tmp_path / "ray"),
        model=str(TINY),
        device="cpu",
        dtype="float32",
        batch_size=128,
        concurrency=2,
        num_cpus=0.5,
        torch_threads=1,
    )
    assert (local.rows, local.highlighted, local.rejected) == (3008, 3000, 8)
    assert (remote.rows, remote.highlighted, remote.rejected) == (3008, 3000, 8)
    ray_rows = by_id(read_rows(remote.output))
    assert [r["id"] for r in ray_rows] == sorted(r["id"] for r in rows)
    # Identical rows; scores to 1e-5, since the two runners cut the rows into different model batches
    diff = compare_rows(ray_rows, read_rows(local.output))
    assert diff.differing == 0, diff

    def key(r: dict[str, Any]) -> tuple[str, str, str]:
        return (str(r["id"]), r["error"], r["row"])

    assert sorted(read_rows(remote.rejects), key=key) == sorted(read_rows(local.rejects), key=key)


@needs_ray
def test_ray_cli_parquet_in_and_out(ray_local: Any, tmp_path: Path, xlmr: Any) -> None:  # noqa: F811
    """``highlight-dataset`` with Parquet in and out, other column names and integer ids; equals ``--local``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    require_shared(TINY)
    rows = [{"key": i, "question": r["query"], "body": r["text"]} for i, r in enumerate(good_rows(120))]
    rows.append({"key": 999, "question": "Who?", "body": None})
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    common = ["--input", str(tmp_path / "in.parquet"), "--format", "parquet", "--model", str(TINY)]
    common += ["--device", "cpu", "--dtype", "float32", "--query-column", "question", "--text-column", "body"]
    common += ["--id-column", "key", "--batch-size", "32"]
    assert job_main([*common, "--output", str(tmp_path / "ray"), "--concurrency", "1", "--torch-threads", "1"]) == 0
    assert job_main([*common, "--output", str(tmp_path / "local"), "--local"]) == 0
    ray_rows = by_id(read_rows(tmp_path / "ray" / "highlights"))
    assert [r["id"] for r in ray_rows] == sorted(range(120), key=str)
    diff = compare_rows(ray_rows, read_rows(tmp_path / "local" / "highlights"))
    assert diff.differing == 0, diff
    (reject,) = read_rows(tmp_path / "ray" / "rejects")
    assert (reject["id"], reject["error"]) == (999, "text column 'body' is null")


@needs_ray
def test_highlight_dataset_in_a_ray_pipeline(ray_local: Any, xlmr: Any) -> None:  # noqa: F811
    """The Python API takes and returns a ``ray.data.Dataset``; rejected rows come from ``rejected_rows``."""
    import ray.data
    from semantic_highlight.jobs import highlight_dataset, rejected_rows

    require_shared(TINY)
    rows = [{k: v for k, v in r.items() if k != "extra"} for r in good_rows(24)]
    ds = ray.data.from_items([*rows, {"id": "bad", "query": "q?", "text": None}])
    out = highlight_dataset(ds, model=str(TINY), device="cpu", dtype="float32", batch_size=10, num_cpus=0.5)
    diff = compare_rows(out.take_all(), highlight_rows(rows, xlmr))
    assert diff.differing == 0, diff
    assert [(r["id"], r["error"]) for r in rejected_rows(ds).take_all()] == [("bad", "text column 'text' is null")]


def test_cli_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert job_main(["--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o"), "--local"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "x.txt").write_text("hello")
    assert job_main(["--input", str(tmp_path / "x.txt"), "--output", str(tmp_path / "o"), "--local"]) == 2
    assert "--input-format" in capsys.readouterr().err


def test_an_actor_pool_that_takes_every_cpu_is_refused() -> None:
    pytest.importorskip("ray")
    from semantic_highlight.jobs.ray_data import pool_leaves_no_cpu

    # one actor reserving both CPUs of a 2-CPU instance starves the read task: Ray Data would wait forever
    problem = pool_leaves_no_cpu(1, 2, 2.0)
    assert problem is not None and "--torch-threads" in problem and "2 of the cluster's 2 CPUs" in problem
    assert pool_leaves_no_cpu((1, 4), 0.5, 2.0) is not None  # an autoscaling pool counts at its largest
    assert pool_leaves_no_cpu(1, 1, 2.0) is None
    assert pool_leaves_no_cpu(4, 0, 2.0) is None  # GPU actors that reserve no CPU
