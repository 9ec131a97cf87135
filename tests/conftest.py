"""Shared fixtures and test doubles: the tiny reference checkpoints in ../shared, helpers to load their cases, shared
workloads, stand-in highlighters and scripted agent LLMs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SEMANTIC_HIGHLIGHT_SHARED") or ROOT.parent / "shared")  # override: tests of the CI rule
FIXTURES = SHARED / "fixtures"
DATA = SHARED / "data"
FIXTURE_NAMES = ["op-tiny-xlmr", "op-tiny-modernbert"]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def in_ci() -> bool:
    """True under CI (``CI=true``), where ../shared is always present: a missing fixture is a failure there."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_shared(path: Path) -> None:
    """Skip the test when ``path`` (under ../shared) is missing, but fail under ``CI=true``."""
    if not path.exists():
        message = f"../shared is not available: {path} is missing"
        if in_ci():
            pytest.fail(f"{message} (CI=true: ../shared must be present)", pytrace=False)
        pytest.skip(message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under ``CI=true``, a skip because ../shared is missing (every such skip names "../shared",
    ``skipif`` markers included) is reported as a failure: CI always has ../shared, so it hides a gap."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and in_ci() and "../shared" in str(report.longrepr):
        report.outcome = "failed"
        report.longrepr = f"{report.longrepr}\nCI=true: ../shared must be present, so this skip is a failure"


WORKLOAD_SENTENCES = [
    "The Eiffel Tower is about 330 metres tall. ",
    "It was completed in 1889. ",
    "Paris is the capital of France. ",
    "Cats eat meat and fish. ",
    "埃菲尔铁塔位于巴黎。",
    "铁塔高约三百三十米。",
    "The A15 chip scores over a million in benchmarks. ",
    "Apps open with no lag, even with many tabs. ",
]
"""English and Chinese sentences that the load and Ray tests (test_serve_load, test_ray_serve, test_ray_data) build
their requests and rows from, with ``WORKLOAD_QUERIES``. Those tests compare with the in-process engine on the same
inputs, so no assertion depends on these strings (a query and the sentences it is paired with by index, such as
query 2 with sentences 4 and 5, agree in meaning only for the reader)."""
WORKLOAD_QUERIES = [
    "How tall is the Eiffel Tower?",
    "What do cats eat?",
    "铁塔有多高？",
    "iPhone performance",
    "手机性能怎么样？",
]


@cache
def tiny_highlighter(name: str) -> Any:
    from semantic_highlight import SemanticHighlighter

    return SemanticHighlighter(model=str(FIXTURES / name), device="cpu", dtype="float32")  # parity needs fp32


@pytest.fixture(scope="session")
def xlmr() -> Any:
    require_shared(FIXTURES / "op-tiny-xlmr")
    return tiny_highlighter("op-tiny-xlmr")


@pytest.fixture(scope="session")
def modernbert() -> Any:
    require_shared(FIXTURES / "op-tiny-modernbert")
    return tiny_highlighter("op-tiny-modernbert")


# --- integrations (LangChain, LlamaIndex, annotations, notebooks) ---------------------------------


def default_model_available() -> bool:
    """True when the embedded default model has been shipped into the package."""
    from semantic_highlight.models import DEFAULT_MODEL_DIR

    return (DEFAULT_MODEL_DIR / "config.json").is_file()


def integration_model() -> str | None:
    """``model=`` for the integration tests: the embedded default (``None``) when present, else the tiny fixture."""
    return None if default_model_available() else str(FIXTURES / "op-tiny-xlmr")


@cache
def integration_highlighter() -> Any:
    from semantic_highlight import SemanticHighlighter

    return SemanticHighlighter(model=integration_model(), device="cpu")


@pytest.fixture(scope="session")
def highlighter() -> Any:
    """The shipped default model when present, else the tiny random op-tiny-xlmr fixture; loaded once."""
    if not default_model_available():
        require_shared(FIXTURES / "op-tiny-xlmr")
    return integration_highlighter()


# --- agent tests (tests/test_agents_langchain.py, tests/test_agents_llama_index.py) ------------------

AGENT_DOCS = [
    "The Eiffel Tower was completed in 1889 as the entrance arch to the World's Fair in Paris. "
    "Its wrought-iron lattice was designed by the engineering company of Gustave Eiffel. "
    "Today the tower receives about seven million visitors a year, more than any other paid monument.",
    "Bananas are a good source of potassium and vitamin B6. They grow in tropical regions and are harvested "
    "while still green. A ripe banana has brown spots on its yellow skin.",
    "The Great Wall of China stretches for more than 21,000 kilometres. Most of the wall that stands today was "
    "built during the Ming dynasty. It was declared a World Heritage Site in 1987.",
]
"""What the agent tests' tools return: one sentence (``AGENT_ANSWER``) answers ``AGENT_QUERY``."""
AGENT_PAGE = " ".join(AGENT_DOCS)
AGENT_QUERY = "How many people visit the Eiffel Tower?"
AGENT_ANSWER = "Today the tower receives about seven million visitors a year, more than any other paid monument."
AGENT_UNRELATED = "What is the boiling point of mercury?"


@pytest.fixture(scope="module")
def agent_highlighter() -> Any:
    """The embedded default model (the agent tests assert which sentence it selects); skips without it."""
    if not default_model_available():
        pytest.skip("the embedded default model is not available")
    return integration_highlighter()


class BrokenHighlighter:
    """A highlighter whose server is down: every call raises ``RuntimeError("server unavailable")``."""

    def highlight(self, query: str, documents: Any, **options: Any) -> Any:
        raise RuntimeError("server unavailable")

    def highlight_batch(self, pairs: Any, **options: Any) -> Any:
        raise RuntimeError("server unavailable")


def mixed_threshold(highlighter: Any, query: str, texts: list[str]) -> float:
    """A threshold that selects some sentences of ``texts`` and leaves others out, whatever the model
    (the random fixture and the trained default score on very different scales). It lies halfway between two
    scores, so the rounding noise of shared batches (about 1e-7, see ``scheduler.py``) cannot flip a selection."""
    results = highlighter.highlight(query, texts)
    scores = sorted({s.score for r in results for s in r.sentences})
    assert len(scores) >= 2, "need at least two distinct sentence scores"
    k = len(scores) // 2 - 1 if len(scores) % 2 == 0 else len(scores) // 2
    return (scores[k] + scores[k + 1]) / 2


def assert_close(got: Any, expected: Any, tol: float = 1e-5) -> None:
    """``got == expected`` for nested lists, tuples and dicts, floats within ``tol`` (concurrent calls share
    model batches, whose float32 rounding differs from a call made alone by about 1e-7): the package's rule for
    comparing two runs' rows."""
    from semantic_highlight.jobs.rows import nested_float_diff  # imported here: conftest loads no engine

    diff = nested_float_diff(got, expected)
    assert diff is not None and diff <= tol, (diff, got, expected)


class DuckHighlighter:
    """A highlighter with the engine's API that is not a ``SemanticHighlighter`` (the shape of
    ``semantic_highlight.RemoteHighlighter``): delegates to ``engine`` and records which method ran on
    which thread. ``with_async=False`` leaves out ``ahighlight``/``ahighlight_batch``."""

    def __init__(self, engine: Any, with_async: bool = True) -> None:
        import threading

        self.engine = engine
        self.calls: list[tuple[str, int]] = []
        self._thread_id = threading.get_ident
        if not with_async:
            self.ahighlight = None
            self.ahighlight_batch = None

    def _record(self, name: str) -> None:
        self.calls.append((name, self._thread_id()))

    def highlight(self, query: str, documents: Any, **options: Any) -> Any:
        self._record("highlight")
        return self.engine.highlight(query, documents, **options)

    def highlight_batch(self, pairs: Any, **options: Any) -> Any:
        self._record("highlight_batch")
        return self.engine.highlight_batch(pairs, **options)

    async def ahighlight(self, query: str, documents: Any, **options: Any) -> Any:  # type: ignore[no-redef]
        self._record("ahighlight")
        return self.engine.highlight(query, documents, **options)

    async def ahighlight_batch(self, pairs: Any, **options: Any) -> Any:  # type: ignore[no-redef]
        self._record("ahighlight_batch")
        return self.engine.highlight_batch(pairs, **options)


# --- scripted LLMs for agent loops (test_mcp.py; the doubles of test_agents_*.py can move here too) -------------


def scripted_chat_model(replies: Iterable[Any]) -> Any:
    """A LangChain tool-calling fake chat model: plays back ``replies`` (``AIMessage`` objects: tool calls, then an
    answer) and records in ``.received`` the messages it was sent on each turn, which the tests assert on. It
    stands in for the agent's LLM, not for the highlighter, so the highlighter doubles above cannot serve.
    LangChain is imported on first use, so this module loads without it."""
    return _scripted_chat_model_class()(messages=iter(replies), received=[])


@cache
def _scripted_chat_model_class() -> type[Any]:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from pydantic import Field

    class ScriptedChatModel(GenericFakeChatModel):
        received: list[list[Any]] = Field(default_factory=list)

        def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
            return self

        def _generate(self, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
            self.received.append(list(messages))
            return super()._generate(messages, *args, **kwargs)

    return ScriptedChatModel


class ToolCallScript:
    """The turns of a LlamaIndex ``MockFunctionCallingLLM`` (its ``response_generator``): call ``tool`` with
    ``args``, then, once a tool result is among the messages, reply ``answer``; records every turn's messages in
    ``.received``. Like :func:`scripted_chat_model`, a stand-in for the agent's LLM, imported on first use."""

    def __init__(self, tool: str, args: dict[str, Any], answer: str = "Done.") -> None:
        self.tool, self.args, self.answer = tool, args, answer
        self.received: list[list[Any]] = []

    def __call__(self, messages: list[Any], **kwargs: Any) -> Any:
        from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock

        self.received.append(list(messages))
        if any(m.role == MessageRole.TOOL for m in messages):
            return ChatMessage(role=MessageRole.ASSISTANT, content=self.answer)
        call = ToolCallBlock(tool_call_id="call-1", tool_name=self.tool, tool_kwargs=self.args)
        return ChatMessage(role=MessageRole.ASSISTANT, blocks=[call])

    def tool_message(self) -> Any:
        """The tool result the LLM received on its second (last) turn."""
        from llama_index.core.base.llms.types import MessageRole

        assert len(self.received) == 2
        (message,) = [m for m in self.received[1] if m.role == MessageRole.TOOL]
        return message
