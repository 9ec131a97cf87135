"""The FastAPI app: routes, limits, lifespan. Build it with :func:`create_app`.

The model is loaded and warmed up in a worker thread after startup, so ``/health`` answers at once and
``/ready`` says 503 until the model can serve; on shutdown (uvicorn stops accepting on SIGTERM and lets
in-flight requests finish first) the scheduler drains whatever is still queued. Every route that runs the
model is one call of :meth:`ModelService.highlight`; the rerank routes only translate shapes (``rerank.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from .. import __version__
from ..highlighter import Document, SemanticHighlighter
from ..results import HighlightResult
from . import rerank
from .auth import bearer_dependency
from .errors import APIError, install_error_handlers
from .limits import BodyLimitMiddleware, check_request_size
from .metrics import CONTENT_TYPE_LATEST, MetricsMiddleware, ServeMetrics, arrival_time
from .responses import JSONResponse
from .runner import ClientDisconnected, ModelService
from .schemas import (
    ErrorResponse,
    HealthResponse,
    HighlightBatchRequest,
    HighlightBatchResponse,
    HighlightRequest,
    HighlightResponse,
    ModelList,
    ReadyResponse,
    RerankRequest,
    RerankResponse,
    TEIRank,
    TEIRerankRequest,
)
from .settings import ServeSettings

__all__ = ["STATIC_DIR", "create_app"]

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The web page: served at ``/`` (``index.html``) and ``/static/`` when the folder ships with the package."""

CLIENT_CLOSED_REQUEST = 499
"""Status recorded (never received) when the client went away before its answer (nginx's convention)."""


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse} for status in statuses}


_MODEL_ERRORS = _errors(400, 401, 413, 422, 429, 503, 504)


def create_app(
    highlighter: SemanticHighlighter | None = None,
    settings: ServeSettings | None = None,
    *,
    on_load_error: Callable[[BaseException], None] | None = None,
) -> FastAPI:
    """The HTTP app serving one shared model.

    Args:
        highlighter: an engine to serve (its scheduler settings apply: ``max_wait_ms``, ``max_queue``, ...);
            ``None``: load ``settings.model`` at startup with the settings' device, dtype and scheduler limits.
            A given highlighter is not closed at shutdown (its owner closes it).
        settings: limits, key, CORS and model settings; ``None``: :meth:`ServeSettings.from_env`.
        on_load_error: called (from a worker thread) when the model fails to load; the CLI stops the server.
    """
    settings = settings or ServeSettings.from_env()
    api_key = settings.resolve_api_key()
    metrics = ServeMetrics()
    service = ModelService(settings, metrics, highlighter)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loader = asyncio.create_task(_load(service, on_load_error))
        try:
            yield
        finally:
            if not loader.done():
                loader.cancel()
            await asyncio.to_thread(service.close)

    # FastAPI's /docs (Swagger UI) loads its script and styles from a CDN: a blank page on a server in a private
    # network. fastapi-offline serves its packaged copies from this app (/static-offline-docs) instead. No /redoc:
    # ReDoc's script still fetches its logo from its vendor's CDN.
    app = FastAPIOffline(
        redoc_url=None,
        title="semantic-highlight",
        version=__version__,
        summary="Sentence-level semantic highlighting: one shared model, batched across requests.",
        description=(
            "Highlight the sentences of documents that answer a query, by meaning (English, Chinese, mixed). "
            "Also answers rerank requests in the Cohere/Jina (`/v1/rerank`, `/v2/rerank`) and "
            'text-embeddings-inference (`/rerank`) shapes. Errors are `{"error": {"type", "message", "param"}}`.'
        ),
        lifespan=lifespan,
        default_response_class=JSONResponse,
        strict_content_type=False,  # a body sent without Content-Type (curl -d ... -H forgotten) is still JSON
    )
    app.state.settings = settings
    app.state.service = service
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_exception_handler(ClientDisconnected, _client_gone)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    api = APIRouter(dependencies=[Depends(bearer_dependency(api_key))], responses=_MODEL_ERRORS)
    _add_api_routes(api, service, settings)
    app.include_router(api)
    _add_service_routes(app, service, metrics)
    if (STATIC_DIR / "index.html").is_file():
        _add_page(app)
    return app


