"""Benchmark the Ray paths against their one-process twins: Ray Data vs ``--local``, Ray Serve vs ``serve``.

1. The batch job on ``--rows`` (query, passage) rows of workload-(a) size (one ~300-token chunk per row, the chunks
   and queries of ``serve_bench.build_requests``): ``run_local`` against ``run_ray`` (``--actors`` actors on the
   local Ray instance, started before timing), both end to end (model load, read, highlight, write), and whether
   their rows agree.
2. The server at ``--clients`` concurrent clients sending ``--requests`` workload-(a) requests (1 query x 10
   chunks): ``semantic-highlight serve`` (a subprocess) against the Ray Serve app (``--replicas`` replicas),
   throughput and p50/p99 latency; the ratios are Ray over the plain path.

Prints a Markdown table; ``--out`` also writes JSON. On a shared or small machine read the ratios, not the times.

    python benchmarks/ray_bench.py                         # default model, CPU: 10000 rows, 320 requests
    python benchmarks/ray_bench.py --rows 1000 --requests 64 --model ../shared/fixtures/op-tiny-xlmr
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _serve_bench() -> Any:
    """benchmarks/serve_bench.py (workload, server start/stop, load generation), loaded as a module."""
    spec = importlib.util.spec_from_file_location("serve_bench", ROOT / "benchmarks" / "serve_bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sb = _serve_bench()


@dataclass
class Row:
    """One measured path."""

    part: str
    path: str
    work: str
    wall_s: float
    per_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def _log(message: str) -> None:
    sb._log(message)


def job_rows(h: Any, lang: str, count: int) -> list[dict[str, Any]]:
    """``count`` rows ``{"id", "query", "text"}``: the requests of ``serve_bench.build_requests``, one chunk a row."""
    pairs = sb.build_requests(h, lang, -(-count // 10))
    rows = [{"query": q, "text": doc} for q, docs in pairs for doc in docs][:count]
    return [{"id": f"r{i:06d}", **row} for i, row in enumerate(rows)]


def bench_job(args: argparse.Namespace, h: Any, model: str | None, report: Report, work: Path) -> None:
    from semantic_highlight.jobs import read_rows, run_local, run_ray
    from semantic_highlight.jobs.rows import ROW_ATOL, compare_rows

    rows = job_rows(h, args.lang, args.rows)
    source = work / "rows.jsonl"
    with open(source, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tokens = sum(len(w) for w in h.plan([(r["query"], [r["text"]]) for r in rows[:200]])) / min(200, len(rows))
    report.meta["tokens_per_row"] = tokens
    common = {"model": model, "device": args.device, "batch_size": args.batch_size}

    t = time.perf_counter()
    local = run_local([str(source)], str(work / "local"), **common)
    local_s = time.perf_counter() - t
    _log(f"--local: {local.highlighted} rows in {local_s:.1f} s")
    t = time.perf_counter()
    remote = run_ray(
        [str(source)],
        str(work / "ray"),
        concurrency=args.actors,
        num_cpus=args.cpus_per_worker,
        torch_threads=args.torch_threads,
        **common,
    )
    ray_s = time.perf_counter() - t
    _log(f"Ray Data: {remote.highlighted} rows in {ray_s:.1f} s")
    atol = ROW_ATOL if args.atol is None else args.atol
    mismatches, worst, _ = compare_rows(read_rows(remote.output), read_rows(local.output), atol)
    work_label = f"{len(rows)} rows (~{tokens:.0f} tokens)"
    report.rows.append(Row("batch job", "--local (one process)", work_label, local_s, len(rows) / local_s))
    report.rows.append(
        Row(
            "batch job",
            f"Ray Data ({args.actors} actor{'s' if args.actors > 1 else ''})",
            work_label,
            ray_s,
            len(rows) / ray_s,
            errors=mismatches,
            note=f"rows differing from --local: {mismatches} (floats within {atol:g}); max score diff {worst:.1e}",
        )
    )
    report.ratios["ray_data_over_local_time"] = ray_s / local_s


def _load(url: str, pairs: Sequence[Any], clients: int) -> tuple[float, list[float], int]:
    asyncio.run(sb.run_load(url, pairs[:2], 2))  # warm connections and the model
    wall, latencies, out = asyncio.run(sb.run_load(url, pairs, clients))
    return wall, latencies, int(out["errors"])


def bench_serve(args: argparse.Namespace, h: Any, report: Report) -> None:
    from ray import serve
    from semantic_highlight.serve.ray import build_app

    pairs = sb.build_requests(h, args.lang, args.requests)
    work = f"{len(pairs)} requests x 10 chunks, {args.clients} clients"
    results: dict[str, tuple[float, list[float], int]] = {}

    port = sb.free_port()
    proc = sb.start_server(args.model, port, True, args.device, 3600)
    try:
        sb.wait_ready(f"http://127.0.0.1:{port}", proc, 600)
        results["serve"] = _load(f"http://127.0.0.1:{port}", pairs, args.clients)
    finally:
        sb.stop(proc)
    _log("semantic-highlight serve measured")

    port = sb.free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    app_args: dict[str, Any] = {"model": args.model, "device": args.device, "request_timeout_s": 3600}
    app_args |= {"num_replicas": args.replicas, "num_cpus": args.cpus_per_worker}
    if args.torch_threads:
        app_args["torch_threads"] = args.torch_threads
    try:
        serve.run(build_app(app_args), name="ray-bench", route_prefix="/")
        results["ray"] = _load(f"http://127.0.0.1:{port}", pairs, args.clients)
    finally:
        serve.shutdown()
    _log("Ray Serve measured")

    for key, label in (("serve", "semantic-highlight serve"), ("ray", f"Ray Serve ({args.replicas} replica(s))")):
        wall, latencies, errors = results[key]
        report.rows.append(
            Row(
                "server",
                label,
                work,
                wall,
                len(pairs) / wall,
                1000 * statistics.median(latencies) if latencies else None,
                1000 * sb._percentile(latencies, 0.99) if latencies else None,
                errors,
            )
        )
    (serve_wall, serve_lat, _), (ray_wall, ray_lat, _) = results["serve"], results["ray"]
    report.ratios["ray_serve_over_serve_throughput"] = serve_wall / ray_wall
    if serve_lat and ray_lat:
        report.ratios["ray_serve_over_serve_p99"] = sb._percentile(ray_lat, 0.99) / sb._percentile(serve_lat, 0.99)


def format_report(report: Report) -> str:
    lines = [
        "| part | path | work | wall s | per s | p50 ms | p99 ms | errors |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in report.rows:
        p50 = f"{r.p50_ms:.0f}" if r.p50_ms is not None else ""
        p99 = f"{r.p99_ms:.0f}" if r.p99_ms is not None else ""
        lines.append(
            f"| {r.part} | {r.path} | {r.work} | {r.wall_s:.1f} | {r.per_s:.2f} | {p50} | {p99} | {r.errors} |"
        )
    lines.append("")
    names = {
        "ray_data_over_local_time": "Ray Data time / --local time (goal <= 1.3)",
        "ray_serve_over_serve_throughput": "Ray Serve throughput / serve throughput",
        "ray_serve_over_serve_p99": "Ray Serve p99 / serve p99",
    }
    lines += [f"- {names[k]}: **{v:.2f}**" for k, v in report.ratios.items()]
    lines += [f"- {r.path}: {r.note}" for r in report.rows if r.note]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--model", default="default", help="'default' (the embedded model), a folder or a hub id")
    p.add_argument("--device", default="cpu")
    p.add_argument("--lang", default="en", choices=["en", "zh"])
    p.add_argument("--rows", type=int, default=10000, help="rows of the batch job")
    p.add_argument("--batch-size", type=int, default=256, help="rows per model call (both runners)")
    p.add_argument("--actors", type=int, default=1, help="Ray Data actors")
    p.add_argument("--replicas", type=int, default=1, help="Ray Serve replicas")
    p.add_argument("--cpus-per-worker", type=float, default=1.0, help="logical CPUs per actor / replica")
    p.add_argument(
        "--torch-threads", type=int, default=None, help="torch threads per actor / replica (default: this process's)"
    )
    p.add_argument(
        "--atol", type=float, default=None, help="float tolerance of the row comparison (default: the package's, 1e-5)"
    )
    p.add_argument("--requests", type=int, default=320, help="requests sent to each server")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--skip", choices=["job", "serve"], action="append", default=[], help="leave a part out")
    p.add_argument("--out", type=Path, default=None, help="write ray_bench.json and ray_bench.md here")
    args = p.parse_args(argv)

    import ray
    import torch
    from semantic_highlight import SemanticHighlighter
    from semantic_highlight.bench import write_report

    model = None if args.model == "default" else args.model
    if args.torch_threads is None:  # the one-process paths compute with all of this process's threads
        args.torch_threads = torch.get_num_threads()
    report = Report()
    report.meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "ray": ray.__version__,
        "command": " ".join(["python", Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
    }
    start = time.perf_counter()
    h = SemanticHighlighter(model=model, device=args.device)
    t = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    report.meta["ray_init_s"] = time.perf_counter() - t
    _log(f"Ray started in {report.meta['ray_init_s']:.1f} s (not counted below)")
    try:
        with tempfile.TemporaryDirectory(prefix="ray_bench_") as work:
            if "job" not in args.skip:
                bench_job(args, h, model, report, Path(work))
            if "serve" not in args.skip:
                bench_serve(args, h, report)
    finally:
        ray.shutdown()
    report.meta["wall_s"] = time.perf_counter() - start
    footer = f"({report.meta['wall_s']:.0f} s; Ray start-up {report.meta['ray_init_s']:.0f} s)"
    write_report(args.out, "ray_bench", report, format_report(report), footer)
    return 1 if any(r.errors for r in report.rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
