"""Benchmark ``semantic-highlight serve``: concurrent clients, dynamic batching on and off, in-process, memory.

Sends workload-(a)-sized requests (1 query x 10 chunks of ~300 tokens, as ``semantic-highlight bench``) from 1, 8
and 32 concurrent closed-loop clients (one request each by default) to two servers in subprocesses, one with
cross-request batching and one with one request per batch (``--max-batch-requests 1``), and reports throughput
and p50/p99 latency. It times in-process ``highlight_batch`` on the same requests as the largest level (the
server's cost over calling the engine directly) and compares the resident memory of one server with N worker
processes that each load the model (Linux ``/proc``). Each level is measured ``--repeats`` times, on, off and
in-process back to back, so a shared machine's drifting load hits them alike: the tables show medians, and the
ratios are medians of ratios taken within one repeat. Prints Markdown tables; writes JSON with ``--out``.

    python benchmarks/serve_bench.py                      # default model, CPU: about 8 minutes on 2 idle cores
    python benchmarks/serve_bench.py --quick --model ../shared/fixtures/op-tiny-xlmr
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
Pair = tuple[str, list[str]]


@dataclass
class LoadRow:
    """One (batching mode, client count) measurement against a running server."""

    mode: str
    clients: int
    repeat: int
    requests: int
    wall_s: float
    requests_per_s: float
    docs_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    mismatches: int
    batch_requests_mean: float | None = None
    error_kinds: dict[str, int] = field(default_factory=dict)


@dataclass
class MemoryRow:
    """Resident memory of one process: RSS (shared pages counted in full) and PSS (shared pages split)."""

    process: str
    count: int
    rss_mb: float
    pss_mb: float | None
    peak_rss_mb: float | None = None


@dataclass
class Summary:
    """Medians over the repeats of one (batching mode, client count)."""

    mode: str
    clients: int
    requests: int
    requests_per_s: float
    docs_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    mismatches: int
    batch_requests_mean: float | None


@dataclass
class Report:
    model: str
    lang: str
    tokens_per_request: float
    runs: list[LoadRow] = field(default_factory=list)
    in_process_s: list[float] = field(default_factory=list)
    """Seconds of in-process ``highlight_batch`` on the largest level's requests, one per repeat."""
    summary: list[Summary] = field(default_factory=list)
    on_over_off: dict[int, dict[str, float]] = field(default_factory=dict)
    """Per client count: medians over the repeats of on/off throughput, p50 and p99 (measured back to back)."""
    in_process_requests_per_s: float = 0.0
    server_over_in_process: float | None = None
    """Median over the repeats of server throughput (batching on, most clients) / in-process, back to back."""
    memory: list[MemoryRow] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


# --- workload -------------------------------------------------------------------------------------------------


def build_requests(h: Any, lang: str, count: int) -> list[Pair]:
    """``count`` distinct workload-(a) requests: one query and 10 consecutive ~300-token chunks each."""
    from semantic_highlight.bench import _QUERIES, _read_corpus, make_chunks

    pool = make_chunks(h, _read_corpus(lang, None), 40, 300)
    queries = _QUERIES[lang]
    return [(queries[i % len(queries)], [pool[(3 * i + j) % len(pool)] for j in range(10)]) for i in range(count)]


def request_tokens(h: Any, pairs: Sequence[Pair]) -> float:
    """Mean model tokens per request (the engine's own windows)."""
    return sum(len(w) for w in h.plan(list(pairs))) / len(pairs)


# --- processes and memory ---------------------------------------------------------------------------------------


