"""Ray Serve deployment of the highlight server: the same FastAPI app as ``semantic-highlight serve``, in replicas.

Each replica runs :func:`~semantic_highlight.serve.create_app` (same routes, request and response models, limits,
key and in-replica dynamic batching); Serve's proxy spreads requests over the replicas, places them on GPUs
(``num_gpus`` per replica, fractions allowed) and scales their number. Start it with::

    serve run semantic_highlight.serve.ray:app                        # settings from SEMANTIC_HIGHLIGHT_* variables
    serve run semantic_highlight.serve.ray:build_app model=PATH device=cpu num_replicas=2
    serve run deploy/ray/serve_config.yaml                           # the same builder, arguments in YAML

Arguments (strings on the command line, typed values in YAML): every :class:`ServeSettings` field except
``host``/``port``/``allow_unauthenticated`` (Serve's ``http_options`` decide where the proxy listens) and
``api_key`` (name the variable holding the key with ``api_key_env`` and set it through ``runtime_env``), plus the
deployment's ``num_replicas`` (or ``min_replicas``/``max_replicas``/``target_ongoing_requests`` for autoscaling),
``num_cpus``, ``num_gpus``, ``max_ongoing_requests`` and ``torch_threads`` (torch threads per replica).

A replica only takes traffic once its model is loaded and warmed up (the app's startup waits for it; a model
that fails to load fails the replica, and Serve retries it). ``check_health`` reports the engine's state, every
response names its replica (``X-Semantic-Highlight-Replica``), and on shutdown Serve drains the replica's
requests, then the app's shutdown drains the scheduler. Needs the ``[ray]`` extra.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

try:
    from ray import serve
    from ray.serve import Application
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        f"semantic_highlight.serve.ray needs the [ray] extra ({exc.name} is missing): "
        'pip install "semantic-highlight[ray]"'
    ) from exc

from fastapi import FastAPI

from .app import create_app
from .settings import ENV_PREFIX, ServeSettings

__all__ = ["DEPLOYMENT_NAME", "REPLICA_HEADER", "HighlightDeployment", "HighlightReplica", "build_app", "highlight_app"]

DEPLOYMENT_NAME = "SemanticHighlight"
REPLICA_HEADER = "x-semantic-highlight-replica"
"""Response header naming the replica that answered (Serve's replica id): for logs, load checks and debugging."""

_NOT_SETTINGS = {
    "host": "the proxy's address is Serve's http_options (serve start --http-host, or http_options in the config)",
    "port": "the proxy's port is Serve's http_options (serve start --http-port, or http_options in the config)",
    "allow_unauthenticated": "Serve's proxy decides where it listens; set api_key_env for a key",
    "api_key": "a key in arguments would be stored in Serve's config: set api_key_env to a variable holding it "
    "(runtime_env: env_vars)",
}
_DEPLOYMENT_ARGS = {
    "num_replicas",
    "min_replicas",
    "max_replicas",
    "target_ongoing_requests",
    "num_cpus",
    "num_gpus",
    "max_ongoing_requests",
    "torch_threads",
}
_LOAD_POLL_S = 0.05


class _ReplicaHeader:
    """ASGI middleware: every HTTP response carries the replica's id."""

    def __init__(self, app: Any, replica: str) -> None:
        self.app = app
        self.header = (REPLICA_HEADER.encode(), replica.encode())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, send_with_header)


def _serve_when_loaded(app: FastAPI) -> None:
    """Make the app's startup wait until its model is loaded and warmed up (or raise when the load failed), so Serve
    routes no request to a replica that would answer 503, and a broken model fails the replica instead."""
    inner = app.router.lifespan_context
    service = app.state.service

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            while not service.ready:
                if service.error:
                    raise RuntimeError(f"the model failed to load: {service.error}")
                await asyncio.sleep(_LOAD_POLL_S)
            yield state

    app.router.lifespan_context = lifespan


class HighlightReplica:
    """One replica: the FastAPI app of ``semantic-highlight serve`` with its own model and scheduler
    (:data:`HighlightDeployment` is this class as a Serve deployment)."""

    def __init__(self, settings: ServeSettings, torch_threads: int | None = None) -> None:
        if torch_threads is not None:
            import torch

            torch.set_num_threads(torch_threads)
        self.settings = settings
        self.replica = _replica_id()
        self.fastapi_app: FastAPI | None = None

    def __serve_build_asgi_app__(self) -> FastAPI:  # the method Serve calls to get the ASGI app
        app = create_app(settings=self.settings)
        _serve_when_loaded(app)
        app.add_middleware(_ReplicaHeader, replica=self.replica)
        self.fastapi_app = app
        return app

    async def check_health(self) -> None:
        """Serve's periodic health check: unhealthy when the model failed or the scheduler stopped taking work."""
        if self.fastapi_app is None:
            raise RuntimeError("the app was not built")
        service = self.fastapi_app.state.service
        if service.error:
            raise RuntimeError(f"the model failed to load: {service.error}")
        highlighter = service.highlighter
        if service.ready and (highlighter is None or highlighter.scheduler.closed):
            raise RuntimeError("the scheduler is closed")


HighlightDeployment = serve.deployment(
    name=DEPLOYMENT_NAME, max_ongoing_requests=64, ray_actor_options={"num_cpus": 1}
)(serve.ingress()(HighlightReplica))
"""The Serve deployment: :class:`HighlightReplica` behind Serve's ASGI ingress (the app is built in each replica)."""


