"""``semantic-highlight serve``: run the highlight server with uvicorn.

Flags override ``SEMANTIC_HIGHLIGHT_*`` environment variables, which override the defaults (see
:class:`~semantic_highlight.serve.settings.ServeSettings`). On SIGTERM or Ctrl-C uvicorn stops accepting
connections, lets in-flight requests finish (up to ``--shutdown-timeout`` seconds), then the app drains the
scheduler and the process exits 0. A model that fails to load stops the server with exit status 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="semantic-highlight serve",
        description="Serve one shared highlighting model over HTTP: requests from all clients are batched together. "
        "Every flag can also be set as an environment variable SEMANTIC_HIGHLIGHT_<FLAG> (e.g. "
        "SEMANTIC_HIGHLIGHT_MAX_WAIT_MS=5).",
    )
    m = p.add_argument_group("model")
    m.add_argument("--model", help="checkpoint folder or hub id (default: the embedded model)")
    m.add_argument("--model-id", help="name reported by /v1/models and in responses (default: the model's name)")
    m.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: cuda > mps > cpu)")
    m.add_argument("--dtype", help="float32, bfloat16, float16, int8 (default: bf16/fp16 on GPU, fp32 on CPU)")
    n = p.add_argument_group("network and security")
    n.add_argument("--host", help="address to listen on (default 127.0.0.1; others need a key)")
    n.add_argument("--port", type=int, help="port (default 8000)")
    n.add_argument(
        "--api-key-env", metavar="NAME", help="environment variable holding the Bearer key API routes require"
    )
    n.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        default=None,
        help="allow a non-loopback --host without a key (only behind a proxy that authenticates)",
    )
    n.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        metavar="ORIGIN",
        help="allow browser calls from this origin (repeatable; default: none)",
    )
    b = p.add_argument_group("batching and limits")
    b.add_argument("--max-batch-tokens", type=int, help="token budget of one model batch (default 16384)")
    b.add_argument("--max-wait-ms", type=float, help="how long to wait for more requests to fill a batch (default 5)")
    b.add_argument("--max-queue", type=int, help="requests waiting for the model; more get 429 (default 256)")
    b.add_argument(
        "--max-batch-requests", type=int, help="requests sharing one batch at most (1: no cross-request batching)"
    )
    b.add_argument("--max-documents", type=int, help="documents per request (default 256; more: 413)")
    b.add_argument("--max-items", type=int, help="items per /v1/highlight/batch request (default 64; more: 413)")
    b.add_argument("--max-chars", type=int, help="characters per request, queries + documents (default 1000000)")
    b.add_argument("--max-body-bytes", type=int, help="request body size (default 16 MiB; more: 413)")
    b.add_argument("--request-timeout", type=float, dest="request_timeout_s", help="seconds until 504 (default 60)")
    b.add_argument(
        "--shutdown-timeout",
        type=float,
        dest="shutdown_timeout_s",
        help="on SIGTERM, seconds in-flight requests may take to finish (default 30)",
    )
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug", "trace"])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import uvicorn

        from .app import create_app
        from .settings import ServeSettings
    except ImportError as exc:
        print(f"semantic-highlight serve needs the [serve] extra ({exc.name} is missing): "
              'pip install "semantic-highlight[serve]"', file=sys.stderr)  # fmt: skip
        return 2
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    if "cors_origins" in overrides:
        overrides["cors_origins"] = tuple(o for value in overrides["cors_origins"] for o in value.split(",") if o)
    try:
        settings = ServeSettings.from_env(**overrides)
        api_key = settings.resolve_api_key()
        settings.check_bind(api_key)
    except ValueError as exc:
        print(f"semantic-highlight serve: {exc}", file=sys.stderr)
        return 2

    level = settings.log_level.upper() if settings.log_level != "trace" else "DEBUG"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    failed: list[BaseException] = []
    server: uvicorn.Server | None = None

    def stop(exc: BaseException) -> None:
        failed.append(exc)
        if server is not None:
            server.should_exit = True

    app = create_app(settings=settings, on_load_error=stop)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=settings.shutdown_timeout_s,  # type: ignore[arg-type]  # a float works
        proxy_headers=True,
        server_header=False,
    )
    server = uvicorn.Server(config)
    if api_key is None and settings.allow_unauthenticated:
        logging.getLogger(__name__).warning("no API key on %s: anyone who can reach it may call the API", settings.host)
    server.run()
    if failed:
        print(f"semantic-highlight serve: the model failed to load: {failed[0]}", file=sys.stderr)
        return 1
    return 0
