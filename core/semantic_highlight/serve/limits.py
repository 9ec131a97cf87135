"""Request size limits: the body (before parsing) and the documents/characters of a parsed request.

The body limit is plain ASGI: a ``Content-Length`` over the limit is answered 413 at once, and a chunked
body is counted as it streams in (raising Starlette's ``HTTPException(413)``, which FastAPI passes on to the
JSON error handler), so an oversized request is never held in memory whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..highlighter import Document
from .errors import APIError, error_body
from .responses import JSONResponse
from .settings import ServeSettings

__all__ = ["BodyLimitMiddleware", "check_request_size"]


class BodyLimitMiddleware:
    """413 for request bodies larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body larger than max_body_bytes={self.max_bytes}"
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                response = JSONResponse(error_body("payload_too_large", message), status_code=413)
                await response(scope, receive, send)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, message)
            return msg

        await self.app(scope, limited, send)


def check_request_size(settings: ServeSettings, items: Sequence[tuple[str, Sequence[Document]]], field: str) -> None:
    """413 when a request has more documents or characters than the settings allow, naming the field."""
    documents = sum(len(docs) for _, docs in items)
    if documents > settings.max_documents:
        raise APIError(
            413, "too_many_documents", f"{documents} documents, more than max_documents={settings.max_documents}", field
        )
    chars = 0
    for query, docs in items:
        chars += len(query) + sum(len(d) if isinstance(d, str) else sum(len(s) for s in d) for d in docs)
    if chars > settings.max_chars:
        raise APIError(
            413, "too_many_characters", f"{chars} characters, more than max_chars={settings.max_chars}", field
        )
