"""Chat backends for the annotator.

:class:`ChatBackend` is the small protocol the pipeline needs. Two implementations share retries
with exponential backoff, a concurrency limit and token accounting: :class:`OpenAICompatibleBackend`
(any ``/chat/completions`` endpoint: vLLM, Ollama, llama.cpp, hosted APIs; stdlib HTTP only) and
:class:`LangChainBackend` (any LangChain ``BaseChatModel``).
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "ChatBackend",
    "ChatResponse",
    "LLMError",
    "LangChainBackend",
    "Message",
    "OpenAICompatibleBackend",
    "TransientLLMError",
    "Usage",
]

Message = dict[str, str]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": str}``."""


class LLMError(RuntimeError):
    """A chat call failed for good (after retries, or with a non-retryable error)."""


class TransientLLMError(LLMError):
    """A chat call failed in a way worth retrying (timeout, connection error, HTTP 429/5xx)."""


@dataclass(frozen=True)
class ChatResponse:
    """The text of one completion and its token counts (``None`` when the backend did not report them)."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None


@runtime_checkable
class ChatBackend(Protocol):
    """What the annotation pipeline calls: one chat completion per call, safe to call from threads."""

    model_name: str

    def complete(self, messages: Sequence[Message], *, temperature: float = 0.0) -> ChatResponse:
        """Return the assistant's reply to ``messages``; raise :class:`LLMError` when it cannot."""
        ...


class Usage:
    """Thread-safe counters: calls, retries, failures and tokens; :meth:`cost` prices the tokens."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.retries = 0
        self.failed_calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.calls_without_usage = 0

    def record(self, response: ChatResponse | None = None, *, retry: bool = False, failed: bool = False) -> None:
        """Count a successful call (``response``), a retry or a call that failed for good."""
        with self._lock:
            if retry:
                self.retries += 1
            if failed:
                self.failed_calls += 1
            if response is not None:
                self.calls += 1
                if response.input_tokens is None and response.output_tokens is None:
                    self.calls_without_usage += 1
                self.input_tokens += response.input_tokens or 0
                self.output_tokens += response.output_tokens or 0

    def merge(self, other: Usage) -> None:
        """Add ``other``'s counters to these."""
        with self._lock:
            for k in ("calls", "retries", "failed_calls", "input_tokens", "output_tokens", "calls_without_usage"):
                setattr(self, k, getattr(self, k) + getattr(other, k))

    def since(self, snapshot: dict[str, int]) -> Usage:
        """The counts added after ``snapshot`` (an earlier :meth:`as_dict`)."""
        out = Usage()
        for k, v in self.as_dict().items():
            setattr(out, k, v - snapshot.get(k, 0))
        return out

    def cost(self, price_per_1k_input: float = 0.0, price_per_1k_output: float = 0.0) -> float:
        """Cost of the counted tokens at the given prices per 1000 tokens."""
        return self.input_tokens / 1000 * price_per_1k_input + self.output_tokens / 1000 * price_per_1k_output

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return {
            k: getattr(self, k)
            for k in ("calls", "retries", "failed_calls", "input_tokens", "output_tokens", "calls_without_usage")
        }


