"""The Ray Serve deployment on a local Ray instance (tiny fixture model): two replicas built from the Serve config
in deploy/ray answer concurrent requests with the in-process results, share the load, serve ``RemoteHighlighter``
unchanged, and keep answering it (through its own retries) while one replica's actor is killed."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("ray")
pytest.importorskip("fastapi")

import httpx
import yaml
from conftest import FIXTURES, ROOT, assert_close, require_shared
from conftest import WORKLOAD_QUERIES as QUERIES
from conftest import WORKLOAD_SENTENCES as SENTENCES
from ray_support import free_port, ray_local  # noqa: F401  # the session fixture
from semantic_highlight import HighlightResult, RemoteHighlighter
from semantic_highlight.serve import RemoteHighlightError

TINY = FIXTURES / "op-tiny-xlmr"
CONFIG = ROOT / "deploy" / "ray" / "serve_config.yaml"
APP_NAME = "highlight-test"


def requests_for(n: int) -> list[dict[str, Any]]:
    """``n`` distinct requests of one to three documents (one of them pre-split now and then)."""
    out = []
    for i in range(n):
        docs: list[Any] = [
            "".join(SENTENCES[(i + j + k) % len(SENTENCES)] for k in range(1 + (i + j) % 4)) for j in range(1 + i % 3)
        ]
        if i % 5 == 0:
            docs.append(SENTENCES[i % len(SENTENCES) :][:3])
        out.append({"query": QUERIES[i % len(QUERIES)], "documents": docs})
    return out


def expected(xlmr: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in xlmr.highlight(request["query"], request["documents"])]


def replica_actors(ray: Any) -> dict[str, str]:
    """Replica id -> actor name of the test app's live replicas (named actors in Serve's namespace)."""
    prefix = f"SERVE_REPLICA::{APP_NAME}#"
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith(prefix)]
    return {name.rsplit("#", 1)[1]: name for name in names}


@pytest.fixture(scope="module")
def serve_url(ray_local: Any) -> Iterator[str]:  # noqa: F811
    """The application of deploy/ray/serve_config.yaml (its import path and args), on the tiny model, 2 replicas."""
    require_shared(TINY)
    from ray import serve

    config = yaml.safe_load(CONFIG.read_text())["applications"][0]
    module, _, attr = config["import_path"].partition(":")
    builder = getattr(importlib.import_module(module), attr)
    args = {**config["args"], "model": str(TINY), "dtype": "float32", "num_replicas": 2, "num_cpus": 0.5}
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(builder(args), name=APP_NAME, route_prefix="/")
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


async def _send_all(
    url: str,
    requests: list[dict[str, Any]],
    clients: int,
    retries: int = 0,
    answers: dict[int, httpx.Response] | None = None,
) -> tuple[dict[int, httpx.Response], list[str], int]:
    """Every request once from ``clients`` concurrent clients; a 5xx answer or a broken connection is retried up to
    ``retries`` times. Returns (answer by request index, filled in as they come; failures; retries made)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(requests)):
        queue.put_nowait(i)
    answers = {} if answers is None else answers
    failures: list[str] = []
    retried = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal retried
        while not queue.empty():
            i = queue.get_nowait()
            for attempt in range(retries + 1):
                try:
                    response = await http.post("/v1/highlight", json=requests[i])
                except httpx.TransportError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                else:
                    if response.status_code < 500:
                        answers[i] = response
                        break
                    problem = f"HTTP {response.status_code}: {response.text[:200]}"
                if attempt == retries:
                    failures.append(problem)
                else:
                    retried += 1
                    await asyncio.sleep(0.2 * (attempt + 1))

    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return answers, failures, retried


