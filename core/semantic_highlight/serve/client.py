"""RemoteHighlighter: :class:`~semantic_highlight.SemanticHighlighter`'s ``highlight`` / ``highlight_batch``
over HTTP against ``semantic-highlight serve``, returning the same :class:`HighlightResult` objects.

Arguments are checked here exactly as the engine checks them (same ``TypeError`` / ``ValueError``), so code
moves between the in-process engine and a server without new error handling. Every call is idempotent, so
these are retried with exponential backoff (``Retry-After`` is honoured): 429 and 503 answers (queue full, model
loading), connection failures, and 500/502/504 answers that do not carry the server's own JSON error (a proxy's:
Ray Serve answers 500 when a replica dies mid-request, a load balancer 502/504). A 5xx in the server's own error
shape is its deliberate answer (an ``internal_error`` the same request would hit again, a ``deadline_exceeded``
after the server's own wait) and is not retried. Any error answer left raises :class:`RemoteHighlightError` with
the server's type, message and offending field. Needs only ``httpx`` (the ``[client]`` extra), not the server's
packages.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, overload

import httpx

from ..aggregate import check_choice, check_count
from ..highlighter import Document, _check_documents
from ..options import SelectionOptions
from ..packing import QUERY_TRUNCATIONS, QueryTruncation
from ..results import HighlightResult

__all__ = ["RemoteHighlightError", "RemoteHighlighter"]

_RETRY_STATUSES = frozenset({429, 503})
"""Always retried: the server is busy or still loading (it says when to come back with ``Retry-After``)."""
_PROXY_RETRY_STATUSES = frozenset({500, 502, 504})
"""Retried when the body is not the server's own JSON error, i.e. when a proxy answered for a replica or upstream
that died or timed out mid-request: another attempt (another replica) can succeed."""
_RETRY_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError)
_MAX_BACKOFF_S = 10.0


class RemoteHighlightError(RuntimeError):
    """The server answered with an error: ``status`` (HTTP), ``type``, ``message`` and ``param`` (the field)."""

    def __init__(self, status: int, type: str, message: str, param: str | None = None) -> None:
        where = f" (param: {param})" if param else ""
        super().__init__(f"HTTP {status} {type}: {message}{where}")
        self.status = status
        self.type = type
        self.message = message
        self.param = param


class RemoteHighlighter:
    """Highlights through a ``semantic-highlight serve`` server; a drop-in for ``SemanticHighlighter`` calls.

    Args:
        base_url: the server, e.g. ``"http://127.0.0.1:8000"`` (a path prefix is kept when mounted under one).
        api_key: sent as ``Authorization: Bearer <api_key>``.
        timeout: seconds for one HTTP attempt (connect, write, read).
        max_retries: extra attempts after a 429/503 answer, a proxy's 500/502/504 or a connection failure (``0``:
            none).
        backoff: first retry delay in seconds; doubled on each retry (with jitter), capped at 10 s.

    One instance is safe to share between threads; the async methods may be used from any event loop.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
            raise ValueError(f"timeout must be a number > 0, got {timeout!r}")
        self.base_url = base_url.rstrip("/")
        self.max_retries = check_count(max_retries, "max_retries", 0) or 0
        self.backoff = float(backoff)
        self.timeout = float(timeout)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client: httpx.Client | None = None
        self._async: dict[int, tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = {}
        self._lock = threading.Lock()
        self._model_card: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"RemoteHighlighter(base_url={self.base_url!r})"

    # --- the SemanticHighlighter surface -----------------------------------------------------------------

    @overload
    def highlight(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
        self,
        query: str,
        documents: str,
        *,
        threshold: float | None = ...,
        fallback_threshold: float | None = ...,
        relative_threshold: float | None = ...,
        top_k: int | None = ...,
        min_score: float | None = ...,
        selection: SelectionOptions | None = ...,
        query_truncation: QueryTruncation | None = ...,
        show_progress: bool | None = ...,
        on_batch: Callable[[int, int], None] | None = ...,
    ) -> HighlightResult: ...
    @overload
    def highlight(
        self,
        query: str,
        documents: Sequence[Document],
        *,
        threshold: float | None = ...,
        fallback_threshold: float | None = ...,
        relative_threshold: float | None = ...,
        top_k: int | None = ...,
        min_score: float | None = ...,
        selection: SelectionOptions | None = ...,
        query_truncation: QueryTruncation | None = ...,
        show_progress: bool | None = ...,
        on_batch: Callable[[int, int], None] | None = ...,
    ) -> list[HighlightResult]: ...

    def highlight(
        self,
        query: str,
        documents: Document | Sequence[Document],
        *,
        threshold: float | None = None,
        fallback_threshold: float | None = None,
        relative_threshold: float | None = None,
        top_k: int | None = None,
        min_score: float | None = None,
        selection: SelectionOptions | None = None,
        query_truncation: QueryTruncation | None = None,
        show_progress: bool | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> HighlightResult | list[HighlightResult]:
        """Highlight one document (a str -> one result) or a list of documents (-> results in input order).

        ``show_progress`` is accepted and ignored; ``on_batch(1, 1)`` is called once the answer arrives.
        """
        options = _options(
            selection, query_truncation, threshold, fallback_threshold, relative_threshold, top_k, min_score
        )
        single, payload = _highlight_payload(query, documents, options)
        data = self._post("/v1/highlight", payload)
        return _finish_highlight(data, single, on_batch)

    def highlight_batch(
        self,
        pairs: Sequence[tuple[str, Document | Sequence[Document]]],
        *,
        threshold: float | None = None,
        fallback_threshold: float | None = None,
        relative_threshold: float | None = None,
        top_k: int | None = None,
        min_score: float | None = None,
        selection: SelectionOptions | None = None,
        query_truncation: QueryTruncation | None = None,
        show_progress: bool | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> list[list[HighlightResult]]:
        """Many ``(query, documents)`` pairs in one request; one result list per pair."""
        options = _options(
            selection, query_truncation, threshold, fallback_threshold, relative_threshold, top_k, min_score
        )
        payload = _batch_payload(pairs, options)
        data = self._post("/v1/highlight/batch", payload)
        return _finish_batch(data, on_batch)

    @overload
    async def ahighlight(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
        self,
        query: str,
        documents: str,
        *,
        threshold: float | None = ...,
        fallback_threshold: float | None = ...,
        relative_threshold: float | None = ...,
        top_k: int | None = ...,
        min_score: float | None = ...,
        selection: SelectionOptions | None = ...,
        query_truncation: QueryTruncation | None = ...,
        show_progress: bool | None = ...,
        on_batch: Callable[[int, int], None] | None = ...,
    ) -> HighlightResult: ...
    @overload
    async def ahighlight(
        self,
        query: str,
        documents: Sequence[Document],
        *,
        threshold: float | None = ...,
        fallback_threshold: float | None = ...,
        relative_threshold: float | None = ...,
        top_k: int | None = ...,
        min_score: float | None = ...,
        selection: SelectionOptions | None = ...,
        query_truncation: QueryTruncation | None = ...,
        show_progress: bool | None = ...,
        on_batch: Callable[[int, int], None] | None = ...,
    ) -> list[HighlightResult]: ...

    async def ahighlight(
        self,
        query: str,
        documents: Document | Sequence[Document],
        *,
        threshold: float | None = None,
        fallback_threshold: float | None = None,
        relative_threshold: float | None = None,
        top_k: int | None = None,
        min_score: float | None = None,
        selection: SelectionOptions | None = None,
        query_truncation: QueryTruncation | None = None,
        show_progress: bool | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> HighlightResult | list[HighlightResult]:
        """:meth:`highlight` without blocking the event loop."""
        options = _options(
            selection, query_truncation, threshold, fallback_threshold, relative_threshold, top_k, min_score
        )
        single, payload = _highlight_payload(query, documents, options)
        data = await self._apost("/v1/highlight", payload)
        return _finish_highlight(data, single, on_batch)

    async def ahighlight_batch(
        self,
        pairs: Sequence[tuple[str, Document | Sequence[Document]]],
        *,
        threshold: float | None = None,
        fallback_threshold: float | None = None,
        relative_threshold: float | None = None,
        top_k: int | None = None,
        min_score: float | None = None,
        selection: SelectionOptions | None = None,
        query_truncation: QueryTruncation | None = None,
        show_progress: bool | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> list[list[HighlightResult]]:
        """:meth:`highlight_batch` without blocking the event loop."""
        options = _options(
            selection, query_truncation, threshold, fallback_threshold, relative_threshold, top_k, min_score
        )
        payload = _batch_payload(pairs, options)
        data = await self._apost("/v1/highlight/batch", payload)
        return _finish_batch(data, on_batch)

    # --- server information ------------------------------------------------------------------------------

    def model_card(self) -> dict[str, Any]:
        """The served model's ``/v1/models`` entry (id, max length, default thresholds, ...); fetched once."""
        if self._model_card is None:
            data = self._request("GET", "/v1/models", None)
            self._model_card = dict(data["data"][0])
        return self._model_card

    @property
    def model_name(self) -> str:
        """The served model's id (what framework events and metadata name the model by)."""
        return str(self.model_card()["id"])

    @property
    def threshold(self) -> float:
        """The server's default threshold (what a result's ``threshold`` is when none is passed)."""
        return float(self.model_card()["default_threshold"])

    def ready(self) -> bool:
        """Whether the server answers ``/ready`` with 200 (model loaded and warmed up); never raises."""
        try:
            return self._client_sync().get(self.base_url + "/ready").status_code == 200
        except httpx.HTTPError:
            return False

    # --- lifecycle ---------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the synchronous connection pool (async pools close with :meth:`aclose`)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the pool of the running event loop, and the synchronous one."""
        loop = asyncio.get_running_loop()
        entry = self._async.pop(id(loop), None)
        if entry is not None:
            await entry[1].aclose()
        self.close()

    def __enter__(self) -> RemoteHighlighter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> RemoteHighlighter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- HTTP with retries -------------------------------------------------------------------------------

    def _client_sync(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout, headers=self._headers)
            return self._client

    def _client_async(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        entry = self._async.get(id(loop))
        if entry is None or entry[0] is not loop:
            entry = (loop, httpx.AsyncClient(timeout=self.timeout, headers=self._headers))
            self._async[id(loop)] = entry
        return entry[1]

    def _post(self, path: str, payload: dict[str, Any]) -> Any:
        return self._request("POST", path, payload)

    def _request(self, method: str, path: str, payload: dict[str, Any] | None) -> Any:
        client = self._client_sync()
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = client.request(method, self.base_url + path, json=payload)
            except _RETRY_ERRORS:
                if last:
                    raise
                time.sleep(self._delay(attempt, None))
                continue
            if not last and _retryable(response):
                time.sleep(self._delay(attempt, response))
                continue
            return _decode(response)
        raise AssertionError("unreachable")

    async def _apost(self, path: str, payload: dict[str, Any]) -> Any:
        client = self._client_async()
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = await client.post(self.base_url + path, json=payload)
            except _RETRY_ERRORS:
                if last:
                    raise
                await asyncio.sleep(self._delay(attempt, None))
                continue
            if not last and _retryable(response):
                await asyncio.sleep(self._delay(attempt, response))
                continue
            return _decode(response)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        """``Retry-After`` when the server sent one, else exponential backoff with jitter; at most 10 s."""
        if response is not None:
            try:
                return min(_MAX_BACKOFF_S, max(0.0, float(response.headers.get("retry-after", ""))))
            except ValueError:
                pass
        return min(_MAX_BACKOFF_S, self.backoff * (2**attempt) * (0.5 + random.random()))


def _options(
    selection: SelectionOptions | None,
    query_truncation: QueryTruncation | None,
    threshold: float | None,
    fallback_threshold: float | None,
    relative_threshold: float | None,
    top_k: int | None,
    min_score: float | None,
) -> dict[str, Any]:
    """The options as JSON, checked as the engine checks them (same exceptions, before any request);
    keywords override ``selection``, unset fields are left to the server's defaults."""
    if selection is not None and not isinstance(selection, SelectionOptions):
        raise TypeError(f"selection must be a SelectionOptions or None, got {type(selection).__name__}")
    truncation = check_choice(query_truncation, "query_truncation", QUERY_TRUNCATIONS)
    chosen = (selection or SelectionOptions()).override(
        threshold=threshold,
        fallback_threshold=fallback_threshold,
        relative_threshold=relative_threshold,
        top_k=top_k,
        min_score=min_score,
    )
    options: dict[str, Any] = chosen.kwargs()
    if truncation is not None:
        options["query_truncation"] = truncation
    return options


def _json_documents(documents: Any, name: str) -> list[str | list[str]]:
    return [d if isinstance(d, str) else list(d) for d in _check_documents(documents, name)]


def _highlight_payload(query: Any, documents: Any, options: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, got {type(query).__name__}")
    single = isinstance(documents, str)
    return single, {"query": query, "documents": _json_documents(documents, "documents"), **options}


def _batch_payload(pairs: Any, options: dict[str, Any]) -> dict[str, Any]:
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise TypeError("pairs must be a list of (query, documents) tuples")
    items: list[dict[str, Any]] = []
    for n, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"pairs[{n}] must be a (query, documents) tuple")
        query, documents = pair
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, got {type(query).__name__}")
        items.append({"query": query, "documents": _json_documents(documents, "documents")})
    return {"items": items, **options}


def _server_error(response: httpx.Response) -> RemoteHighlightError | None:
    """The server's own JSON error (``{"error": {"type", "message", "param"}}``) in ``response``, else ``None``
    (another body: a proxy's or load balancer's page)."""
    try:
        error = response.json()["error"]
        param = error.get("param")
        return RemoteHighlightError(
            response.status_code, str(error["type"]), str(error["message"]), None if param is None else str(param)
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _retryable(response: httpx.Response) -> bool:
    """Whether another attempt may succeed: 429/503, or a 500/502/504 that is not the server's own error."""
    status = response.status_code
    return status in _RETRY_STATUSES or (status in _PROXY_RETRY_STATUSES and _server_error(response) is None)


def _decode(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer; :class:`RemoteHighlightError` for any other."""
    if response.is_success:
        return response.json()
    error = _server_error(response)
    if error is None:  # not our JSON error shape (a proxy's page, say)
        error = RemoteHighlightError(response.status_code, "http_error", response.text[:500] or response.reason_phrase)
    raise error


def _finish_highlight(
    data: Any, single: bool, on_batch: Callable[[int, int], None] | None
) -> HighlightResult | list[HighlightResult]:
    results = [HighlightResult.from_dict(r) for r in data["results"]]
    if on_batch is not None:
        on_batch(1, 1)
    return results[0] if single else results


def _finish_batch(data: Any, on_batch: Callable[[int, int], None] | None) -> list[list[HighlightResult]]:
    results = [[HighlightResult.from_dict(r) for r in item] for item in data["results"]]
    if on_batch is not None:
        on_batch(1, 1)
    return results
