"""The server's side of the engine: load and warm up the model, then hand requests to its shared scheduler.

Every request becomes one job of ``SemanticHighlighter.submit_batch`` (the engine's one batching path: its
scheduler packs the windows of all waiting requests together), awaited with :func:`asyncio.wrap_future` so the
event loop never waits on the model. While a request waits, its connection is watched: a client that goes
away before its batch starts has its job cancelled (dropped, never run). Engine errors become API errors:
full queue 429, deadline 504, closed scheduler 503, bad arguments 422.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request

from ..highlighter import Document, SemanticHighlighter
from ..results import HighlightResult
from ..scheduler import BatchStats, DeadlineExceededError, QueueFullError, SchedulerClosedError
from .errors import APIError
from .metrics import ServeMetrics
from .settings import ServeSettings

__all__ = ["ClientDisconnected", "ModelService"]

logger = logging.getLogger(__name__)

WARMUP_PAIRS: list[tuple[str, list[str]]] = [
    ("Who wrote the film?", ["The film was directed by A, with a screenplay by A and B. It stars C."]),
    ("这部电影是谁写的？", ["这部电影由甲执导，甲和乙编剧。丙主演。"]),
]
"""One small English and one Chinese pair: the first batch pays the one-off costs (kernels, allocator)."""


_PARAM = re.compile(r"([A-Za-z_]\w*(?:\[\d+\])*) must ")


class ClientDisconnected(Exception):
    """The client went away while its request waited; nothing is sent back."""


class ModelService:
    """Owns the highlighter of one app: loading state, warm-up, metrics hooks, and request submission."""

    def __init__(
        self, settings: ServeSettings, metrics: ServeMetrics, highlighter: SemanticHighlighter | None = None
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.highlighter = highlighter
        self.owns_highlighter = highlighter is None
        self.ready = False
        self.error: str | None = None
        self._ranking_head = False

    # --- lifecycle ---------------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the model (unless one was given) and warm it up; blocking, run in a worker thread."""
        s = self.settings
        try:
            if self.highlighter is None:
                started = time.perf_counter()
                self.highlighter = SemanticHighlighter(
                    model=s.model,
                    device=s.device,
                    dtype=s.dtype,
                    max_batch_tokens=s.max_batch_tokens,
                    max_wait_ms=s.max_wait_ms,
                    max_queue=s.max_queue,
                    max_batch_jobs=s.max_batch_requests,
                )
                logger.info("loaded %s in %.1f s", self.highlighter, time.perf_counter() - started)
            scheduler = self.highlighter.scheduler
            scheduler.add_listener(self._on_batch)
            self.metrics.track_queue_depth(lambda: float(scheduler.queue_depth))
            started = time.perf_counter()
            warm = self.highlighter.submit_batch(WARMUP_PAIRS).result()
            self._ranking_head = any(r.ranking_score is not None for rs in warm for r in rs)
            logger.info("warm-up took %.2f s", time.perf_counter() - started)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            logger.error("could not load the model: %s", self.error)
            raise
        self.ready = True
        self.metrics.ready.set(1)

    def close(self) -> None:
        """Finish queued and running jobs, then stop the scheduler's worker (only for a model this app loaded)."""
        self.ready = False
        self.metrics.ready.set(0)
        if self.highlighter is not None:
            with contextlib.suppress(ValueError):  # never added: the load failed first
                self.highlighter.scheduler.remove_listener(self._on_batch)
            if self.owns_highlighter:
                self.highlighter.close(drain=True)

    def _on_batch(self, stats: BatchStats) -> None:
        self.metrics.batch_requests.observe(stats.jobs)
        self.metrics.batch_tokens.observe(stats.tokens)
        self.metrics.batch_seconds.observe(stats.seconds)
        self.metrics.tokens_scored.inc(stats.tokens)
        for wait in stats.queue_waits:  # the jobs (requests) this batch started
            self.metrics.queue_wait.observe(wait)

    # --- what is served ---------------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        """``settings.model_id``, else the engine's model name (``"default"`` for the embedded model)."""
        if self.settings.model_id:
            return self.settings.model_id
        if self.highlighter is not None:
            return self.highlighter.model.name
        return "default" if self.settings.model in (None, "default") else str(self.settings.model)

    def model_card(self) -> dict[str, Any]:
        """The ``/v1/models`` entry of the served model (503 until it is loaded)."""
        h = self.require_ready()
        model = h.model
        return {
            "id": self.model_id,
            "object": "model",
            "owned_by": "semantic-highlight",
            "max_length": model.max_length,
            "max_positions": model.max_positions,
            "default_threshold": h.threshold,
            "default_fallback_threshold": h.fallback_threshold,
            "default_relative_threshold": h.relative_threshold,
            "languages": ["en", "zh"] if model.name == "default" else None,
            "relevance_score": "ranking_head" if self.has_ranking_head else "best_sentence",
            "device": str(model.device),
            "dtype": _dtype_name(model),
        }

    @property
    def has_ranking_head(self) -> bool:
        """Whether the checkpoint has a document relevance head (seen on the warm-up results)."""
        return self._ranking_head

    # --- requests ----------------------------------------------------------------------------------------

    def require_ready(self) -> SemanticHighlighter:
        if not self.ready or self.highlighter is None:
            message = f"the model failed to load: {self.error}" if self.error else "the model is loading"
            raise APIError(503, "not_ready", message, headers={"Retry-After": "1"})
        return self.highlighter

    async def highlight(
        self,
        request: Request,
        pairs: Sequence[tuple[str, Sequence[Document]]],
        options: dict[str, Any],
        arrived: float,
    ) -> list[list[HighlightResult]]:
        """Results of ``pairs`` through the shared scheduler; :class:`APIError` or :class:`ClientDisconnected`."""
        highlighter = self.require_ready()
        deadline = arrived + self.settings.request_timeout_s
        try:
            # Splitting and tokenizing happen in submit_batch: off the event loop, as a 1 MB document takes a while.
            future = await asyncio.to_thread(highlighter.submit_batch, pairs, deadline=deadline, **options)
        except QueueFullError as exc:
            self.metrics.dropped.labels(reason="queue_full").inc()
            raise APIError(429, "queue_full", str(exc), headers={"Retry-After": "1"}) from None
        except SchedulerClosedError:
            raise APIError(503, "shutting_down", "the server is shutting down", headers={"Retry-After": "1"}) from None
        except (TypeError, ValueError) as exc:
            raise APIError(422, "invalid_request", str(exc), _param_of(str(exc))) from None
        waiting: asyncio.Future[Any] = asyncio.wrap_future(future)
        watcher: asyncio.Future[Any] = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait({waiting, watcher}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # this task was cancelled: drop the job too
            future.cancel()
            watcher.cancel()
            raise
        if not waiting.done():
            if future.cancel():
                self.metrics.dropped.labels(reason="client_disconnected").inc()
                logger.info("client went away; request dropped before its batch started")
            raise ClientDisconnected()
        watcher.cancel()
        try:
            results = waiting.result()
        except DeadlineExceededError:
            self.metrics.dropped.labels(reason="deadline").inc()
            raise APIError(
                504, "deadline_exceeded", f"not started within request_timeout_s={self.settings.request_timeout_s}"
            ) from None
        except SchedulerClosedError:
            raise APIError(503, "shutting_down", "the server is shutting down", headers={"Retry-After": "1"}) from None
        except asyncio.CancelledError:
            raise ClientDisconnected() from None
        self.metrics.documents_scored.inc(sum(len(r) for r in results))
        return results


async def _disconnected(request: Request) -> None:
    """Return when the client disconnects (the body has been read, so the next message is the disconnect)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _param_of(message: str) -> str | None:
    """The argument an engine error names first (``documents[1][0] must be ...`` -> ``documents[1][0]``)."""
    match = _PARAM.match(message)
    return match.group(1) if match else None


def _dtype_name(model: Any) -> str:
    """The dtype the model computes in: autocast, int8 dynamic quantization, or its weights' dtype."""
    autocast = getattr(model, "autocast_dtype", None)
    if autocast is not None:
        return str(autocast).removeprefix("torch.")
    module = getattr(model, "ranking_model", None)
    if module is None:
        return "unknown"
    if any("quantized" in type(m).__module__ for m in module.modules()):
        return "int8"
    weight = next(module.parameters(), None)
    return str(weight.dtype).removeprefix("torch.") if weight is not None else "unknown"