async def _highlight_all(url: str, requests: list[dict[str, Any]], clients: int, answers: dict[int, Any]) -> list[str]:
    """Every request once through ``clients`` concurrent ``RemoteHighlighter.ahighlight`` calls, relying on its own
    retries (the proxy's 500 for a dead replica, broken connections). Fills ``answers`` (request index -> result
    dicts) as they come; returns the failures."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(requests)):
        queue.put_nowait(i)
    failures: list[str] = []
    remote = RemoteHighlighter(url, timeout=120, max_retries=8, backoff=0.2)

    async def client() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            try:
                results = await remote.ahighlight(requests[i]["query"], requests[i]["documents"])
            except (RemoteHighlightError, httpx.HTTPError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
            else:
                answers[i] = [r.to_dict() for r in results]

    try:
        await asyncio.gather(*(client() for _ in range(clients)))
    finally:
        await remote.aclose()
    return failures


def test_ray_is_optional() -> None:
    """Importing the package, the server and the jobs needs no ray; the Serve module names the extra."""
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "import semantic_highlight, semantic_highlight.serve, semantic_highlight.serve.app\n"
        "try:\n    import semantic_highlight.serve.ray\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "[ray] extra" in out


def test_builder_rejects_bad_args() -> None:
    from semantic_highlight.serve.ray import build_app

    with pytest.raises(ValueError, match="modle"):
        build_app({"modle": "x"})
    with pytest.raises(ValueError, match="http_options"):
        build_app({"port": 8000})
    with pytest.raises(ValueError, match="api_key_env"):
        build_app({"api_key": "secret"})
    with pytest.raises(ValueError, match="num_replicas must be an integer"):
        build_app({"num_replicas": "two"})
    with pytest.raises(ValueError, match="exclude each other"):
        build_app({"num_replicas": 2, "max_replicas": 4})
    with pytest.raises(ValueError, match="max_wait_ms"):
        build_app({"max_wait_ms": "-1"})


@pytest.mark.parametrize("manifest", ["ray/serve_config.yaml", "kuberay/rayservice.yaml"])
def test_configs_are_valid_and_build_the_app(manifest: str) -> None:
    """The Serve config and the KubeRay manifest's serveConfigV2 pass Serve's schema, and their args build the app."""
    from ray.serve import Application
    from ray.serve.schema import ServeDeploySchema

    document = yaml.safe_load((ROOT / "deploy" / manifest).read_text())
    if document.get("kind") == "RayService":
        document = yaml.safe_load(document["spec"]["serveConfigV2"])
    (app,) = ServeDeploySchema.model_validate(document).applications
    assert app.import_path == "semantic_highlight.serve.ray:build_app"
    assert [d.name for d in app.deployments] == ["SemanticHighlight"]
    module, _, attr = app.import_path.partition(":")
    assert isinstance(getattr(importlib.import_module(module), attr)(app.args), Application)


async def test_replica_waits_for_model_and_reports_failures(tmp_path: Any) -> None:
    """A replica's startup ends only when the model is loaded (a broken one fails it), and its health check fails
    while the model is broken."""
    from semantic_highlight.serve.ray import HighlightReplica
    from semantic_highlight.serve.settings import ServeSettings

    replica = HighlightReplica(ServeSettings(model=str(tmp_path)))  # an empty folder: no checkpoint
    app = replica.__serve_build_asgi_app__()
    with pytest.raises(RuntimeError, match="the model failed to load"):
        async with app.router.lifespan_context(app):
            pass
    with pytest.raises(RuntimeError, match="the model failed to load"):
        await replica.check_health()

    require_shared(TINY)
    good = HighlightReplica(ServeSettings(model=str(TINY), device="cpu", dtype="float32"))
    app = good.__serve_build_asgi_app__()
    async with app.router.lifespan_context(app):
        assert app.state.service.ready  # loaded and warmed up before any request is let in
        await good.check_health()
    assert app.state.service.highlighter.scheduler.closed  # shutdown drained and closed the scheduler


def test_two_replicas_answer_like_in_process_and_share_the_load(serve_url: str, xlmr: Any, ray_local: Any) -> None:  # noqa: F811
    requests = requests_for(48)
    answers, failures, _ = asyncio.run(_send_all(serve_url, requests, clients=16))
    assert failures == []
    assert sorted(answers) == list(range(len(requests)))
    for i, response in answers.items():
        assert response.status_code == 200, response.text
        assert_close(response.json()["results"], expected(xlmr, requests[i]))
    served_by = {response.headers["x-semantic-highlight-replica"] for response in answers.values()}
    assert served_by == set(replica_actors(ray_local)), served_by
    assert httpx.get(serve_url + "/ready").json()["status"] == "ready"


def test_remote_highlighter_works_against_serve(serve_url: str, xlmr: Any) -> None:
    with RemoteHighlighter(serve_url, max_retries=3) as remote:
        one = remote.highlight(QUERIES[0], SENTENCES[0] + SENTENCES[1])
        assert isinstance(one, HighlightResult)
        assert_close(one.to_dict(), xlmr.highlight(QUERIES[0], SENTENCES[0] + SENTENCES[1]).to_dict())
        pairs = [(QUERIES[1], [SENTENCES[3], SENTENCES[2] + SENTENCES[3]]), (QUERIES[2], [SENTENCES[4] + SENTENCES[5]])]
        got = remote.highlight_batch(pairs)
        assert_close(
            [[r.to_dict() for r in rs] for rs in got], [[r.to_dict() for r in rs] for rs in xlmr.highlight_batch(pairs)]
        )
        assert remote.model_card()["id"] == str(TINY)


def test_killed_replica_loses_no_request_for_remote_highlighter(serve_url: str, xlmr: Any, ray_local: Any) -> None:  # noqa: F811
    """Kill one replica's actor while 16 ``RemoteHighlighter`` clients send 160 requests: with its own retries every
    request is answered, each equal to the in-process result, and the killed replica answers nothing afterwards.
    Runs last: Serve then replaces the replica in the background."""
    ray = ray_local
    before = replica_actors(ray)
    assert len(before) == 2
    victim_id, victim_name = sorted(before.items())[0]
    requests = requests_for(160)
    result: dict[str, Any] = {}
    answers: dict[int, Any] = {}
    loader = threading.Thread(
        target=lambda: result.update(failures=asyncio.run(_highlight_all(serve_url, requests, 16, answers)))
    )
    loader.start()
    while len(answers) < 16 and loader.is_alive():  # the load has reached both replicas
        time.sleep(0.01)
    assert len(answers) < len(requests) - 32, "the load ended before the kill"
    ray.kill(ray.get_actor(victim_name, namespace="serve"), no_restart=True)
    loader.join(timeout=300)
    assert not loader.is_alive()
    assert result["failures"] == []
    assert sorted(answers) == list(range(len(requests)))
    for i, got in answers.items():
        assert_close(got, expected(xlmr, requests[i]))
    assert victim_id not in replica_actors(ray)
    after, failures, _ = asyncio.run(_send_all(serve_url, requests[:8], 4, 8))
    assert failures == []
    assert victim_id not in {r.headers["x-semantic-highlight-replica"] for r in after.values()}