def _replica_id() -> str:
    """Serve's id of this replica (its process id outside a replica)."""
    try:
        return str(serve.get_replica_context().replica_id.unique_id)
    except Exception:  # not inside a replica (the class used directly)
        return f"pid-{os.getpid()}"


def highlight_app(
    settings: ServeSettings | None = None,
    *,
    num_replicas: int | str | None = None,
    autoscaling_config: Mapping[str, Any] | None = None,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    max_ongoing_requests: int | None = None,
    torch_threads: int | None = None,
    ray_actor_options: Mapping[str, Any] | None = None,
) -> Application:
    """The Serve application for ``serve.run(...)``: :class:`HighlightDeployment` bound to ``settings``.

    ``num_replicas`` (or ``"auto"``) or ``autoscaling_config`` (Serve's keys: ``min_replicas``, ``max_replicas``,
    ``target_ongoing_requests``, ...); ``num_cpus``/``num_gpus`` reserve that much per replica (``num_gpus=0.5``:
    two replicas share one GPU); ``max_ongoing_requests`` is how many requests Serve lets one replica hold at once
    (they are batched together there, so keep it at least the batch you want); ``ray_actor_options`` adds others
    (``runtime_env``, ``resources``, ...). ``None`` keeps the deployment's default.
    """
    settings = settings or ServeSettings.from_env()
    actor = dict(ray_actor_options or {})
    if num_cpus is not None:
        actor["num_cpus"] = num_cpus
    if num_gpus is not None:
        actor["num_gpus"] = num_gpus
    options: dict[str, Any] = {"graceful_shutdown_timeout_s": max(settings.shutdown_timeout_s, 1.0)}
    if actor:
        options["ray_actor_options"] = {"num_cpus": 1, **actor}
    if num_replicas is not None:
        options["num_replicas"] = num_replicas
    if autoscaling_config is not None:
        options["autoscaling_config"] = dict(autoscaling_config)
    if max_ongoing_requests is not None:
        options["max_ongoing_requests"] = max_ongoing_requests
    return HighlightDeployment.options(**options).bind(settings, torch_threads)


def build_app(args: Mapping[str, Any]) -> Application:
    """Serve's application builder: ``serve run semantic_highlight.serve.ray:build_app key=value ...`` or a config's
    ``import_path`` with ``args``. Settings come from defaults, then ``SEMANTIC_HIGHLIGHT_*`` variables (of the
    process that builds the app), then ``args``; unknown or misspelt keys raise ``ValueError`` naming them."""
    if not isinstance(args, Mapping):
        raise TypeError(f"args must be a mapping, got {type(args).__name__}")
    settings_fields = set(ServeSettings.__dataclass_fields__)
    deployment: dict[str, Any] = {}
    overrides: dict[str, str] = {}
    for key, value in args.items():
        if key in _NOT_SETTINGS:
            raise ValueError(f"{key} is not an argument of the Serve app: {_NOT_SETTINGS[key]}")
        if key in _DEPLOYMENT_ARGS:
            deployment[key] = value
        elif key in settings_fields:
            overrides[ENV_PREFIX + key.upper()] = _as_text(value)
        else:
            known = ", ".join(sorted((settings_fields - set(_NOT_SETTINGS)) | _DEPLOYMENT_ARGS))
            raise ValueError(f"unknown argument {key!r}; known: {known}")
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    settings = ServeSettings.from_env({**env, **overrides})
    return highlight_app(settings, **_deployment_options(deployment))


def _deployment_options(args: Mapping[str, Any]) -> dict[str, Any]:
    """``build_app``'s deployment arguments as :func:`highlight_app` keywords (strings from the command line)."""
    out: dict[str, Any] = {}
    autoscaling = {k: args[k] for k in ("min_replicas", "max_replicas", "target_ongoing_requests") if k in args}
    if "num_replicas" in args:
        value = args["num_replicas"]
        out["num_replicas"] = "auto" if value == "auto" else _number(value, "num_replicas", int, 1)
        if autoscaling and out["num_replicas"] != "auto":
            raise ValueError("num_replicas and min_replicas/max_replicas/target_ongoing_requests exclude each other")
    if autoscaling:
        out["autoscaling_config"] = {
            k: _number(v, k, float if k == "target_ongoing_requests" else int, 0) for k, v in autoscaling.items()
        }
    for key, kind, low in (
        ("num_cpus", float, 0),
        ("num_gpus", float, 0),
        ("max_ongoing_requests", int, 1),
        ("torch_threads", int, 1),
    ):
        if key in args:
            out[key] = _number(args[key], key, kind, low)
    return out


def _number(value: Any, name: str, kind: Callable[[Any], Any], low: float) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {value!r}") from None
    if not number >= low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return number


def _as_text(value: Any) -> str:
    """A typed YAML value as the text ``ServeSettings.from_env`` parses (lists comma-separated)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def __getattr__(name: str) -> Any:
    """``app``: the application built from ``SEMANTIC_HIGHLIGHT_*`` variables (``serve run ...ray:app``), built when
    first asked for, so importing this module (as every replica does) builds nothing."""
    if name == "app":
        return build_app({})
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
