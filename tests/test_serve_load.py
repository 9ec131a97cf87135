"""The highlight server under load (tiny fixture model): 32 concurrent clients get no error and every answer
equals the in-process result; clients that give up mid-request leave it healthy; SIGTERM on a real
``semantic-highlight serve`` process during load loses no accepted request."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")

import httpx
from conftest import FIXTURES
from conftest import WORKLOAD_QUERIES as QUERIES
from conftest import WORKLOAD_SENTENCES as SENTENCES
from semantic_highlight import HighlightResult, SemanticHighlighter
from semantic_highlight.serve import create_app
from semantic_highlight.serve.background import BackgroundServer

TINY = str(FIXTURES / "op-tiny-xlmr")


def workload(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` distinct-ish requests: 1 to 4 documents of 1 to 12 sentences each, some pre-split."""
    rng = random.Random(seed)
    requests = []
    for _ in range(n):
        docs: list[Any] = []
        for _ in range(rng.randint(1, 4)):
            picked = [rng.choice(SENTENCES) for _ in range(rng.randint(1, 12))]
            docs.append(picked if rng.random() < 0.25 else "".join(picked))
        requests.append({"query": rng.choice(QUERIES), "documents": docs})
    return requests


def same(got: list[dict[str, Any]], want: list[HighlightResult]) -> None:
    """Same sentences and selection; scores within 1e-5 (a shared batch's shape may change float rounding)."""
    assert len(got) == len(want)
    for g, w in zip((HighlightResult.from_dict(d) for d in got), want, strict=True):
        assert (g.text, [(s.start, s.end, s.selected) for s in g.sentences]) == (
            w.text,
            [(s.start, s.end, s.selected) for s in w.sentences],
        )
        assert [s.score for s in g.sentences] == pytest.approx([s.score for s in w.sentences], abs=1e-5)
        if w.ranking_score is not None:
            assert g.ranking_score == pytest.approx(w.ranking_score, abs=1e-5)


@pytest.fixture(scope="module")
def engine(xlmr: SemanticHighlighter) -> SemanticHighlighter:
    return xlmr


def test_32_concurrent_clients_no_errors_results_equal_in_process(engine: SemanticHighlighter) -> None:
    requests = workload(64)
    expected = [engine.highlight(r["query"], r["documents"]) for r in requests]
    server_engine = SemanticHighlighter(model=TINY, device="cpu", dtype="float32", max_wait_ms=5, max_queue=1024)
    plan = [i % len(requests) for i in range(320)]  # 320 requests, 10 per client
    clients = 32

    async def client(worker: int, base: str, statuses: list[int]) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            for k in plan[worker::clients]:
                r = await http.post("/v1/highlight", json=requests[k])
                statuses.append(r.status_code)
                assert r.status_code == 200, r.text
                same(r.json()["results"], expected[k])

    async def impatient(base: str) -> int:
        """Clients that give up mid-request (after 1 to 30 ms) and close their connection."""
        gave_up = 0
        for k in range(24):
            try:
                async with httpx.AsyncClient(base_url=base, timeout=0.001 + 0.001 * (k % 30)) as http:
                    await http.post("/v1/highlight", json=requests[k])
            except httpx.TransportError:  # timed out (or failed on the way): either way the client is gone
                gave_up += 1
        return gave_up

    async def run(base: str) -> tuple[list[int], int]:
        statuses: list[int] = []
        results = await asyncio.gather(impatient(base), *(client(w, base, statuses) for w in range(clients)))
        return statuses, int(results[0] or 0)

    with BackgroundServer(create_app(server_engine)) as url:
        statuses, gave_up = asyncio.run(run(url))
        assert statuses == [200] * len(plan)
        # Healthy afterwards: nothing stuck in the queue, and new requests are answered correctly.
        deadline = time.monotonic() + 30
        while httpx.get(url + "/metrics").text.count("semantic_highlight_queue_depth 0.0") != 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert httpx.get(url + "/ready").status_code == 200
        r = httpx.post(url + "/v1/highlight", json=requests[0], timeout=60)
        same(r.json()["results"], expected[0])
        metrics = httpx.get(url + "/metrics").text
    server_engine.close()
    print(f"\n320 requests from 32 clients, {gave_up} impatient clients gave up mid-request")
    batch_sum = _sample(metrics, "semantic_highlight_batch_requests_sum")
    batch_count = _sample(metrics, "semantic_highlight_batch_requests_count")
    print(f"requests per model batch: {batch_sum / batch_count:.2f} on average ({batch_count:.0f} batches)")
    assert batch_sum / batch_count > 1  # requests were batched together


def _sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in metrics")


# --- SIGTERM on a real server process --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve_process() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    if not (FIXTURES / "op-tiny-xlmr").is_dir():
        pytest.skip("../shared/fixtures is not available")
    port = free_port()
    command = [sys.executable, "-m", "semantic_highlight.cli", "serve", "--model", TINY, "--device", "cpu"]
    command += [
        "--port",
        str(port),
        "--max-wait-ms",
        "10000",
        "--max-batch-tokens",
        "1000000",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                if httpx.get(url + "/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server not ready in 120 s"
            time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sigterm_during_load_loses_no_accepted_request(
    serve_process: tuple[subprocess.Popen[bytes], str], engine: SemanticHighlighter
) -> None:
    process, url = serve_process
    requests = workload(32, seed=1)
    expected = [engine.highlight(r["query"], r["documents"]) for r in requests]
    answers: dict[int, httpx.Response | Exception] = {}
    late: list[httpx.Response | Exception] = []

    def send(k: int) -> None:
        try:
            answers[k] = httpx.post(url + "/v1/highlight", json=requests[k], timeout=120)
        except Exception as exc:
            answers[k] = exc

    def keep_sending(stop: threading.Event) -> None:
        """More load while the server shuts down: refused connections are fine, wrong answers are not."""
        while not stop.is_set():
            try:
                late.append(httpx.post(url + "/v1/highlight", json=requests[0], timeout=120))
            except httpx.TransportError as exc:
                late.append(exc)
                time.sleep(0.01)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(len(requests))]
    for t in threads:
        t.start()
    # Every request accepted: the scheduler holds all 32 (it waits up to 10 s to fill a batch) when SIGTERM arrives.
    deadline = time.monotonic() + 60
    while "semantic_highlight_requests_in_flight 33.0" not in httpx.get(url + "/metrics").text:  # + this scrape
        assert time.monotonic() < deadline, "the requests never all arrived"
        time.sleep(0.01)
    stop = threading.Event()
    extra = [threading.Thread(target=keep_sending, args=(stop,)) for _ in range(2)]
    for t in extra:
        t.start()
    process.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(120)
    assert process.wait(60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
    stop.set()
    for t in extra:
        t.join(60)
    for k, answer in sorted(answers.items()):
        assert isinstance(answer, httpx.Response), f"request {k} lost: {answer!r}"
        assert answer.status_code == 200, answer.text
        same(answer.json()["results"], expected[k])
    assert len(answers) == len(requests)
    for answer in late:  # answered correctly, or never accepted (connection refused or reset)
        if isinstance(answer, httpx.Response):
            assert answer.status_code == 200, answer.text
            same(answer.json()["results"], expected[0])
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health")