async def _client_gone(request: Request, exc: Exception) -> Response:
    """Nobody is listening any more; the status only shows in metrics and logs."""
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def _load(service: ModelService, on_load_error: Callable[[BaseException], None] | None) -> None:
    try:
        await asyncio.to_thread(service.load)
    except Exception as exc:  # logged by the service; /ready reports it
        if on_load_error is not None:
            on_load_error(exc)


# --- routes ------------------------------------------------------------------------------------------


def _add_api_routes(api: APIRouter, service: ModelService, settings: ServeSettings) -> None:
    async def run(
        request: Request, pairs: Sequence[tuple[str, Sequence[Document]]], options: dict[str, Any]
    ) -> list[list[HighlightResult]]:
        return await service.highlight(request, pairs, options, arrival_time(request.scope))

    @api.post("/v1/highlight", response_model=HighlightResponse, tags=["highlight"])
    async def highlight(body: HighlightRequest, request: Request) -> Response:
        """Highlight the sentences of each document that answer the query; results in input order."""
        pairs = [(body.query, body.documents)]
        check_request_size(settings, pairs, "documents")
        results = await run(request, pairs, body.engine_options())
        return JSONResponse({"model": service.model_id, "results": [r.to_dict() for r in results[0]]})

    @api.post("/v1/highlight/batch", response_model=HighlightBatchResponse, tags=["highlight"])
    async def highlight_batch(body: HighlightBatchRequest, request: Request) -> Response:
        """Many `(query, documents)` items in one request, options shared; one result list per item."""
        if len(body.items) > settings.max_items:
            raise APIError(
                413, "too_many_items", f"{len(body.items)} items, more than max_items={settings.max_items}", "items"
            )
        pairs = [(item.query, item.documents) for item in body.items]
        check_request_size(settings, pairs, "items")
        results = await run(request, pairs, body.engine_options())
        return JSONResponse({"model": service.model_id, "results": [[r.to_dict() for r in rs] for rs in results]})

    async def cohere_rerank(body: RerankRequest, request: Request, version: str) -> Response:
        texts = rerank.document_texts(body.documents)
        pairs = [(body.query, texts)]
        check_request_size(settings, pairs, "documents")
        results = await run(request, pairs, {})  # the checkpoint's default selection
        source = "ranking_head" if service.has_ranking_head else "best_sentence"
        return JSONResponse(rerank.cohere_response(results[0], body, service.model_id, version, source))

    @api.post("/v1/rerank", response_model=RerankResponse, tags=["rerank"])
    async def rerank_v1(body: RerankRequest, request: Request) -> Response:
        """Cohere v1 / Jina rerank: documents sorted by `relevance_score`, each with its highlights."""
        return await cohere_rerank(body, request, "1")

    @api.post("/v2/rerank", response_model=RerankResponse, tags=["rerank"])
    async def rerank_v2(body: RerankRequest, request: Request) -> Response:
        """Cohere v2 rerank (what `cohere.ClientV2(base_url=...).rerank(...)` calls)."""
        return await cohere_rerank(body, request, "2")

    @api.post("/rerank", response_model=list[TEIRank], tags=["rerank"])
    async def rerank_tei(body: TEIRerankRequest, request: Request) -> Response:
        """text-embeddings-inference rerank: `[{"index", "score", "text"?}]` sorted by score."""
        pairs = [(body.query, list(body.texts))]
        check_request_size(settings, pairs, "texts")
        results = await run(request, pairs, {})
        return JSONResponse(rerank.tei_response(results[0], body))


def _add_service_routes(app: FastAPI, service: ModelService, metrics: ServeMetrics) -> None:
    @app.get("/health", response_model=HealthResponse, tags=["service"])
    async def health() -> dict[str, str]:
        """Liveness: 200 while the process serves HTTP, loaded or not."""
        return {"status": "ok"}

    @app.get("/ready", response_model=ReadyResponse, responses=_errors(503), tags=["service"])
    async def ready() -> dict[str, str]:
        """Readiness: 200 once the model is loaded and warmed up; 503 before (and after a failed load)."""
        service.require_ready()
        return {"status": "ready", "model": service.model_id}

    @app.get("/v1/models", response_model=ModelList, responses=_errors(503), tags=["service"])
    async def models() -> dict[str, Any]:
        """The served model: id, window length, default selection thresholds, languages."""
        return {"object": "list", "data": [service.model_card()]}

    @app.get("/metrics", tags=["service"], response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def prometheus() -> Response:
        """Prometheus text format: requests by route and status, latency, queue depth and wait, batch sizes, tokens."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _add_page(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