class _RetryingBackend:
    """Retries, concurrency limit and accounting around a single-attempt :meth:`_attempt`."""

    def __init__(
        self,
        model_name: str,
        *,
        max_retries: int = 3,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        max_concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_retries < 0 or max_concurrency < 1:
            raise ValueError("max_retries must be >= 0 and max_concurrency >= 1")
        self.model_name = model_name
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.usage = Usage()
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._sleep = sleep

    def _attempt(self, messages: Sequence[Message], temperature: float) -> ChatResponse:
        raise NotImplementedError

    def _delay(self, attempt: int, hint: float | None) -> float:
        base = min(self.backoff_max, self.backoff_base * 2**attempt)
        if hint is not None:
            return min(self.backoff_max, max(hint, base))
        return base * (0.5 + random.random() / 2)

    def complete(self, messages: Sequence[Message], *, temperature: float = 0.0) -> ChatResponse:
        """One completion, retried on :class:`TransientLLMError` with exponential backoff (jittered)."""
        attempt = 0
        while True:
            try:
                with self._slots:
                    response = self._attempt(messages, temperature)
            except TransientLLMError as exc:
                if attempt >= self.max_retries:
                    self.usage.record(failed=True)
                    raise LLMError(f"{self.model_name}: giving up after {attempt + 1} attempts: {exc}") from exc
                self.usage.record(retry=True)
                self._sleep(self._delay(attempt, getattr(exc, "retry_after", None)))
                attempt += 1
                continue
            except LLMError:
                self.usage.record(failed=True)
                raise
            self.usage.record(response)
            return response


def _retry_after(headers: Any) -> float | None:
    try:
        return float(headers.get("Retry-After")) if headers and headers.get("Retry-After") else None
    except (TypeError, ValueError):
        return None


class OpenAICompatibleBackend(_RetryingBackend):
    """Client for an OpenAI-compatible ``POST {base_url}/chat/completions`` endpoint.

    ``base_url`` is the API root (``http://localhost:8000/v1``, ``http://localhost:11434/v1``,
    ``https://api.openai.com/v1``). Timeouts, connection errors and HTTP 408/409/429/5xx are
    retried; other HTTP errors fail at once. ``extra_body`` is merged into each request (e.g.
    ``{"response_format": {"type": "json_object"}}`` or ``{"max_tokens": 1024}``).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        max_concurrency: int = 4,
        extra_body: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            model,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            max_concurrency=max_concurrency,
            sleep=sleep,
        )
        url = base_url.rstrip("/")
        self.url = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self.api_key = api_key
        self.timeout = timeout
        self.extra_body = dict(extra_body or {})

    def _attempt(self, messages: Sequence[Message], temperature: float) -> ChatResponse:
        body = {"model": self.model_name, "messages": list(messages), "temperature": temperature, **self.extra_body}
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace") if exc.fp else ""
            msg = f"HTTP {exc.code} from {self.url}: {detail}"
            if exc.code in (408, 409, 429) or exc.code >= 500:
                err = TransientLLMError(msg)
                err.retry_after = _retry_after(exc.headers)  # type: ignore[attr-defined]
                raise err from exc
            raise LLMError(msg) from exc
        except OSError as exc:  # URLError, timeouts, refused/reset connections
            raise TransientLLMError(f"{type(exc).__name__} calling {self.url}: {exc}") from exc
        try:
            data = json.loads(raw)
            text = data["choices"][0]["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise TransientLLMError(f"unexpected response body from {self.url}: {raw[:200]!r}") from exc
        usage = data.get("usage") or {}
        return ChatResponse(text, usage.get("prompt_tokens"), usage.get("completion_tokens"))


class LangChainBackend(_RetryingBackend):
    """Adapter for any LangChain ``BaseChatModel`` (``ChatOpenAI``, ``ChatOllama``, fakes, ...).

    Every exception from ``invoke`` is treated as transient and retried. ``temperature`` is passed
    through ``bind`` only when it differs from 0 and the model has a ``temperature`` field.
    Token counts come from the reply's ``usage_metadata`` when the model reports it.
    """

    def __init__(
        self,
        model: Any,
        *,
        name: str | None = None,
        max_retries: int = 2,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        max_concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        name = name or getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__
        super().__init__(
            str(name),
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            max_concurrency=max_concurrency,
            sleep=sleep,
        )
        self.model = model

    def _attempt(self, messages: Sequence[Message], temperature: float) -> ChatResponse:
        runnable = self.model
        if temperature and "temperature" in getattr(type(self.model), "model_fields", {}):
            runnable = self.model.bind(temperature=temperature)
        try:
            reply = runnable.invoke([(m["role"], m["content"]) for m in messages])
        except Exception as exc:  # any provider error: retry, then give up
            raise TransientLLMError(f"{type(exc).__name__}: {exc}") from exc
        content = getattr(reply, "content", reply)
        if isinstance(content, list):  # content blocks
            content = "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content)
        meta = getattr(reply, "usage_metadata", None) or {}
        return ChatResponse(str(content), meta.get("input_tokens"), meta.get("output_tokens"))
