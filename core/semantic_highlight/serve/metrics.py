"""Prometheus metrics of one app (its own registry, so several apps in one process do not collide).

:class:`ServeMetrics` holds the series; :class:`MetricsMiddleware` (plain ASGI, so request bodies and
disconnect messages pass through untouched) counts every request by route template and status and times it.
Batch series are fed by the scheduler's batch-stats listener (see ``runner.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE_LATEST", "MetricsMiddleware", "ServeMetrics", "arrival_time"]

_ARRIVED = "semantic_highlight.arrived"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_COUNT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_TOKEN_BUCKETS = (64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
_WAIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServeMetrics:
    """All series the server exports, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "semantic_highlight_requests",
            "HTTP requests answered, by route and status",
            ["route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "semantic_highlight_request_seconds",
            "Time from request arrival to the last response byte, by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("semantic_highlight_requests_in_flight", "HTTP requests being answered", registry=r)
        self.queue_depth = Gauge("semantic_highlight_queue_depth", "Requests waiting for the model", registry=r)
        self.ready = Gauge("semantic_highlight_ready", "1 once the model is loaded and warmed up", registry=r)
        self.batch_requests = Histogram(
            "semantic_highlight_batch_requests",
            "Requests sharing one scheduler batch",
            buckets=_COUNT_BUCKETS,
            registry=r,
        )
        self.batch_tokens = Histogram(
            "semantic_highlight_batch_tokens",
            "Real (unpadded) tokens in one scheduler batch",
            buckets=_TOKEN_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "semantic_highlight_batch_seconds",
            "Model time of one scheduler batch",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "semantic_highlight_queue_wait_seconds",
            "Per request (one scheduler job, all its documents): time from joining the batching queue to the start "
            "of its first model batch",
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.tokens_scored = Counter(
            "semantic_highlight_tokens_scored", "Real tokens run through the model", registry=r
        )
        self.documents_scored = Counter(
            "semantic_highlight_documents_scored", "Documents answered by the model", registry=r
        )
        self.dropped = Counter(
            "semantic_highlight_requests_dropped",
            "Requests dropped before their batch started, by reason",
            ["reason"],
            registry=r,
        )

    def track_queue_depth(self, depth: Callable[[], float]) -> None:
        """Read the queue depth from the scheduler at scrape time."""
        self.queue_depth.set_function(depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (``/v1/highlight``, not the raw path)."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope[_ARRIVED] = time.monotonic()
        status = 500
        self.metrics.in_flight.inc()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_flight.dec()
            route = _route_label(scope)
            self.metrics.requests.labels(route=route, status=str(status)).inc()
            self.metrics.latency.labels(route=route).observe(time.perf_counter() - started)


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "unmatched"


def arrival_time(scope: Scope) -> float:
    """When the request arrived (:func:`time.monotonic`), as stamped by :class:`MetricsMiddleware`."""
    arrived = scope.get(_ARRIVED)
    return float(arrived) if arrived is not None else time.monotonic()
