"""Server settings: one dataclass, filled from defaults, then ``SEMANTIC_HIGHLIGHT_*`` variables, then flags.

Every field can be set from the environment as ``SEMANTIC_HIGHLIGHT_<FIELD>`` (``SEMANTIC_HIGHLIGHT_MAX_WAIT_MS=5``,
lists comma-separated, booleans ``1/true/yes/on`` or ``0/false/no/off``), so a container or a systemd unit
needs no command line. The API key itself is never a setting read from a flag: ``api_key_env`` names the
variable that holds it (``api_key`` is the programmatic twin, for tests and embedding).
"""

from __future__ import annotations

import ipaddress
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = ["ENV_PREFIX", "ServeSettings"]

ENV_PREFIX = "SEMANTIC_HIGHLIGHT_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class ServeSettings:
    """What ``semantic-highlight serve`` and :func:`~semantic_highlight.serve.create_app` are configured with."""

    model: str | None = None
    """Checkpoint folder or hub id; ``None`` (or ``"default"``): the embedded model."""
    model_id: str | None = None
    """Name reported by ``/v1/models`` and in responses; ``None``: the loaded model's own name."""
    device: str | None = None
    dtype: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch_tokens: int = 16384
    """Token budget of one model batch (rows x longest window), shared by all requests in it."""
    max_wait_ms: float = 5.0
    """How long the scheduler waits for more requests to fill a batch once one is queued."""
    max_queue: int = 256
    """Requests waiting for the model; one more is answered 429 with ``Retry-After``."""
    max_batch_requests: int | None = None
    """At most this many requests per model batch (``1``: no cross-request batching); ``None``: no cap."""
    max_documents: int = 256
    """Documents per request (all items of a batch request together); more is 413."""
    max_items: int = 64
    """Items of one ``/v1/highlight/batch`` request; more is 413."""
    max_chars: int = 1_000_000
    """Characters per request (queries and documents together); more is 413."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Request body size; larger bodies are refused with 413 before they are parsed."""
    request_timeout_s: float = 60.0
    """A request not answered within this many seconds of arriving gets 504."""
    api_key_env: str | None = None
    """Name of the environment variable holding the Bearer key that API routes require."""
    api_key: str | None = field(default=None, repr=False)
    """The key itself (programmatic use); wins over ``api_key_env``."""
    allow_unauthenticated: bool = False
    """Allow a non-loopback ``host`` without a key (behind an authenticating proxy)."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call the API from a browser; empty: no CORS headers at all."""
    log_level: str = "info"
    shutdown_timeout_s: float = 30.0
    """On SIGTERM, how long in-flight requests may take to finish before the server exits anyway."""

    def __post_init__(self) -> None:
        positive = (
            "port",
            "max_batch_tokens",
            "max_queue",
            "max_documents",
            "max_items",
            "max_chars",
            "max_body_bytes",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.port > 65535:
            raise ValueError(f"port must be at most 65535, got {self.port}")
        if self.max_batch_requests is not None and (
            not isinstance(self.max_batch_requests, int) or self.max_batch_requests < 1
        ):
            raise ValueError(f"max_batch_requests must be a positive integer or None, got {self.max_batch_requests!r}")
        for name in ("max_wait_ms", "request_timeout_s", "shutdown_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if self.request_timeout_s <= 0:
            raise ValueError(f"request_timeout_s must be > 0, got {self.request_timeout_s!r}")
        if self.log_level.lower() not in {"critical", "error", "warning", "info", "debug", "trace"}:
            raise ValueError(
                f"log_level must be critical, error, warning, info, debug or trace, got {self.log_level!r}"
            )
        if isinstance(self.cors_origins, str):
            object.__setattr__(self, "cors_origins", tuple(o for o in self.cors_origins.split(",") if o))
        else:
            object.__setattr__(self, "cors_origins", tuple(self.cors_origins))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServeSettings:
        """Defaults, then ``SEMANTIC_HIGHLIGHT_*`` variables, then ``overrides`` (those that are not ``None``)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if f.name == "api_key":
                continue  # the key is read through api_key_env only, never from a fixed variable name
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _parse(raw, hints[f.name], ENV_PREFIX + f.name.upper())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> ServeSettings:
        return replace(self, **changes)

    def resolve_api_key(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The Bearer key the API requires (``None``: no key); a named variable that is unset is an error."""
        if self.api_key:
            return self.api_key
        if not self.api_key_env:
            return None
        env = os.environ if environ is None else environ
        key = env.get(self.api_key_env, "")
        if not key:
            raise ValueError(f"api_key_env names {self.api_key_env}, but that environment variable is empty or unset")
        return key

    def check_bind(self, api_key: str | None) -> None:
        """Refuse to listen on a non-loopback address without a key unless ``allow_unauthenticated``."""
        if api_key is None and not self.allow_unauthenticated and not is_loopback(self.host):
            raise ValueError(
                f"refusing to listen on {self.host} without an API key: pass --api-key-env NAME (a variable holding "
                "the key), or --allow-unauthenticated when a proxy in front authenticates"
            )


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _parse(raw: str, hint: Any, name: str) -> Any:
    """An environment variable's text as the field's type (``int | None``, ``tuple[str, ...]``, ...)."""
    args = typing.get_args(hint)
    optional = type(None) in args and (typing.get_origin(hint) in {typing.Union, types.UnionType})
    if optional:
        if raw.strip().lower() in {"", "none", "null"}:
            return None
        hint = next(a for a in args if a is not type(None))
    try:
        if hint is bool:
            value = raw.strip().lower()
            if value in _TRUE:
                return True
            if value in _FALSE:
                return False
            raise ValueError("expected 1/0, true/false, yes/no or on/off")
        if hint is int:
            return int(raw)
        if hint is float:
            return float(raw)
        if typing.get_origin(hint) is tuple:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r}: {exc}") from None
