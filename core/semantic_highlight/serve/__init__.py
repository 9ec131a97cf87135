"""The highlight server: one shared model over HTTP (``semantic-highlight serve``), and its client.

``create_app`` / ``ServeSettings`` need the ``[serve]`` extra (FastAPI, uvicorn, prometheus-client);
``RemoteHighlighter`` needs only httpx (the ``[client]`` extra). Names are imported on first use, so the
client works without the server's packages.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .client import RemoteHighlighter, RemoteHighlightError
    from .settings import ServeSettings

__all__ = ["RemoteHighlightError", "RemoteHighlighter", "ServeSettings", "create_app"]

_LAZY = {
    "create_app": ".app",
    "ServeSettings": ".settings",
    "RemoteHighlighter": ".client",
    "RemoteHighlightError": ".client",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
