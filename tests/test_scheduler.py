"""BatchScheduler: cross-call batching, cancellation, deadlines, queue limits, shutdown, model errors.

The worker is held still where a test needs a known queue: a listener blocks after the first batch until the
test has queued what it needs (no sleeps, no timing assumptions).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import torch
from semantic_highlight import HighlightResult, SemanticHighlighter
from semantic_highlight.models.base import LoadedModel
from semantic_highlight.packing import Window
from semantic_highlight.scheduler import (
    BatchScheduler,
    BatchStats,
    DeadlineExceededError,
    QueueFullError,
    SchedulerClosedError,
)
from semantic_highlight.scoring import score_windows

DOCS = [
    "Paris is the capital of France. It lies on the Seine. Bananas are rich in potassium.",
    "巴黎是法国的首都。它位于塞纳河畔。香蕉富含钾元素。",
    "The Eiffel Tower was completed in 1889. It is made of wrought iron.",
]


class Gate:
    """A listener that holds the worker after its first batch until :meth:`open` is called."""

    def __init__(self) -> None:
        self.held = threading.Event()
        self.released = threading.Event()
        self.stats: list[BatchStats] = []

    def __call__(self, stats: BatchStats) -> None:
        self.stats.append(stats)
        if not self.held.is_set():
            self.held.set()
            assert self.released.wait(60), "the test never opened the gate"

    def open(self) -> None:
        self.released.set()


@pytest.fixture
def windows(xlmr: SemanticHighlighter) -> list[list[Window]]:
    """Planned windows of a few small calls."""
    return [xlmr.plan([(f"question {i}", [DOCS[i % 3], DOCS[(i + 1) % 3]])]) for i in range(6)]


@pytest.fixture
def scheduler(xlmr: SemanticHighlighter) -> Iterator[BatchScheduler]:
    s = BatchScheduler(xlmr.model, max_batch_tokens=16384, max_padding=0.5, name="test")
    yield s
    s.close(drain=False, timeout=60)


def _held(scheduler: BatchScheduler, first: list[Window]) -> tuple[Gate, Any]:
    """Submit ``first`` and wait until the worker is held after its batch."""
    gate = Gate()
    scheduler.add_listener(gate)
    future = scheduler.submit(first)
    assert gate.held.wait(60)
    return gate, future


def test_a_job_alone_gets_exactly_the_synchronous_scores(
    xlmr: SemanticHighlighter, scheduler: BatchScheduler, windows: list[list[Window]]
) -> None:
    long_doc = " ".join(f"Sentence {i} is about topic {i % 5}." for i in range(300))
    planned = xlmr.plan([("which topic", [long_doc, *DOCS])])
    expected = score_windows(xlmr.model, planned, 16384, max_padding=0.5)
    assert scheduler.submit(planned).result(timeout=120) == expected  # same batches, bit for bit
    assert scheduler.submit([]).result(timeout=1) == []  # nothing to run: done at once


def test_queued_jobs_share_a_batch_and_get_their_own_scores(
    xlmr: SemanticHighlighter, scheduler: BatchScheduler, windows: list[list[Window]]
) -> None:
    gate, first = _held(scheduler, windows[0])
    futures = [scheduler.submit(w) for w in windows[1:]]
    assert scheduler.queue_depth == len(futures)
    gate.open()
    merged = [f.result(timeout=120) for f in futures]
    assert first.result(timeout=1) is not None
    assert max(s.jobs for s in gate.stats) > 1, gate.stats  # cross-call batching happened
    for planned, got in zip(windows[1:], merged, strict=True):
        alone = score_windows(xlmr.model, planned, 16384)
        assert len(got) == len(alone)
        for a, b in zip(alone, got, strict=True):
            assert b.fragment_means == pytest.approx(a.fragment_means, abs=1e-5)
            assert b.ranking == pytest.approx(a.ranking, abs=1e-5)
    stats = gate.stats[-1]
    assert stats.padded_tokens >= stats.tokens > 0 and stats.windows >= stats.jobs >= 1 and stats.seconds > 0
    assert scheduler.queue_depth == 0 and scheduler.in_flight == 0


def test_a_cancelled_job_is_never_run(scheduler: BatchScheduler, windows: list[list[Window]]) -> None:
    gate, _ = _held(scheduler, windows[0])
    dropped = scheduler.submit(windows[1])
    kept = scheduler.submit(windows[2])
    assert scheduler.queue_depth == 2
    assert dropped.cancel()
    assert scheduler.queue_depth == 1  # forgotten at once, not when the worker comes by
    gate.open()
    kept.result(timeout=120)
    assert dropped.cancelled()
    assert sum(s.windows for s in gate.stats) == len(windows[0]) + len(windows[2])
    running = scheduler.submit(windows[3])
    running.result(timeout=120)
    assert not running.cancel()  # once started (here: finished), a job can no longer be cancelled


def test_a_job_past_its_deadline_fails_without_running(scheduler: BatchScheduler, windows: list[list[Window]]) -> None:
    gate, _ = _held(scheduler, windows[0])
    late = scheduler.submit(windows[1], deadline=time.monotonic() - 1.0)
    on_time = scheduler.submit(windows[2], deadline=time.monotonic() + 3600)
    gate.open()
    with pytest.raises(DeadlineExceededError, match="deadline passed"):
        late.result(timeout=120)
    assert len(on_time.result(timeout=120)) == len(windows[2])
    assert sum(s.windows for s in gate.stats) == len(windows[0]) + len(windows[2])
    with pytest.raises(TypeError, match="deadline"):
        scheduler.submit(windows[1], deadline="soon")  # type: ignore[arg-type]


def test_a_full_queue_refuses_new_jobs(xlmr: SemanticHighlighter, windows: list[list[Window]]) -> None:
    s = BatchScheduler(xlmr.model, max_batch_tokens=16384, max_padding=0.1, max_queue=2)
    try:
        gate, _ = _held(s, windows[0])  # running jobs do not count against max_queue
        waiting = [s.submit(windows[1]), s.submit(windows[2])]
        with pytest.raises(QueueFullError, match="max_queue=2"):
            s.submit(windows[3])
        waiting[0].cancel()  # a slot frees up as soon as a waiting job is cancelled
        waiting.append(s.submit(windows[3]))
        gate.open()
        assert [len(f.result(timeout=120)) for f in waiting[1:]] == [len(windows[2]), len(windows[3])]
    finally:
        s.close(drain=False, timeout=60)


def test_close_drains_queued_jobs_then_refuses_new_ones(xlmr: SemanticHighlighter, windows: list[list[Window]]) -> None:
    s = BatchScheduler(xlmr.model, max_batch_tokens=16384, max_padding=0.1)
    gate, first = _held(s, windows[0])
    queued = [s.submit(w) for w in windows[1:4]]
    closing = ThreadPoolExecutor(1).submit(s.close, True, 120)
    while not s.closed:
        time.sleep(0.001)
    with pytest.raises(SchedulerClosedError, match="closed"):
        s.submit(windows[4])
    gate.open()
    assert closing.result(timeout=120) is True  # the worker stopped ...
    assert all(f.done() and not f.cancelled() and f.exception() is None for f in [first, *queued])  # ... after all
    assert s.close() is True  # idempotent


def test_close_without_drain_fails_the_queued_jobs(xlmr: SemanticHighlighter, windows: list[list[Window]]) -> None:
    s = BatchScheduler(xlmr.model, max_batch_tokens=16384, max_padding=0.1)
    gate, first = _held(s, windows[0])
    queued = s.submit(windows[1])
    closing = ThreadPoolExecutor(1).submit(s.close, False, 120)
    with pytest.raises(SchedulerClosedError, match="before this job started"):
        queued.result(timeout=120)
    gate.open()
    assert closing.result(timeout=120) is True
    assert first.exception() is None


class _PoisonedModel(LoadedModel):
    """The fixture model, except that a batch holding the poison token fails (a model error, e.g. CUDA OOM)."""

    def __init__(self, inner: LoadedModel, poison: int) -> None:
        self.__dict__.update({k: getattr(inner, k) for k in ("tokenizer", "layout", "max_length", "max_positions")})
        self.default_threshold, self.name, self.device = inner.default_threshold, "poisoned", inner.device
        self.inner, self.poison = inner, poison

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if bool((input_ids == self.poison).any()):
            raise RuntimeError("model exploded")
        return self.inner.forward(input_ids, attention_mask)


def test_a_model_error_fails_only_its_batch(xlmr: SemanticHighlighter) -> None:
    poison_word = "Zyzzyva"
    poison = xlmr.model.tokenizer.encode(poison_word, add_special_tokens=False).ids[0]
    model = _PoisonedModel(xlmr.model, poison)
    s = BatchScheduler(model, max_batch_tokens=16384, max_padding=0.1, max_batch_jobs=1)
    try:
        gate, first = _held(s, xlmr.plan([("q", [DOCS[0]])]))
        bad = s.submit(xlmr.plan([("q", [f"{poison_word} is a word."])]))
        good = s.submit(xlmr.plan([("q", [DOCS[1]])]))
        gate.open()
        with pytest.raises(RuntimeError, match="model exploded"):
            bad.result(timeout=120)
        assert good.result(timeout=120) and first.result(timeout=1)
        assert s.submit(xlmr.plan([("q", [DOCS[2]])])).result(timeout=120)  # the worker is still serving
    finally:
        s.close(timeout=60)


def test_progress_callbacks_and_context_follow_each_job(xlmr: SemanticHighlighter, windows: list[list[Window]]) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    long_doc = " ".join(f"Sentence {i} is here." for i in range(400))
    big = xlmr.plan([("q", [long_doc])])
    s = BatchScheduler(xlmr.model, max_batch_tokens=2048, max_padding=0.1)  # small budget: many batches
    calls: list[tuple[int, int, str]] = []
    try:
        var.set("caller")
        future = s.submit(big, on_progress=lambda done, total: calls.append((done, total, var.get())))
        future.result(timeout=120)
        assert len(calls) > 1 and calls[-1][:2] == (len(big), len(big))
        assert [c[0] for c in calls] == sorted({c[0] for c in calls}) and {c[2] for c in calls} == {"caller"}

        def explode(done: int, total: int) -> None:
            raise KeyError("callback failed")

        with pytest.raises(KeyError, match="callback failed"):  # a failing callback fails its own job only
            s.submit(windows[0], on_progress=explode).result(timeout=120)
        assert s.submit(windows[1], then=len).result(timeout=120) == len(windows[1])  # then: a result transform
    finally:
        s.close(timeout=60)


def test_a_failing_listener_does_not_stop_the_worker(scheduler: BatchScheduler, windows: list[list[Window]]) -> None:
    def broken(stats: BatchStats) -> None:
        raise ValueError("listener bug")

    scheduler.add_listener(broken)
    assert scheduler.submit(windows[0]).result(timeout=120)
    assert scheduler.submit(windows[1]).result(timeout=120)
    scheduler.remove_listener(broken)
    with pytest.raises(TypeError, match="listener"):
        scheduler.add_listener("not callable")  # type: ignore[arg-type]


def test_the_idle_worker_exits_and_restarts(
    monkeypatch: pytest.MonkeyPatch, scheduler: BatchScheduler, windows: list[list[Window]]
) -> None:
    import semantic_highlight.scheduler as module

    monkeypatch.setattr(module, "IDLE_EXIT_S", 0.01)
    scheduler.submit(windows[0]).result(timeout=120)
    for _ in range(6000):  # polls for up to a minute on a busy machine
        if scheduler._thread is None:
            break
        time.sleep(0.01)
    assert scheduler._thread is None
    assert scheduler.submit(windows[1]).result(timeout=120)  # a new worker starts


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_batch_tokens": True}, TypeError, "max_batch_tokens"),
        ({"max_batch_tokens": 0}, ValueError, "max_batch_tokens"),
        ({"max_padding": "0.2"}, TypeError, "max_padding"),
        ({"max_padding": -1}, ValueError, "max_padding"),
        ({"max_padding": float("nan")}, ValueError, "max_padding"),
        ({"max_wait_ms": -5}, ValueError, "max_wait_ms"),
        ({"max_queue": 0}, ValueError, "max_queue"),
        ({"max_batch_jobs": 1.5}, TypeError, "max_batch_jobs"),
    ],
)
def test_bad_settings(xlmr: SemanticHighlighter, kwargs: dict[str, Any], error: type, match: str) -> None:
    settings: dict[str, Any] = {"max_batch_tokens": 1024, "max_padding": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        BatchScheduler(xlmr.model, **settings)


# --- through SemanticHighlighter ------------------------------------------------------------------------------


def _scores(results: list[list[HighlightResult]]) -> list[float]:
    return [s.score for rs in results for r in rs for s in r.sentences]


def _selected(results: list[list[HighlightResult]]) -> list[list[list[int]]]:
    return [[[s.index for s in r.highlights] for r in rs] for rs in results]


def test_concurrent_callers_share_batches_and_match_serial_calls() -> None:
    from conftest import FIXTURES

    if not (FIXTURES / "op-tiny-xlmr").is_dir():
        pytest.skip("../shared/fixtures is not available")
    jobs = [(f"question {i} about France", [DOCS[i % 3], DOCS[(i + 2) % 3]]) for i in range(8)]
    serial_h = SemanticHighlighter(FIXTURES / "op-tiny-xlmr", device="cpu", threshold=0.4)
    serial = [serial_h.highlight_batch([job]) for job in jobs]
    total = sum(len(w) for job in jobs for w in serial_h.plan([job]))
    # the idle worker waits (up to a minute) until every caller's windows are queued: a budget of all of them
    h = SemanticHighlighter(
        FIXTURES / "op-tiny-xlmr", device="cpu", threshold=0.4, max_batch_tokens=total, max_padding=1.0,
        max_wait_ms=60_000,
    )  # fmt: skip
    stats: list[BatchStats] = []
    h.scheduler.add_listener(stats.append)
    progress: dict[int, list[tuple[int, int]]] = {i: [] for i in range(len(jobs))}
    barrier = threading.Barrier(len(jobs))

    def call(i: int) -> list[list[HighlightResult]]:
        barrier.wait(timeout=60)
        return h.highlight_batch([jobs[i]], on_batch=lambda done, n: progress[i].append((done, n)))

    with ThreadPoolExecutor(len(jobs)) as pool:
        parallel = list(pool.map(call, range(len(jobs))))
    assert max(s.jobs for s in stats) > 1
    for i, (a, b) in enumerate(zip(serial, parallel, strict=True)):
        assert _scores(b) == pytest.approx(_scores(a), abs=1e-5)
        assert _selected(b) == _selected(a)
        assert progress[i][-1][0] == progress[i][-1][1] == len(h.plan([jobs[i]]))
    h.close()


def test_submit_batch_returns_a_future_and_raises_bad_input_at_once(xlmr: SemanticHighlighter) -> None:
    future = xlmr.submit_batch([("capital of France", DOCS)], threshold=0.3, top_k=1)
    results = future.result(timeout=120)
    assert results == xlmr.highlight_batch([("capital of France", DOCS)], threshold=0.3, top_k=1)
    assert all(len(r.highlights) <= 1 for r in results[0])
    with pytest.raises(TypeError, match="query must be a str"):
        xlmr.submit_batch([(None, DOCS)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="threshold must be finite"):
        xlmr.submit_batch([("q", DOCS)], threshold=float("nan"))
    with pytest.raises(TypeError, match="on_batch must be callable"):
        xlmr.submit_batch([("q", DOCS)], on_batch=3)  # type: ignore[arg-type]
    with pytest.raises(DeadlineExceededError):
        xlmr.submit_batch([("q", DOCS)], deadline=time.monotonic() - 1).result(timeout=120)
    assert xlmr.submit_batch([("q", ["", "  "])]).result(timeout=1)[0][0].sentences == ()


def test_a_closed_highlighter_refuses_calls() -> None:
    from conftest import FIXTURES

    if not (FIXTURES / "op-tiny-xlmr").is_dir():
        pytest.skip("../shared/fixtures is not available")
    h = SemanticHighlighter(FIXTURES / "op-tiny-xlmr", device="cpu")
    assert h.highlight("q", DOCS[0]).sentences
    assert h.close() is True
    with pytest.raises(SchedulerClosedError):
        h.highlight("q", DOCS[0])


def test_random_mixes_of_jobs_cancels_and_deadlines(xlmr: SemanticHighlighter, windows: list[list[Window]]) -> None:
    """Bounded fuzz: whatever mix of jobs is queued behind a running batch, each future ends as it should and
    every finished job gets its own scores (those of its windows scored alone, within 1e-5)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    alone = [score_windows(xlmr.model, w, 16384) for w in windows]
    job = st.tuples(st.integers(0, len(windows) - 1), st.sampled_from(["run", "cancel", "late"]))

    @settings(max_examples=12, deadline=None)
    @given(st.lists(job, min_size=1, max_size=8), st.integers(256, 4096), st.sampled_from([None, 1, 2]))
    def check(jobs: list[tuple[int, str]], budget: int, max_jobs: int | None) -> None:
        s = BatchScheduler(xlmr.model, max_batch_tokens=budget, max_padding=0.3, max_batch_jobs=max_jobs)
        try:
            gate, first = _held(s, windows[0])
            futures = []
            for index, kind in jobs:
                deadline = time.monotonic() - 1 if kind == "late" else None
                futures.append(s.submit(windows[index], deadline=deadline))
                if kind == "cancel":
                    assert futures[-1].cancel()
            gate.open()
            for (index, kind), future in zip(jobs, futures, strict=True):
                if kind == "cancel":
                    assert future.cancelled()
                elif kind == "late":
                    with pytest.raises(DeadlineExceededError):
                        future.result(timeout=120)
                else:
                    got = future.result(timeout=120)
                    for a, b in zip(alone[index], got, strict=True):
                        assert b.fragment_means == pytest.approx(a.fragment_means, abs=1e-5)
            assert first.result(timeout=1) and s.queue_depth == 0
            ran = len(windows[0]) + sum(len(windows[i]) for i, kind in jobs if kind == "run")
            assert sum(st_.windows for st_ in gate.stats) == ran  # cancelled and late jobs never reached the model
            if max_jobs is not None:
                assert max(st_.jobs for st_ in gate.stats) <= max_jobs
        finally:
            s.close(timeout=60)

    check()
