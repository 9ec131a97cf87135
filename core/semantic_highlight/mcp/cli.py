"""``semantic-highlight mcp``: load the model once, then serve the MCP tools over stdio or streamable HTTP.

stdio (the default) is what desktop MCP clients launch as a subprocess; standard output is the
protocol channel, so everything else (logs, warnings) goes to standard error. ``--transport http``
serves streamable HTTP at ``http://HOST:PORT/mcp``. It binds 127.0.0.1 by default; another address
needs ``--api-key`` (clients send ``Authorization: Bearer KEY``) or an explicit ``--no-auth``.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

__all__ = ["ApiKeyMiddleware", "build_parser", "main"]

API_KEY_ENV = "SEMANTIC_HIGHLIGHT_MCP_API_KEY"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def build_parser() -> argparse.ArgumentParser:
    from .server import DEFAULT_MAX_CHARS

    p = argparse.ArgumentParser(
        prog="semantic-highlight mcp",
        description="Serve the `highlight` and `prune` tools to MCP clients (stdio or streamable HTTP).",
    )
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="default: stdio")
    p.add_argument("--model", "-m", default=None, help="checkpoint folder or hub id (default: the embedded model)")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: cuda > mps > cpu)")
    p.add_argument("--dtype", default=None, help="float32, bfloat16, float16, int8 (default: fp32 on CPU)")
    p.add_argument("--host", default="127.0.0.1", help="HTTP only; default 127.0.0.1 (this machine only)")
    p.add_argument("--port", type=int, default=8000, help="HTTP only; default 8000")
    p.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"HTTP only: require `Authorization: Bearer KEY` (default: ${API_KEY_ENV})",
    )
    p.add_argument("--no-auth", action="store_true", help="HTTP only: allow a non-loopback --host without a key")
    p.add_argument(
        "--max-chars",
        type=int,
        default=DEFAULT_MAX_CHARS,
        help=f"most characters one tool call may carry (default {DEFAULT_MAX_CHARS})",
    )
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ApiKeyMiddleware:
    """ASGI middleware: HTTP requests without ``Authorization: Bearer <key>`` get a 401 JSON-RPC error."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"missing or wrong API key"}}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _check_args(args: argparse.Namespace) -> None:
    if args.max_chars < 1:
        raise ValueError(f"--max-chars must be >= 1, got {args.max_chars}")
    if args.transport == "http":
        if not 0 < args.port < 65536:
            raise ValueError(f"--port must be in 1..65535, got {args.port}")
        if not _is_loopback(args.host) and not args.api_key and not args.no_auth:
            raise ValueError(
                f"--host {args.host} exposes the model to the network: pass --api-key KEY "
                f"(or set ${API_KEY_ENV}), or --no-auth to serve without one"
            )


def _serve_http(server: Any, args: argparse.Namespace) -> None:
    import uvicorn

    app: Any = server.streamable_http_app()
    if args.api_key:
        app = ApiKeyMiddleware(app, args.api_key)
    print(f"semantic-highlight mcp: streamable HTTP at http://{args.host}:{args.port}/mcp", file=sys.stderr)
    uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level.lower())).run()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until the client disconnects (stdio) or the process is stopped (HTTP)."""
    try:
        from .server import build_server
    except ImportError as exc:
        print(
            f"semantic-highlight mcp: needs the [mcp] extra (pip install 'semantic-highlight[mcp]'): {exc}",
            file=sys.stderr,
        )
        return 2
    args = build_parser().parse_args(argv)
    try:
        _check_args(args)
        from ..highlighter import SemanticHighlighter

        logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        highlighter = SemanticHighlighter(model=args.model, device=args.device, dtype=args.dtype)
        server = build_server(
            highlighter, max_chars=args.max_chars, host=args.host, port=args.port, log_level=args.log_level
        )
    except (OSError, ValueError, TypeError) as exc:
        print(f"semantic-highlight mcp: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"semantic-highlight mcp: model {highlighter.model.name} on {highlighter.device.type}, "
        f"threshold {highlighter.threshold}, transport {args.transport}",
        file=sys.stderr,
    )
    if args.transport == "stdio":
        server.run("stdio")
    else:
        _serve_http(server, args)
    return 0
