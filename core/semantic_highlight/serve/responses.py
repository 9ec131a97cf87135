"""The JSON response class of every route: UTF-8 JSON, and still valid for text holding lone surrogates.

The engine reports text exactly as given, and a JSON request may carry lone surrogates (``"\\ud800"``);
those cannot be encoded as UTF-8, so such a body is written with ASCII escapes instead of failing.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse as _StarletteJSONResponse

__all__ = ["JSONResponse"]


class JSONResponse(_StarletteJSONResponse):
    """JSON with real UTF-8 characters, falling back to ``\\uXXXX`` escapes when a lone surrogate is present."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")
