"""One queue and one worker thread per model: the windows of every caller are scored in shared batches.

Callers (threads of one process, the HTTP server's requests) :meth:`BatchScheduler.submit` planned windows
and get a :class:`~concurrent.futures.Future`. The worker runs one model batch at a time. Before each one it
takes the oldest unfinished jobs whose windows fill about one token budget (later jobs wait, so a job's latency
is its own windows plus those ahead of it, not the whole queue's), groups their waiting windows with the engine's own
:func:`~semantic_highlight.packing.plan_batches` (length-sorted, under the token budget, padding bounded), and
runs the group holding the oldest job's longest waiting window: jobs are served first come, first served, and
whoever queued meanwhile rides along in the same batch. Scores go back to each job; its future completes when
its last window is scored.

Why scores can differ in the last bits from a call made alone: a window's keep probabilities do not depend
on the other rows of its batch mathematically (padding is masked), but the batch's shape changes how the
matrix kernels block and accumulate, so the float32 results can differ by rounding (about 1e-7 on CPU here,
tested within 1e-5). A job alone in the queue gets exactly the batches of a synchronous call.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .aggregate import check_count, check_non_negative
from .models.base import LoadedModel
from .packing import Window, plan_batches
from .scoring import WindowScores, score_batch

__all__ = [
    "BatchScheduler",
    "BatchStats",
    "DeadlineExceededError",
    "QueueFullError",
    "SchedulerClosedError",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

IDLE_EXIT_S = 5.0
"""The worker thread exits after this long with nothing to do (a later submit starts a new one), so an
unused scheduler never pins its model in memory through a parked thread."""


class SchedulerClosedError(RuntimeError):
    """The scheduler was closed: it takes no new jobs (or, with ``close(drain=False)``, dropped this one)."""


class QueueFullError(RuntimeError):
    """``max_queue`` jobs are already waiting; try again later (the server answers 429)."""


class DeadlineExceededError(TimeoutError):
    """The job's deadline passed before its first batch started; it was not run (the server answers 504)."""


@dataclass(frozen=True)
class BatchStats:
    """One model batch, as passed to the listeners (for metrics)."""

    jobs: int
    """Jobs with at least one window in this batch."""
    windows: int
    tokens: int
    """Real tokens (sum of window lengths)."""
    padded_tokens: int
    """Rows x longest window: what the model computed."""
    seconds: float
    """Wall time of the forward pass, host transfers included."""
    queue_waits: tuple[float, ...] = ()
    """Seconds each job whose first batch this is waited in the queue: from :meth:`BatchScheduler.submit` to the
    start of this batch (``max_wait_ms`` gathering included); a job dropped before it started has none."""


@dataclass(eq=False)
class _Job(Generic[T]):
    windows: Sequence[Window]
    future: Future[T]
    deadline: float | None
    on_progress: Callable[[int, int], None] | None
    then: Callable[[list[WindowScores]], T] | None
    context: contextvars.Context
    submitted: float
    tokens: int
    scores: list[WindowScores | None] = field(default_factory=list)
    done: int = 0
    started: bool = False


_Ref = tuple[_Job[Any], int]  # a job and the index of one of its windows


