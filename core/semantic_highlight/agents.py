"""Framework-free logic for pruning agent tool outputs (shared by the LangChain middleware and the
LlamaIndex tool wrapper; the framework modules only translate their message/tool objects).

A tool output becomes an :class:`OutputPlan`: the texts to score (one per document, JSON item,
content block, or the whole string) and a ``rebuild`` that puts the kept texts back into the
output's own shape. :func:`prune_tool_output` / :func:`aprune_tool_output` score every text of one
output in one batched call and return a :class:`PruneOutcome`: the new output and a record
(characters and tokens before/after, items kept, the query and where it came from). A wrapper holds one
:class:`ToolPruner` (built from its keyword options): it finds the query, prunes, builds the record the
wrapper attaches, and logs what passed through unpruned.

Rules, the same in both frameworks:

- prune mode keeps the selected sentences plus ``context_sentences`` neighbours (in document order,
  the original whitespace between them, stripped at both ends); an item (document, JSON object,
  block) with nothing selected is dropped; when nothing at all is selected the output keeps its best
  sentence (``on_empty="best"``) or becomes a short note (``on_empty="note"``), never an empty string;
- annotate mode keeps every text and wraps the selected sentences in ``marks``;
- outputs whose texts total fewer than ``min_chars`` characters are left alone, and items that are
  not non-blank strings pass through unscored.
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .aggregate import check_count
from .annotations import (
    DEFAULT_METADATA_KEY,
    MODES,
    AnnotateOptions,
    Mode,
    annotation_metadata,
    bad_content_reason,
    prune,
    resolve_highlighter,
)

if TYPE_CHECKING:
    from .results import HighlightResult

__all__ = [
    "DEFAULT_EMPTY_NOTE",
    "DEFAULT_MARKS",
    "DEFAULT_QUERY_ARGS",
    "DEFAULT_TEXT_KEYS",
    "ON_EMPTY",
    "OnEmpty",
    "OutputPlan",
    "PruneOutcome",
    "PrunerAccess",
    "Rebuild",
    "TokenCounter",
    "ToolPruneOptions",
    "ToolPruner",
    "approximate_tokens",
    "aprune_tool_output",
    "default_token_counter",
    "mark_text",
    "plan_blocks",
    "plan_embedded",
    "plan_items",
    "plan_plain",
    "plan_structured",
    "plan_text",
    "prune_tool_output",
    "query_from_args",
]

logger = logging.getLogger(__name__)

DEFAULT_QUERY_ARGS: tuple[str, ...] = ("query", "question", "q", "search_query")
"""Tool-call arguments read as the query, first match wins."""
DEFAULT_TEXT_KEYS: tuple[str, ...] = ("page_content", "text", "content", "snippet", "body", "passage", "chunk")
"""Keys of a JSON object (or dict) that hold its text, first match wins."""
DEFAULT_EMPTY_NOTE = "[semantic-highlight] Nothing in this tool output is relevant to: {query}"
"""The note that replaces an output with nothing relevant (``on_empty="note"``); ``{query}`` is filled in."""
DEFAULT_MARKS: tuple[str, str] = ("<mark>", "</mark>")
"""What annotate mode wraps each selected sentence in."""

OnEmpty = Literal["best", "note"]
ON_EMPTY: tuple[str, ...] = ("best", "note")
TokenCounter = Callable[[str], int]
Rebuild = Callable[[list[Any], list[bool]], Any]
"""``rebuild(texts, keep)``: the new output from one text and one keep flag per plan item."""


def _names(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise TypeError(f"{name} must be a non-empty sequence of str, got {value!r}")
    if not all(isinstance(v, str) and v for v in value):
        raise TypeError(f"{name} must hold non-empty str, got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class ToolPruneOptions:
    """How tool outputs are pruned.

    Args:
        mode: ``"prune"`` keeps only the relevant sentences; ``"annotate"`` keeps the text and wraps them in ``marks``.
        threshold / fallback_threshold / relative_threshold / top_k: the engine's selection settings
            (``None``: the highlighter's defaults).
        context_sentences: prune mode also keeps this many sentences before and after each selected one.
        min_chars: outputs whose texts total fewer characters are left alone.
        on_empty: when nothing is selected in prune mode: ``"best"`` keeps the best sentence, ``"note"``
            replaces the output with ``empty_note``.
        empty_note: the note (``{query}`` is replaced by the query).
        marks: annotate mode's opening and closing marks.
        query_args: tool-call arguments read as the query, first present non-blank str wins.
        text_keys: keys holding an object's text in JSON / dict outputs, first str value wins.
    """

    mode: Mode = "prune"
    threshold: float | None = None
    fallback_threshold: float | None = None
    relative_threshold: float | None = None
    top_k: int | None = None
    context_sentences: int = 0
    min_chars: int = 400
    on_empty: OnEmpty = "best"
    empty_note: str = DEFAULT_EMPTY_NOTE
    marks: tuple[str, str] = DEFAULT_MARKS
    query_args: tuple[str, ...] = DEFAULT_QUERY_ARGS
    text_keys: tuple[str, ...] = DEFAULT_TEXT_KEYS

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        self.annotate_options()  # validates thresholds, top_k, context_sentences
        check_count(self.min_chars, "min_chars", 0)
        if self.min_chars is None:
            raise ValueError("min_chars must be an int >= 0, got None")
        if self.on_empty not in ON_EMPTY:
            raise ValueError(f"on_empty must be one of {ON_EMPTY}, got {self.on_empty!r}")
        if not isinstance(self.empty_note, str) or not self.empty_note.strip():
            raise ValueError(f"empty_note must be a non-blank str, got {self.empty_note!r}")
        if (
            not isinstance(self.marks, Sequence)
            or len(self.marks) != 2
            or not all(isinstance(m, str) for m in self.marks)
        ):
            raise TypeError(f"marks must be two str (open, close), got {self.marks!r}")
        object.__setattr__(self, "marks", tuple(self.marks))
        object.__setattr__(self, "query_args", _names(self.query_args, "query_args"))
        object.__setattr__(self, "text_keys", _names(self.text_keys, "text_keys"))

    def annotate_options(self) -> AnnotateOptions:
        return AnnotateOptions(
            mode=self.mode,
            threshold=self.threshold,
            fallback_threshold=self.fallback_threshold,
            relative_threshold=self.relative_threshold,
            top_k=self.top_k,
            context_sentences=self.context_sentences,
        )

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments for ``highlight()``."""
        return {
            "threshold": self.threshold,
            "fallback_threshold": self.fallback_threshold,
            "relative_threshold": self.relative_threshold,
            "top_k": self.top_k,
        }

    def note(self, query: str) -> str:
        return self.empty_note.replace("{query}", query)


def query_from_args(args: object, names: Sequence[str] = DEFAULT_QUERY_ARGS) -> tuple[str, str] | None:
    """The query in a tool call's arguments: ``(value, argument name)`` of the first of ``names`` that
    holds a non-blank str, else ``None``."""
    if not isinstance(args, Mapping):
        return None
    for name in names:
        value = args.get(name)
        if isinstance(value, str) and value.strip():
            return value, name
    return None


# --- token counts -----------------------------------------------------------------------------------

_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff]")


