"""Errors as JSON: ``{"error": {"type", "message", "param"}}`` for every failure the server answers.

:class:`APIError` is raised by routes and helpers; the handlers registered by :func:`install_error_handlers`
turn it, FastAPI's validation errors and Starlette's HTTP errors (404, 405) into that one shape, so
clients never see a framework's own error format or a bare 500 for bad input.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from .responses import JSONResponse

__all__ = ["APIError", "error_body", "install_error_handlers", "param_name"]

logger = logging.getLogger(__name__)


class APIError(Exception):
    """An error answered as ``status`` with a JSON body; ``param`` names the offending field, if any."""

    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.param = param
        self.headers = headers or {}


def error_body(type: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"type": type, "message": message, "param": param}}


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "function-after", "function-before"})


def param_name(loc: Sequence[Any]) -> str | None:
    """``("body", "documents", 1, 0)`` -> ``"documents[1][0]"``: the field as a client would write it.

    Pydantic adds the tag of a union member to the location (``str``, ``list[str]``, a class name); those
    are dropped (the API's own field names are all lower-case).
    """
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in {"body", "query_params", "path", "header"} and not parts:
            continue
        elif isinstance(item, str) and ("[" in item or item[:1].isupper() or item in _TYPE_TAGS):
            continue  # union member tags: "str", "list[str]", a model's class name
        else:
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts) or None


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "invalid"}
    # A value failing a union (str | list[str]) yields one error per member; the deepest names the field best.
    prefix = tuple(first.get("loc", ()))[:3]
    first = max(
        (e for e in errors if tuple(e.get("loc", ()))[:3] == prefix), key=lambda e: len(e["loc"]), default=first
    )
    if first.get("type") == "json_invalid":
        return JSONResponse(
            error_body("invalid_json", f"request body is not valid JSON: {first.get('msg', '')}".rstrip(": "), None),
            status_code=400,
        )
    loc = tuple(first.get("loc", ()))
    if loc == ("body",):  # no body, or a body that is not a JSON object (form data, a list, a string)
        return JSONResponse(
            error_body(
                "invalid_body",
                "the request body must be a JSON object (Content-Type: application/json): " + str(first.get("msg")),
                None,
            ),
            status_code=400,
        )
    param = param_name(loc)
    message = str(first.get("msg", "invalid value"))
    if param:
        message = f"{param}: {message}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return JSONResponse(error_body("invalid_request", message, param), status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the JSON error shape."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, APIError)
        return JSONResponse(error_body(exc.type, exc.message, exc.param), status_code=exc.status, headers=exc.headers)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _validation_response(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        kind = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            error_body(kind, str(exc.detail)), status_code=exc.status_code, headers=dict(exc.headers or {})
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)

    app.add_exception_handler(APIError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