class BatchScheduler:
    """Cross-call dynamic batching for one model.

    Args:
        model: the loaded model every batch runs through.
        max_batch_tokens: token budget of one padded batch (rows x longest window).
        max_padding: a batch stops growing when its padded size would exceed ``1 + max_padding`` times its
            real tokens.
        max_wait_ms: when the worker is idle and a job arrives, how long it waits for more jobs before the first
            batch (it stops waiting once the queued windows fill the token budget). ``0``: start at once with
            whatever is queued; jobs arriving while a batch runs join the next batch anyway.
        max_queue: most jobs waiting for their first batch; :meth:`submit` raises :class:`QueueFullError`
            beyond it. ``None``: unbounded.
        max_batch_jobs: most jobs whose windows share one batch (``1`` turns cross-call batching off, for
            comparisons). ``None``: unbounded.
        name: shown in the worker thread's name.
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        max_batch_tokens: int,
        max_padding: float,
        max_wait_ms: float = 0.0,
        max_queue: int | None = None,
        max_batch_jobs: int | None = None,
        name: str = "model",
    ) -> None:
        self.model = model
        self.max_batch_tokens: int = check_count(max_batch_tokens, "max_batch_tokens", 1)  # type: ignore[assignment]
        self.max_padding: float = _required(check_non_negative(max_padding, "max_padding"), "max_padding")
        self.max_wait_ms: float = _required(check_non_negative(max_wait_ms, "max_wait_ms"), "max_wait_ms")
        self.max_queue = check_count(max_queue, "max_queue", 1)
        self.max_batch_jobs = check_count(max_batch_jobs, "max_batch_jobs", 1)
        self.name = name
        self._cond = threading.Condition(threading.RLock())
        self._jobs: list[_Job[Any]] = []  # unfinished jobs, oldest first
        self._listeners: list[Callable[[BatchStats], None]] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._changed = True  # the job set changed since the cached plan was made
        self._sequence = itertools.count()
        self._waits: list[float] = []  # queue waits of jobs started since the last batch ran (worker thread only)

    # --- public API ------------------------------------------------------------------------------------

    def submit(
        self,
        windows: Sequence[Window],
        *,
        deadline: float | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        then: Callable[[list[WindowScores]], T] | None = None,
    ) -> Future[Any]:
        """Queue ``windows`` for scoring; the future's result is their :class:`WindowScores`, in order.

        ``deadline`` (a :func:`time.monotonic` time): if it passes before the job's first batch starts, the
        future fails with :class:`DeadlineExceededError`. ``on_progress(done, total)``: called from the worker
        after each batch holding some of these windows (done/total count this job's windows). ``then``: a
        function of the scores whose return value becomes the future's result, run in the worker when the
        last window is scored (aggregation). Both run in a copy of the caller's context (context variables
        are kept); an exception in either fails this job only.

        Cancelling the future before its first batch starts drops the job. Raises
        :class:`SchedulerClosedError` after :meth:`close`, :class:`QueueFullError` when ``max_queue`` jobs wait.
        """
        if deadline is not None and not isinstance(deadline, (int, float)):
            raise TypeError(f"deadline must be a time.monotonic() float or None, got {type(deadline).__name__}")
        for name, fn in (("on_progress", on_progress), ("then", then)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable or None, got {type(fn).__name__}")
        windows = list(windows)
        future: Future[Any] = Future()
        job: _Job[Any] = _Job(
            windows=windows,
            future=future,
            deadline=None if deadline is None else float(deadline),
            on_progress=on_progress,
            then=then,
            context=contextvars.copy_context(),
            submitted=time.monotonic(),
            tokens=sum(len(w) for w in windows),
            scores=[None] * len(windows),
        )
        with self._cond:
            if self._closed:
                raise SchedulerClosedError(f"the scheduler of {self.name} is closed; it takes no new jobs")
            if not windows:  # nothing to run (every document blank): done now, in the caller's thread
                future.set_running_or_notify_cancel()
                self._finish(job)
                return future
            if self.max_queue is not None and self.queue_depth >= self.max_queue:
                raise QueueFullError(f"{self.queue_depth} jobs are already waiting (max_queue={self.max_queue})")
            job.started = False
            self._jobs.append(job)
            self._changed = True
            future.add_done_callback(self._forget_if_cancelled)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name=f"semantic-highlight-scheduler[{self.name}]", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        return future

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for their first batch."""
        with self._cond:
            return sum(1 for job in self._jobs if not job.started)

    @property
    def in_flight(self) -> int:
        """Jobs whose first batch has started and that are not finished."""
        with self._cond:
            return sum(1 for job in self._jobs if job.started)

    @property
    def closed(self) -> bool:
        return self._closed

    def add_listener(self, listener: Callable[[BatchStats], None]) -> None:
        """Call ``listener(stats)`` from the worker after each batch (metrics); its exceptions are logged."""
        if not callable(listener):
            raise TypeError(f"listener must be callable, got {type(listener).__name__}")
        with self._cond:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[BatchStats], None]) -> None:
        with self._cond:
            self._listeners.remove(listener)

    def close(self, drain: bool = True, timeout: float | None = None) -> bool:
        """Stop taking jobs; with ``drain`` finish every queued and running job first, else fail the queued
        ones with :class:`SchedulerClosedError` (running ones still finish). Waits up to ``timeout`` seconds
        (``None``: as long as it takes) for the worker to stop; returns whether it has. Idempotent."""
        dropped: list[_Job[Any]] = []
        with self._cond:
            self._closed = True
            if not drain:
                dropped = [job for job in self._jobs if not job.started]
                self._jobs = [job for job in self._jobs if job.started]
                self._changed = True
            thread = self._thread
            self._cond.notify_all()
        for job in dropped:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(SchedulerClosedError("the scheduler was closed before this job started"))
        if thread is None or thread is threading.current_thread():
            return thread is None
        thread.join(timeout)
        return not thread.is_alive()

    # --- worker ----------------------------------------------------------------------------------------

    def _forget_if_cancelled(self, future: Future[Any]) -> None:
        if future.cancelled():
            with self._cond:
                self._jobs = [job for job in self._jobs if job.future is not future]
                self._changed = True

    def _work(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a bug or an interpreter exit: fail every job rather than leave it hanging
            with self._cond:
                jobs, self._jobs, self._thread = self._jobs, [], None
            for job in jobs:
                if not job.future.done() and (job.started or job.future.set_running_or_notify_cancel()):
                    job.future.set_exception(exc)
            raise

    def _loop(self) -> None:
        plan: list[list[_Ref]] = []
        while True:
            with self._cond:
                if not self._wait_for_work():
                    self._thread = None
                    return
                jobs = self._admitted()
                if self._changed or not plan:
                    plan = self._plan(jobs)
                    self._changed = False
                index = self._batch_of(plan, jobs[0])
                batch = plan.pop(index)
                starting = list({id(job): job for job, _ in batch if not job.started}.values())
                for job in starting:
                    job.started = True
            if not self._start(starting):
                plan = []  # a job was dropped: plan again without it
                continue
            self._run(batch)

    def _admitted(self) -> list[_Job[Any]]:
        """Under the lock: the oldest jobs whose windows fill about one token budget (always the oldest, at most
        ``max_batch_jobs``). Later jobs wait for these to finish, so each job completes in as few batches as its
        own windows need instead of every queued job advancing together and all finishing last."""
        limit = len(self._jobs) if self.max_batch_jobs is None else self.max_batch_jobs
        admitted: list[_Job[Any]] = []
        tokens = 0
        for job in self._jobs[:limit]:
            if admitted and tokens + job.tokens > self.max_batch_tokens:
                break
            admitted.append(job)
            tokens += job.tokens
        return admitted

    def _wait_for_work(self) -> bool:
        """Under the lock: wait until there is a job to run (and, when idle, ``max_wait_ms`` to gather more).
        False when the worker should exit (closed and empty, or idle too long)."""
        idle_since = time.monotonic()
        while not self._jobs:
            if self._closed:
                return False
            remaining = IDLE_EXIT_S - (time.monotonic() - idle_since)
            if remaining <= 0:
                return False
            self._cond.wait(remaining)
        if self.max_wait_ms > 0 and not any(job.started for job in self._jobs):
            until = self._jobs[0].submitted + self.max_wait_ms / 1000.0
            while (
                not self._closed
                and self._jobs
                and sum(job.tokens for job in self._jobs) < self.max_batch_tokens
                and (left := until - time.monotonic()) > 0
            ):
                self._cond.wait(left)
            if not self._jobs:
                return self._wait_for_work()
        return True

    def _plan(self, jobs: Sequence[_Job[Any]]) -> list[list[_Ref]]:
        refs: list[_Ref] = [(job, i) for job in jobs for i, score in enumerate(job.scores) if score is None]
        batches = plan_batches([len(job.windows[i]) for job, i in refs], self.max_batch_tokens, self.max_padding)
        return [[refs[k] for k in batch] for batch in batches]

    @staticmethod
    def _batch_of(plan: list[list[_Ref]], oldest: _Job[Any]) -> int:
        """The first (longest) batch holding a window of the oldest job: first come, first served."""
        for index, batch in enumerate(plan):
            if any(job is oldest for job, _ in batch):
                return index
        return 0

    def _start(self, starting: list[_Job[Any]]) -> bool:
        """Mark jobs as running; drop cancelled ones and fail those past their deadline. True when all start."""
        now = time.monotonic()
        dropped = []
        for job in starting:
            if not job.future.set_running_or_notify_cancel():
                dropped.append(job)
            elif job.deadline is not None and now > job.deadline:
                late = now - job.deadline
                job.future.set_exception(DeadlineExceededError(f"deadline passed {late:.3f} s before the job started"))
                dropped.append(job)
            else:
                self._waits.append(now - job.submitted)
        if dropped:
            self._drop(dropped)
        return not dropped

    def _drop(self, jobs: list[_Job[Any]]) -> None:
        with self._cond:
            gone = {id(job) for job in jobs}
            self._jobs = [job for job in self._jobs if id(job) not in gone]
            self._changed = True

    def _run(self, batch: list[_Ref]) -> None:
        windows = [job.windows[i] for job, i in batch]
        waits, self._waits = tuple(self._waits), []
        began = time.perf_counter()
        try:
            scores = score_batch(self.model, windows)
        except Exception as exc:  # the model failed: fail this batch's jobs only, keep serving the others
            logger.exception("model batch of %d windows failed", len(windows))
            failed = list({id(job): job for job, _ in batch}.values())
            self._drop(failed)
            for job in failed:
                job.future.set_exception(exc)
            return
        seconds = time.perf_counter() - began
        touched: dict[int, _Job[Any]] = {}
        for (job, i), score in zip(batch, scores, strict=True):
            job.scores[i] = score
            job.done += 1
            touched[id(job)] = job
        finished = []
        for job in touched.values():
            if job.on_progress is not None:
                try:
                    job.context.run(job.on_progress, job.done, len(job.windows))
                except Exception as exc:
                    self._drop([job])
                    job.future.set_exception(exc)
                    continue
            if job.done == len(job.windows):
                finished.append(job)
        if finished:
            self._drop(finished)
            for job in finished:
                self._finish(job)
        lengths = [len(w) for w in windows]
        stats = BatchStats(len(touched), len(windows), sum(lengths), len(lengths) * max(lengths), seconds, waits)
        with self._cond:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(stats)
            except Exception:
                logger.exception("batch listener %r failed", listener)

    @staticmethod
    def _finish(job: _Job[Any]) -> None:
        scores = [s for s in job.scores if s is not None]
        try:
            result = scores if job.then is None else job.context.run(job.then, scores)
        except Exception as exc:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)


def _required(value: float | None, name: str) -> float:
    if value is None:
        raise TypeError(f"{name} must be a number, got None")
    return value