def approximate_tokens(text: str) -> int:
    """A model-free token estimate: one per CJK character, one per four other characters."""
    wide = len(_WIDE.findall(text))
    return wide + -(-(len(text) - wide) // 4)


def default_token_counter(highlighter: Any) -> TokenCounter:
    """Counts with the in-process model's tokenizer (subword tokens, no special tokens) when the
    highlighter has one, else :func:`approximate_tokens` (e.g. a remote highlighter)."""
    tokenizer = getattr(getattr(highlighter, "model", None), "tokenizer", None)
    if tokenizer is None or not callable(getattr(tokenizer, "encode", None)):
        return approximate_tokens

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids) if text else 0

    return count


# --- plans: a tool output as texts to score and a way back --------------------------------------------


def _as_text(output: Any) -> str:
    """The text a model sees for ``output``: a str itself, a list of blocks their texts joined."""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        parts = [_block_text(b) for b in output]
        return "\n".join(p for p in parts if p is not None)
    return str(output)


def _block_text(block: Any) -> str | None:
    if isinstance(block, str):
        return block
    if isinstance(block, Mapping) and block.get("type") == "text" and isinstance(block.get("text"), str):
        return block["text"]
    return None


@dataclass
class OutputPlan:
    """A tool output cut into texts.

    ``items`` are the candidate texts (anything that is not a non-blank str passes through unscored);
    ``rebuild(texts, keep)`` gets one entry per item (the new text, the original for unscored items) and
    whether to keep it, and returns the new output; ``measure`` renders an output as the text a model sees.
    """

    shape: str
    items: list[Any]
    rebuild: Rebuild
    original: Any
    measure: Callable[[Any], str] = _as_text
    droppable: bool = True

    @property
    def scored(self) -> list[int]:
        return [i for i, item in enumerate(self.items) if bad_content_reason(item) is None]

    @property
    def chars(self) -> int:
        return sum(len(self.items[i]) for i in self.scored)


