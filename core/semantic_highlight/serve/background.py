"""Run an app with uvicorn in a background thread: for tests, notebooks and benchmarks in one process.

The socket is bound before the thread starts (port ``0`` picks a free one), so :attr:`BackgroundServer.url`
is known at once and no other process can take the port in between.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import uvicorn

__all__ = ["BackgroundServer"]


class BackgroundServer:
    """``with BackgroundServer(app) as url: ...`` serves ``app`` on ``127.0.0.1`` until the block ends.

    ``wait_ready``: on entry, wait until ``GET /ready`` answers 200 (the model is loaded and warmed up).
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        wait_ready: bool = True,
        timeout: float = 120.0,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        bound = self.sock.getsockname()
        self.url = f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}"
        # Idle keep-alive connections stay open 30 s (uvicorn's default is 5): a busy test machine can leave a
        # client idle that long between two requests, and a request racing the close would fail.
        self.server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on", timeout_keep_alive=30))
        self.wait_ready = wait_ready
        self.timeout = timeout
        self._thread = threading.Thread(target=self._run, name="semantic-highlight-server", daemon=True)

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self) -> str:
        """Start serving; returns the base URL once the server accepts requests (and is ready, if asked)."""
        self._thread.start()
        deadline = time.monotonic() + self.timeout
        path = "/ready" if self.wait_ready else "/health"
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError("the server thread stopped during startup")
            try:
                if httpx.get(self.url + path, timeout=5).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(
            f"the server at {self.url} was not {'ready' if self.wait_ready else 'up'} in {self.timeout} s"
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful shutdown, as on SIGTERM: stop accepting, finish in-flight requests, run the app's shutdown."""
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.sock.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
