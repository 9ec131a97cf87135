"""``Highlighter``: the synchronous API that :class:`~semantic_highlight.SemanticHighlighter` (in process) and
:class:`~semantic_highlight.serve.RemoteHighlighter` (over HTTP) share, for code that takes either.

The two classes spell out the same overloaded signatures (no common base class: the client must not depend on
the engine's internals). The ``TYPE_CHECKING`` block at the end ties them together for mypy (run by CI): both
must satisfy this protocol, and each one's ``highlight`` / ``highlight_batch`` must accept whatever the other's
does, so a parameter added, removed or retyped on one side only is a type error.

:class:`~semantic_highlight.annotations.HighlighterLike` is the looser, runtime-checkable shape the framework
wrappers accept (anything with callable ``highlight`` / ``highlight_batch``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, overload

if TYPE_CHECKING:
    from .highlighter import Document
    from .options import SelectionOptions
    from .packing import QueryTruncation
    from .results import HighlightResult

__all__ = ["Highlighter"]


class Highlighter(Protocol):
    """``highlight`` (one document -> one result, a list -> a list) and ``highlight_batch`` (many queries), with
    the engine's per-call selection options."""

    @overload
    def highlight(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
        self,
        query: str,
        documents: str,
        *,
        threshold: float | None = ...,
        fallback_threshold: float | None = ...,
        relative_threshold: float | None = ...,
        top_k: int | None = ...,
        min_score: float | None = ...,
        selection: SelectionOptions | None = ...,
        query_truncation: QueryTruncation | None = ...,
        show_progress: bool | None = ...,
        on_batch: Callable[[int, int], None] | None = ...,
    ) -> HighlightResult: ...
    @overload
    def highlight(
        self,
        query: str,
        documents: Sequence[Document],
        *,
        threshold: float | None = ...,
        fallback_threshold: float | None = ...,
        relative_threshold: float | None = ...,
        top_k: int | None = ...,
        min_score: float | None = ...,
        selection: SelectionOptions | None = ...,
        query_truncation: QueryTruncation | None = ...,
        show_progress: bool | None = ...,
        on_batch: Callable[[int, int], None] | None = ...,
    ) -> list[HighlightResult]: ...

    def highlight_batch(
        self,
        pairs: Sequence[tuple[str, Document | Sequence[Document]]],
        *,
        threshold: float | None = ...,
        fallback_threshold: float | None = ...,
        relative_threshold: float | None = ...,
        top_k: int | None = ...,
        min_score: float | None = ...,
        selection: SelectionOptions | None = ...,
        query_truncation: QueryTruncation | None = ...,
        show_progress: bool | None = ...,
        on_batch: Callable[[int, int], None] | None = ...,
    ) -> list[list[HighlightResult]]: ...


if TYPE_CHECKING:
    from .highlighter import SemanticHighlighter
    from .serve.client import RemoteHighlighter

    def _signatures_agree(local: SemanticHighlighter, remote: RemoteHighlighter) -> tuple[object, ...]:
        """Never called; mypy checks it. Each reassignment must fit the type the first assignment gave."""
        both: list[Highlighter] = [local, remote]
        highlight, batch = local.highlight, local.highlight_batch
        highlight, batch = remote.highlight, remote.highlight_batch  # remote accepts all that local accepts
        remote_highlight, remote_batch = remote.highlight, remote.highlight_batch
        remote_highlight, remote_batch = local.highlight, local.highlight_batch  # and the other way round
        return both, highlight, batch, remote_highlight, remote_batch