def plan_items(
    items: Sequence[Any],
    rebuild: Rebuild,
    original: Any,
    shape: str,
    measure: Callable[[Any], str] = _as_text,
) -> OutputPlan:
    """A plan for a list of texts a framework extracted itself (documents, nodes)."""
    return OutputPlan(shape, list(items), rebuild, original, measure)


def plan_plain(text: str) -> OutputPlan:
    """The whole string as one text."""
    return OutputPlan("text", [text], lambda texts, keep: texts[0], text, droppable=False)


def _text_key(obj: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    return next((k for k in keys if isinstance(obj.get(k), str)), None)


def plan_structured(
    obj: Any, text_keys: Sequence[str] = DEFAULT_TEXT_KEYS, render: Callable[[Any], Any] = json.dumps
) -> OutputPlan | None:
    """A plan for JSON-like data: a list of str or of objects with a text field, one such object, or an
    object holding such a list (e.g. ``{"results": [...]}``). ``render`` turns the rebuilt data into the
    output (``json.dumps``, ``str``, or identity). ``None`` when no text is found."""
    path: list[Any]
    if isinstance(obj, Mapping) and _text_key(obj, text_keys) is not None:
        key = _text_key(obj, text_keys)

        def rebuild_one(texts: list[Any], keep: list[bool]) -> Any:
            return render({**obj, key: texts[0]})

        return OutputPlan("json", [obj[key]], rebuild_one, obj, droppable=False)
    if isinstance(obj, Mapping):
        lists = [k for k, v in obj.items() if isinstance(v, list) and _list_texts(v, text_keys) is not None]
        if not lists:
            return None
        path, rows = [lists[0]], obj[lists[0]]
    elif isinstance(obj, list):
        path, rows = [], obj
    else:
        return None
    located = _list_texts(rows, text_keys)
    if located is None:
        return None
    keys = located

    def rebuild(texts: list[Any], keep: list[bool]) -> Any:
        new_rows = []
        for row, key, text, kept in zip(rows, keys, texts, keep, strict=True):
            if key is None:
                new_rows.append(row)
            elif kept:
                new_rows.append(text if key == "" else {**row, key: text})
        return render({**obj, path[0]: new_rows} if path else new_rows)

    items = [row if key == "" else (row[key] if key is not None else None) for row, key in zip(rows, keys, strict=True)]
    return OutputPlan("json", items, rebuild, obj)


def _list_texts(rows: list[Any], text_keys: Sequence[str]) -> list[str | None] | None:
    """Per row, where its text is (``""``: the row is a str; a key; ``None``: no text), or ``None``
    when no row has text."""
    keys: list[str | None] = []
    for row in rows:
        if isinstance(row, str):
            keys.append("")
        elif isinstance(row, Mapping):
            keys.append(_text_key(row, text_keys))
        else:
            keys.append(None)
    return keys if any(k is not None for k in keys) else None


def _json_dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def plan_text(content: str, text_keys: Sequence[str] = DEFAULT_TEXT_KEYS) -> OutputPlan:
    """A plan for a str output: JSON (see :func:`plan_structured`, re-serialised with ``json.dumps``),
    a Python literal of the same shapes (``str()`` of a list of dicts, re-rendered with ``str``), else
    plain text."""
    stripped = content.strip()
    if stripped[:1] in ("[", "{"):
        try:
            plan = plan_structured(json.loads(stripped), text_keys, _json_dumps)
        except ValueError:
            plan = None
            try:
                plan = plan_structured(ast.literal_eval(stripped), text_keys, str)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                plan = None
        if plan is not None:
            plan.original = content
            return plan
    return plan_plain(content)


def plan_blocks(blocks: Sequence[Any], text_keys: Sequence[str] = DEFAULT_TEXT_KEYS) -> OutputPlan | None:
    """A plan for a list of content blocks (str or ``{"type": "text", "text": ...}``; other blocks such
    as images are kept as they are). A single text block holding JSON is planned as JSON inside it."""
    rows = list(blocks)
    texts = [_block_text(b) for b in rows]
    if not any(t is not None for t in texts):
        return None
    if sum(t is not None for t in texts) == 1:
        at = next(i for i, t in enumerate(texts) if t is not None)
        inner = plan_text(texts[at], text_keys)  # type: ignore[arg-type]
        if inner.shape == "json":

            def rebuild_inner(new: list[Any], keep: list[bool]) -> Any:
                text = inner.rebuild(new, keep)
                block = rows[at]
                return [*rows[:at], text if isinstance(block, str) else {**block, "text": text}, *rows[at + 1 :]]

            return OutputPlan("blocks+json", inner.items, rebuild_inner, rows, droppable=inner.droppable)

    def rebuild(new: list[Any], keep: list[bool]) -> Any:
        out = []
        for block, text, t, kept in zip(rows, texts, new, keep, strict=True):
            if text is None:
                out.append(block)
            elif kept:
                out.append(t if isinstance(block, str) else {**block, "text": t})
        return out

    return OutputPlan("blocks", texts, rebuild, rows)


def plan_embedded(content: str, texts: Sequence[str], shape: str = "documents") -> OutputPlan | None:
    """A plan for a str that embeds ``texts`` in order (e.g. a retriever tool's formatted documents,
    whose documents come as the message artifact). The text around each embedded one (its prompt
    and the separator before it) goes with it when it is dropped. ``None`` when a text is not found."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for text in texts:
        if not isinstance(text, str) or not text:
            return None
        at = content.find(text, pos)
        if at < 0:
            return None
        spans.append((at, at + len(text)))
        pos = at + len(text)
    if not spans:
        return None

    def rebuild(new: list[Any], keep: list[bool]) -> Any:
        parts: list[str] = []
        prev_end = 0
        dropped = False
        for (start, end), text, kept in zip(spans, new, keep, strict=True):
            if not kept:
                dropped = True
            else:
                parts.append(content[prev_end:start] + text)
            prev_end = end
        parts.append(content[prev_end:])
        out = "".join(parts)
        return out.strip() if dropped else out

    return OutputPlan(shape, list(texts), rebuild, content)


# --- scoring and the outcome ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PruneOutcome:
    """The new tool output (``output``; the original when ``changed`` is false) and what was done."""

    output: Any
    changed: bool
    record: dict[str, Any] = field(default_factory=dict)


def mark_text(result: HighlightResult, marks: tuple[str, str] = DEFAULT_MARKS) -> str:
    """``result.text`` with each selected sentence (trailing whitespace outside) wrapped in ``marks``."""
    on, off = marks
    out: list[str] = []
    pos = 0
    for s in result.highlights:
        body = s.text.rstrip()
        out += [result.text[pos : s.start], on, body, off]
        pos = s.start + len(body)
    out.append(result.text[pos:])
    return "".join(out)


def _best_text(result: HighlightResult, context_sentences: int) -> str:
    """The best sentence (first on ties) with ``context_sentences`` neighbours, stripped at both ends."""
    sentences = result.sentences
    best = max(range(len(sentences)), key=lambda i: (sentences[i].score, -i))
    lo, hi = max(0, best - context_sentences), min(len(sentences), best + context_sentences + 1)
    return "".join(s.text for s in sentences[lo:hi]).strip()


def _skip(plan: OutputPlan, options: ToolPruneOptions) -> str | None:
    if not plan.scored:
        return "no text to score"
    if plan.chars < options.min_chars:
        return f"shorter than min_chars ({plan.chars} < {options.min_chars})"
    return None


def _base_record(plan: OutputPlan, query: str, counter: TokenCounter) -> dict[str, Any]:
    before = plan.measure(plan.original)
    return {
        "query": query,
        "shape": plan.shape,
        "items": len(plan.items),
        "chars_before": len(before),
        "tokens_before": counter(before),
    }


def _unchanged(plan: OutputPlan, record: dict[str, Any], reason: str) -> PruneOutcome:
    record.update(
        skipped=reason,
        items_kept=len(plan.items),
        chars_after=record["chars_before"],
        tokens_after=record["tokens_before"],
    )
    return PruneOutcome(plan.original, False, record)


def _finish(
    plan: OutputPlan,
    results: Sequence[HighlightResult],
    query: str,
    options: ToolPruneOptions,
    counter: TokenCounter,
    record: dict[str, Any],
    started: float,
) -> PruneOutcome:
    scored = plan.scored
    if len(results) != len(scored):
        raise ValueError(f"highlighter returned {len(results)} results for {len(scored)} texts")
    by_index = dict(zip(scored, results, strict=True))
    new: list[Any] = list(plan.items)
    keep = [True] * len(plan.items)
    selected = 0
    for i, result in by_index.items():
        count = len(result.highlights)
        selected += count
        if options.mode == "annotate":
            new[i] = mark_text(result, options.marks) if count else plan.items[i]
        elif count:
            new[i] = prune(result, options.context_sentences)[0].strip()
        else:
            keep[i] = not plan.droppable
    on_empty: str | None = None
    output: Any
    if selected == 0 and options.mode == "prune":
        candidates = [i for i in scored if by_index[i].sentences]
        if options.on_empty == "best" and candidates:
            best = max(candidates, key=lambda i: (by_index[i].score, -i))
            new[best], keep[best] = _best_text(by_index[best], options.context_sentences), True
            on_empty = "best"
            output = plan.rebuild(new, keep)
        else:
            on_empty = "note"
            output = options.note(query)
    else:
        output = plan.rebuild(new, keep)
    after = plan.measure(output)
    if not after.strip():  # never hand the model an empty output
        on_empty, output = "note", options.note(query)
        after = output
    record.update(
        skipped=None,
        mode=options.mode,
        items_kept=0 if on_empty == "note" else sum(keep),
        sentences=sum(len(r.sentences) for r in results),
        selected=selected,
        on_empty=on_empty,
        chars_after=len(after),
        tokens_after=counter(after),
        model=results[0].model if results else None,
        threshold=float(results[0].threshold) if results else None,
        highlights=[annotation_metadata(by_index[i])[1] if i in by_index else None for i in range(len(plan.items))],
        seconds=time.perf_counter() - started,
    )
    return PruneOutcome(output, True, record)


def prune_tool_output(
    highlighter: Any,
    query: str,
    plan: OutputPlan,
    options: ToolPruneOptions | None = None,
    counter: TokenCounter | None = None,
) -> PruneOutcome:
    """Score every text of ``plan`` for ``query`` in one batched call and rebuild the output."""
    options = options or ToolPruneOptions()
    counter = counter or approximate_tokens
    started = time.perf_counter()
    record = _base_record(plan, query, counter)
    reason = _skip(plan, options)
    if reason is not None:
        return _unchanged(plan, record, reason)
    texts = [plan.items[i] for i in plan.scored]
    results = list(highlighter.highlight(query, texts, **options.engine_options()))
    return _finish(plan, results, query, options, counter, record, started)


async def aprune_tool_output(
    highlighter: Any,
    query: str,
    plan: OutputPlan,
    options: ToolPruneOptions | None = None,
    counter: TokenCounter | None = None,
) -> PruneOutcome:
    """:func:`prune_tool_output` without blocking the event loop: the highlighter's ``ahighlight``
    when it has one (a remote client), else ``highlight`` in a worker thread."""
    options = options or ToolPruneOptions()
    counter = counter or approximate_tokens
    started = time.perf_counter()
    record = _base_record(plan, query, counter)
    reason = _skip(plan, options)
    if reason is not None:
        return _unchanged(plan, record, reason)
    texts = [plan.items[i] for i in plan.scored]
    ahighlight = getattr(highlighter, "ahighlight", None)
    if callable(ahighlight):
        results = list(await ahighlight(query, texts, **options.engine_options()))
    else:
        results = list(await asyncio.to_thread(highlighter.highlight, query, texts, **options.engine_options()))
    return _finish(plan, results, query, options, counter, record, started)


# --- what a framework wrapper holds ---------------------------------------------------------------------


@dataclass(frozen=True)
class ToolPruner:
    """The framework-free half of a tool-output wrapper (the LangChain middleware and tool, the LlamaIndex tool
    wrapper): the highlighter, the options, the token counter and the record's metadata key. The wrapper
    translates its framework's objects; this finds the query, prunes, builds the record and logs pass-throughs,
    so the rules are the same in every framework."""

    highlighter: Any
    options: ToolPruneOptions
    token_counter: TokenCounter
    metadata_key: str = DEFAULT_METADATA_KEY

    @classmethod
    def create(
        cls,
        highlighter: Any = None,
        *,
        model: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        token_counter: TokenCounter | None = None,
        metadata_key: str = DEFAULT_METADATA_KEY,
        **options: Any,
    ) -> ToolPruner:
        """A wrapper's keyword settings: ``options`` are :class:`ToolPruneOptions` fields (checked first, so a bad
        one fails before a model loads); ``highlighter`` as given, else one built from ``model``/``device``/
        ``dtype``; ``token_counter`` defaults to the model's tokenizer, else an estimate."""
        checked = ToolPruneOptions(**options)
        engine = resolve_highlighter(highlighter, model, device, dtype)
        return cls(engine, checked, token_counter or default_token_counter(engine), metadata_key)

    def find_query(
        self, name: str, args: object, fallback: str | None = None, fallback_source: str = "user_message"
    ) -> tuple[str, str] | None:
        """``(query, source)`` for a call of tool ``name``: the first of ``options.query_args`` holding a non-blank
        str in ``args`` (source ``"args.<name>"``), else a non-blank ``fallback`` (the user's message, source
        ``fallback_source``); ``None`` (logged: the output passes through) when there is neither."""
        found = query_from_args(args, self.options.query_args)
        if found is not None:
            return found[0], f"args.{found[1]}"
        if isinstance(fallback, str) and fallback.strip():
            return fallback, fallback_source
        logger.warning("semantic-highlight: %s output passed through: no query argument and no user message", name)
        return None

    def prune(self, query: str, plan: OutputPlan) -> PruneOutcome:
        """:func:`prune_tool_output` with this wrapper's highlighter, options and counter."""
        return prune_tool_output(self.highlighter, query, plan, self.options, self.token_counter)

    async def aprune(self, query: str, plan: OutputPlan) -> PruneOutcome:
        """:func:`aprune_tool_output` with this wrapper's highlighter, options and counter."""
        return await aprune_tool_output(self.highlighter, query, plan, self.options, self.token_counter)

    @staticmethod
    def record(outcome: PruneOutcome, source: str, original: Any) -> dict[str, Any]:
        """What a wrapper attaches: the outcome's record, where the query came from, and the original content
        when the output changed."""
        record = {"query_source": source, **outcome.record}
        if outcome.changed:
            record["original_content"] = original
        return record

    @staticmethod
    def passed_through(name: str, exc: Exception) -> None:
        """Log that tool ``name``'s output passed through unpruned because pruning raised ``exc`` (a wrapper
        never breaks the agent loop over an output it cannot prune)."""
        logger.warning("semantic-highlight: %s output passed through unpruned: %s: %s", name, type(exc).__name__, exc)


class PrunerAccess:
    """Read-only ``highlighter``, ``options``, ``token_counter`` and ``metadata_key`` for a wrapper that holds a
    :class:`ToolPruner` as ``pruner`` (mixed into every framework wrapper, so they expose the same attributes)."""

    pruner: ToolPruner

    @property
    def highlighter(self) -> Any:
        """The engine (or ``RemoteHighlighter``) this wrapper prunes with."""
        return self.pruner.highlighter

    @property
    def options(self) -> ToolPruneOptions:
        """The checked pruning options."""
        return self.pruner.options

    @property
    def token_counter(self) -> TokenCounter:
        """Counts the tokens of the record's ``tokens_before`` / ``tokens_after``."""
        return self.pruner.token_counter

    @property
    def metadata_key(self) -> str:
        """Where the record goes."""
        return self.pruner.metadata_key
