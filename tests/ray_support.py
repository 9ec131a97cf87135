"""One local Ray instance for the whole test session (``tests/test_ray_*.py``), started on first use.

Starting Ray costs seconds, so every Ray test shares one instance (``ray_local``); it is shut down when the
session ends. Four logical CPUs (on whatever cores the machine has) let Serve replicas and Ray Data actors be
scheduled side by side; each of them is given a fraction of one and a single torch thread.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

LOGICAL_CPUS = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def ray_local() -> Iterator[Any]:
    """``ray`` after ``ray.init`` of a local instance (no dashboard); shut down at the end of the session."""
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_enable_worker_prestart", "0")  # less work at start-up: workers start when needed
    os.environ.setdefault("RAY_prestart_worker_first_driver", "0")
    os.environ.setdefault("RAY_agent_register_timeout_ms", "300000")  # agents start slowly on busy cores
    started = not ray.is_initialized()
    if started:
        _init_with_retries(ray)
    yield ray
    if started:
        try:
            from ray import serve

            serve.shutdown()
        finally:
            ray.shutdown()


def _init_with_retries(ray: Any, attempts: int = 3) -> None:
    """``ray.init``, again after a failed start: Ray gives its raylet a fixed 30 s to register, which a machine
    whose cores are busy with other work can miss (``The current node timed out during startup``)."""
    for attempt in range(attempts):
        try:
            ray.init(num_cpus=LOGICAL_CPUS, include_dashboard=False, log_to_driver=False)
            return
        except Exception as exc:
            if "timed out during startup" not in str(exc) or attempt == attempts - 1:
                raise
            ray.shutdown()
