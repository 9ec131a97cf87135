"""Bearer-key check of the API routes (constant-time comparison); no key configured: open."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .errors import APIError

__all__ = ["bearer_dependency"]

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>` when the server has a key.")
_credentials = Security(_bearer)


def bearer_dependency(api_key: str | None) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency that answers 401 unless the request carries ``Authorization: Bearer <api_key>``."""
    expected = _digest(api_key.encode("utf-8")) if api_key else None

    async def check(request: Request, credentials: HTTPAuthorizationCredentials | None = _credentials) -> None:
        if expected is None:
            return
        given = credentials.credentials.encode("utf-8", "surrogateescape") if credentials else b""
        # Digests of equal length, compared in constant time: neither the key's content nor its length leaks.
        if not hmac.compare_digest(_digest(given), expected):
            reason = "missing API key" if credentials is None else "invalid API key"
            raise APIError(
                401,
                "unauthorized",
                f"{reason}: send 'Authorization: Bearer <key>'",
                "Authorization",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


def _digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()