def _proc_memory(pid: int) -> tuple[float, float | None, float | None]:
    """(RSS, PSS, peak RSS) of a process in MB, from /proc; PSS/peak are None where unavailable."""
    fields: dict[str, float] = {}
    for name in ("status", "smaps_rollup"):
        try:
            for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
                key, _, value = line.partition(":")
                parts = value.split()
                if len(parts) == 2 and parts[1] == "kB":
                    fields.setdefault(key.strip(), int(parts[0]) / 1024)
        except OSError:
            pass
    return fields.get("VmRSS", 0.0), fields.get("Pss"), fields.get("VmHWM")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: str, port: int, batching: bool, device: str, timeout_s: float) -> subprocess.Popen:
    """``semantic-highlight serve`` in a subprocess; batching off is ``--max-batch-requests 1``. ``timeout_s`` is
    the server's request deadline: a benchmark queues deliberately, so it must not cut waiting requests (504)."""
    env = dict(os.environ)
    env.pop("SEMANTIC_HIGHLIGHT_MAX_BATCH_REQUESTS", None)
    cmd = [sys.executable, "-m", "semantic_highlight.cli", "serve", "--model", model, "--device", device]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--request-timeout", str(timeout_s)]
    if not batching:
        cmd += ["--max-batch-requests", "1"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_ready(base_url: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"server exited with {proc.returncode}:\n{err[-3000:]}")
        try:
            if httpx.get(base_url + "/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"server not ready after {timeout_s:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_WORKER = textwrap.dedent(
    """
    import sys
    from semantic_highlight import SemanticHighlighter
    h = SemanticHighlighter(model=None if sys.argv[1] == "default" else sys.argv[1], device=sys.argv[2])
    h.highlight(sys.argv[3], [sys.argv[4]] * 10)
    print("ready", flush=True)
    sys.stdin.read()
    """
)


def measure_workers(model: str, device: str, count: int, query: str, doc: str) -> list[MemoryRow]:
    """Start ``count`` processes that each load the model and run one request; their memory while all are up."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, model, device, query, doc],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for p in procs:
            if p.stdout is None or p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"worker {p.pid} failed to load the model")
        mems = [_proc_memory(p.pid) for p in procs]
    finally:
        for p in procs:
            if p.stdin:
                p.stdin.close()
            p.wait(timeout=60)
    rss = sum(m[0] for m in mems)
    pss = None if any(m[1] is None for m in mems) else sum(m[1] or 0.0 for m in mems)
    rows = [MemoryRow("one worker process with its own model", 1, mems[0][0], mems[0][1], mems[0][2])]
    if count > 1:
        rows.append(MemoryRow(f"{count} worker processes, each with its own model", count, rss, pss))
    return rows


# --- load generation --------------------------------------------------------------------------------------------


async def _client(
    http: httpx.AsyncClient, queue: asyncio.Queue[int], pairs: Sequence[Pair], latencies: list[float], out: dict
) -> None:
    while True:
        try:
            i = queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        query, docs = pairs[i]
        t = time.perf_counter()
        try:
            response = await http.post("/v1/highlight", json={"query": query, "documents": docs})
        except httpx.HTTPError as exc:
            out["errors"] += 1
            out["error_kinds"][type(exc).__name__] = out["error_kinds"].get(type(exc).__name__, 0) + 1
            continue
        if response.status_code != 200:
            out["errors"] += 1
            key = f"HTTP {response.status_code}"
            out["error_kinds"][key] = out["error_kinds"].get(key, 0) + 1
        else:
            latencies.append(time.perf_counter() - t)  # successful requests only
            out["results"][i] = response.json()["results"]


async def run_load(base_url: str, pairs: Sequence[Pair], clients: int) -> tuple[float, list[float], dict]:
    """``clients`` concurrent closed-loop clients send every request of ``pairs`` once; (wall s, latencies, out)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(pairs)):
        queue.put_nowait(i)
    latencies: list[float] = []
    out: dict[str, Any] = {"errors": 0, "error_kinds": {}, "results": {}}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=900, limits=limits) as http:
        t = time.perf_counter()
        await asyncio.gather(*(_client(http, queue, pairs, latencies, out) for _ in range(clients)))
        wall = time.perf_counter() - t
    return wall, latencies, out


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: with few samples p99 is the slowest request)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(-(-q * len(ordered) // 1)) - 1))]


def _batch_histogram(base_url: str) -> tuple[float, float] | None:
    """(sum, count) of the server's requests-per-batch Prometheus histogram, when it exposes one."""
    try:
        text = httpx.get(base_url + "/metrics", timeout=10).text
    except httpx.HTTPError:
        return None
    found: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        for suffix in ("_sum", "_count"):
            if name == f"semantic_highlight_batch_requests{suffix}":
                found[suffix] = float(value)
    return (found["_sum"], found["_count"]) if len(found) == 2 else None


def _same(results: list[dict], expected: list[dict], tol: float = 1e-5) -> bool:
    """Same sentences and selection as in-process, scores within ``tol`` (batch shapes may move the last bits)."""
    if len(results) != len(expected):
        return False
    for got, want in zip(results, expected, strict=True):
        a, b = got["sentences"], want["sentences"]
        if [(s["start"], s["end"], s["selected"]) for s in a] != [(s["start"], s["end"], s["selected"]) for s in b]:
            return False
        if any(abs(x["score"] - y["score"]) > tol for x, y in zip(a, b, strict=True)):
            return False
    return True


# --- the benchmark ----------------------------------------------------------------------------------------------

_T0 = time.perf_counter()


def _log(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f} s] {message}", file=sys.stderr, flush=True)


def _timed_load(
    base_url: str, mode: str, clients: int, repeat: int, pairs: Sequence[Pair], expected: Sequence[list[dict]]
) -> LoadRow:
    before = _batch_histogram(base_url)
    wall, latencies, out = asyncio.run(run_load(base_url, pairs, clients))
    after = _batch_histogram(base_url)
    mismatches = sum(1 for i, rs in out["results"].items() if not _same(rs, expected[i]))
    row = LoadRow(
        mode=mode,
        clients=clients,
        repeat=repeat,
        requests=len(pairs),
        wall_s=wall,
        requests_per_s=len(pairs) / wall,
        docs_per_s=sum(len(d) for _, d in pairs) / wall,
        p50_ms=1000 * statistics.median(latencies) if latencies else float("nan"),
        p99_ms=1000 * _percentile(latencies, 0.99) if latencies else float("nan"),
        errors=out["errors"],
        mismatches=mismatches,
        error_kinds=out["error_kinds"],
    )
    if before and after and after[1] > before[1]:
        row.batch_requests_mean = (after[0] - before[0]) / (after[1] - before[1])
    return row


def run(args: argparse.Namespace) -> Report:
    """Both servers (batching on and off) stay up side by side, idle while the other is measured; every repeat
    measures on, off and in-process back to back (alternating the order), so slow drifts in the machine's
    background load hit all of them alike and the ratios are taken within one repeat."""
    import torch
    from semantic_highlight import SemanticHighlighter

    modes = args.modes.split(",")
    levels = [int(c) for c in args.clients.split(",")]
    n_requests = {c: max(args.min_requests, c * args.rounds) for c in levels}
    procs: dict[str, tuple[subprocess.Popen, str]] = {}
    for mode in modes:  # servers load while the in-process model loads
        port = free_port()
        procs[mode] = (
            start_server(args.model, port, mode == "batching", args.device, args.request_timeout),
            f"http://127.0.0.1:{port}",
        )
    try:
        h = SemanticHighlighter(model=None if args.model == "default" else args.model, device=args.device)
        pairs = build_requests(h, args.lang, max(n_requests.values()))
        report = Report(model=args.model, lang=args.lang, tokens_per_request=request_tokens(h, pairs))
        report.meta = {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "device": args.device,
            "repeats": args.repeats,
            "command": " ".join(["python", Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        }
        expected = [[r.to_dict() for r in rs] for rs in h.highlight_batch(pairs)]  # also the in-process warm-up
        top = pairs[: n_requests[max(levels)]]
        for mode, (proc, url) in procs.items():
            wait_ready(url, proc, args.ready_timeout)
            asyncio.run(run_load(url, pairs[:2], 2))  # warm connections and the model
            _log(f"server ready (batching {mode})")
        for clients in levels:
            subset = pairs[: n_requests[clients]]
            for repeat in range(args.repeats):
                order = modes if repeat % 2 == 0 else modes[::-1]
                for mode in order:
                    row = _timed_load(procs[mode][1], mode, clients, repeat, subset, expected)
                    report.runs.append(row)
                    print(format_runs([row], header=len(report.runs) == 1), file=sys.stderr, flush=True)
                if clients == max(levels):
                    t = time.perf_counter()
                    h.highlight_batch(top)
                    report.in_process_s.append(time.perf_counter() - t)
                    _log(f"in-process highlight_batch: {len(top)} requests in {report.in_process_s[-1]:.2f} s")
        for mode, (proc, _) in procs.items():
            rss, pss, peak = _proc_memory(proc.pid)
            label = "on" if mode == "batching" else "off"
            report.memory.append(MemoryRow(f"one server, batching {label} (after the load)", 1, rss, pss, peak))
        example_query, example_doc = pairs[0][0], pairs[0][1][0]
        del h
        gc.collect()
    finally:
        for proc, _ in procs.values():
            stop(proc)
    summarize(report, len(top))
    if args.workers > 0:
        _log(f"starting {args.workers} worker processes that each load the model")
        report.memory += measure_workers(args.model, args.device, args.workers, example_query, example_doc)
    return report


def summarize(report: Report, top_requests: int) -> None:
    """Medians over the repeats, and ratios taken within each repeat (then their median)."""
    med = statistics.median
    keys = sorted({(r.mode, r.clients) for r in report.runs}, key=lambda k: (k[0] != "batching", k[1]))
    for mode, clients in keys:
        rows = [r for r in report.runs if (r.mode, r.clients) == (mode, clients)]
        means = [r.batch_requests_mean for r in rows if r.batch_requests_mean is not None]
        report.summary.append(
            Summary(
                mode=mode,
                clients=clients,
                requests=rows[0].requests,
                requests_per_s=med(r.requests_per_s for r in rows),
                docs_per_s=med(r.docs_per_s for r in rows),
                p50_ms=med(r.p50_ms for r in rows),
                p99_ms=med(r.p99_ms for r in rows),
                errors=sum(r.errors for r in rows),
                mismatches=sum(r.mismatches for r in rows),
                batch_requests_mean=med(means) if means else None,
            )
        )
    by = {(r.mode, r.clients, r.repeat): r for r in report.runs}
    for clients in sorted({r.clients for r in report.runs}):
        pairs = [
            (by[("batching", clients, k)], by[("off", clients, k)])
            for k in sorted({r.repeat for r in report.runs})
            if ("batching", clients, k) in by and ("off", clients, k) in by
        ]
        if pairs:
            report.on_over_off[clients] = {
                "throughput": med(on.requests_per_s / off.requests_per_s for on, off in pairs),
                "p50": med(on.p50_ms / off.p50_ms for on, off in pairs),
                "p99": med(on.p99_ms / off.p99_ms for on, off in pairs),
            }
    if report.in_process_s:
        report.in_process_requests_per_s = top_requests / med(report.in_process_s)
        top = max(r.clients for r in report.runs)
        ratios = [
            by[("batching", top, k)].requests_per_s * t / top_requests
            for k, t in enumerate(report.in_process_s)
            if ("batching", top, k) in by
        ]
        report.server_over_in_process = med(ratios) if ratios else None


# --- output -----------------------------------------------------------------------------------------------------


_LABEL = {"batching": "on", "off": "off"}


def format_runs(rows: Sequence[LoadRow], header: bool = True) -> str:
    lines = []
    if header:
        lines += ["| batching | clients | repeat | requests | wall s | requests/s | p50 ms | p99 ms | errors |"]
        lines += ["|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {_LABEL[r.mode]} | {r.clients} | {r.repeat} | {r.requests} | {r.wall_s:.1f} | {r.requests_per_s:.2f} "
            f"| {r.p50_ms:,.0f} | {r.p99_ms:,.0f} | {r.errors} |"
        )
    return "\n".join(lines)


def _opt(x: float | None, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def format_report(report: Report) -> str:
    repeats = report.meta.get("repeats")
    lines = [
        f"model {report.model}, lang {report.lang}, {report.tokens_per_request:,.0f} tokens per request "
        f"(10 chunks), {report.meta.get('threads')} torch threads, {report.meta.get('cpus')} CPUs; "
        f"medians of {repeats} repeat{'' if repeats == 1 else 's'}",
        "",
        "| batching | clients | requests | requests/s | docs/s | p50 ms | p99 ms | requests per batch | errors "
        "| differs from in-process |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report.summary:
        mode = "on" if r.mode == "batching" else "off (1 request/batch)"
        lines.append(
            f"| {mode} | {r.clients} | {r.requests} | {r.requests_per_s:.2f} | {r.docs_per_s:.1f} | {r.p50_ms:,.0f} "
            f"| {r.p99_ms:,.0f} | {_opt(r.batch_requests_mean, '.2f')} | {r.errors} | {r.mismatches} |"
        )
    if report.on_over_off:
        lines += ["", "| clients | throughput on/off | p50 on/off | p99 on/off |", "|---|---|---|---|"]
        for c, ratio in sorted(report.on_over_off.items()):
            lines.append(f"| {c} | {ratio['throughput']:.2f}x | {ratio['p50']:.2f} | {ratio['p99']:.2f} |")
    top = max((r.clients for r in report.runs), default=0)
    lines += [
        "",
        f"in-process highlight_batch on the {top}-client requests: {report.in_process_requests_per_s:.2f} requests/s",
    ]
    if report.server_over_in_process is not None:
        lines.append(
            f"server at {top} clients (batching on) / in-process: {report.server_over_in_process:.2f} "
            "(goal >= 0.85 on CPU)"
        )
    if report.memory:
        lines += ["", "| process | count | RSS MB | PSS MB | peak RSS MB |", "|---|---|---|---|---|"]
        for m in report.memory:
            lines.append(
                f"| {m.process} | {m.count} | {m.rss_mb:,.0f} | {_opt(m.pss_mb, ',.0f')} "
                f"| {_opt(m.peak_rss_mb, ',.0f')} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--model", default="default", help="'default' (the embedded model), a folder or a hub id")
    p.add_argument("--device", default="cpu")
    p.add_argument("--lang", default="en", choices=["en", "zh"])
    p.add_argument("--clients", default="1,8,32", help="comma-separated concurrent client counts")
    p.add_argument("--rounds", type=int, default=1, help="requests per client at each level")
    p.add_argument("--min-requests", type=int, default=4, help="at least this many requests per level")
    p.add_argument("--modes", default="batching,off", help="'batching' (dynamic batching), 'off' (1 request/batch)")
    p.add_argument(
        "--repeats", type=int, default=3, help="measurements of each level, on/off/in-process back to back (medians)"
    )
    p.add_argument("--workers", type=int, default=4, help="worker processes that each load the model (0: skip)")
    p.add_argument("--ready-timeout", type=float, default=600)
    p.add_argument("--request-timeout", type=float, default=3600, help="the servers' request deadline, seconds")
    p.add_argument("--quick", action="store_true", help="clients 1,4, one repeat, 2 workers: a smoke run")
    p.add_argument("--out", type=Path, default=None, help="write serve_bench.json and serve_bench.md here")
    args = p.parse_args(argv)
    if args.quick:
        args.clients, args.rounds, args.min_requests, args.repeats = "1,4", 1, 2, 1
        args.workers = min(args.workers, 2)
    from semantic_highlight.bench import write_report

    start = time.perf_counter()
    report = run(args)
    report.meta["wall_s"] = time.perf_counter() - start
    write_report(args.out, "serve_bench", report, format_report(report), f"({report.meta['wall_s']:.0f} s)")
    return 1 if any(r.errors for r in report.runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
