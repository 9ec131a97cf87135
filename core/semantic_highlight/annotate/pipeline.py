"""Annotation pipeline: split -> number -> ask the LLM -> parse -> filter -> append a training sample.

Each input item is one unit of work: one (query, passage) pair, or, in query-generation mode, one
passage for which the LLM first writes queries that are then labelled one by one. A unit's
results are appended to the output (kept samples) and to ``<out>.rejected.jsonl`` (filtered ones,
with the reason and the raw reply) in single ``write`` calls followed by ``fsync``; units whose
LLM calls failed after retries are not written, so a re-run retries them. Re-running skips every
unit whose input hash is already recorded; a torn last line (crash mid-write) and the lines of an
incomplete unit are removed first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import string
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from semantic_highlight.splitting import Span, split_sentences

from ..jobs.io import iter_jsonl
from ..jobs.rows import BadLine
from .filters import Verdict, check_agreement, check_label
from .llm import ChatBackend, LLMError, Usage
from .parse import extract_json_object

__all__ = [
    "AnnotateConfig",
    "AnnotateReport",
    "Prompt",
    "annotate",
    "annotate_file",
    "detect_lang",
    "load_prompt",
    "passage_spans",
    "rejected_path",
]

log = logging.getLogger("semantic_highlight.annotate")

PROMPT_DIR = Path(__file__).parent / "prompts"
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
QUERY_TYPES = ("direct", "paraphrase", "unanswerable")


def detect_lang(text: str, threshold: float = 0.3) -> str:
    """``"zh"`` when at least ``threshold`` of the letters of ``text`` are CJK ideographs, else ``"en"``."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "en"
    cjk = sum(1 for c in letters if _CJK_RE.match(c))
    return "zh" if cjk / len(letters) >= threshold else "en"


@dataclass(frozen=True)
class Prompt:
    """A prompt template (``string.Template`` syntax: ``$query``, ``$sentences``, ``$n``, ``$passage``, ``$k``)."""

    version: str
    lang: str
    template: str

    def render(self, **values: object) -> str:
        return string.Template(self.template).safe_substitute({k: str(v) for k, v in values.items()})


def load_prompt(version: str, lang: str, prompt_dir: str | Path | None = None) -> Prompt:
    """Load ``{prompt_dir}/{version}.{lang}.txt`` (default: the packaged ``prompts/`` folder)."""
    path = Path(prompt_dir or PROMPT_DIR) / f"{version}.{lang}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"prompt file not found: {path}")
    return Prompt(version, lang, path.read_text(encoding="utf-8"))


def passage_spans(item: dict[str, Any]) -> list[Span]:
    """Sentences of an input item: ``context``/``passage``/``text`` split by the core splitter, or
    the item's pre-split ``sentences`` (strings, or ``{"text", ...}`` dicts as this pipeline writes),
    with offsets into their concatenation; whitespace-only entries join the previous sentence."""
    for key in ("context", "passage", "text"):
        if isinstance(item.get(key), str):
            return split_sentences(item[key])
    raw = item.get("sentences")
    if not isinstance(raw, list):
        raise ValueError("item has no 'context' (str) or 'sentences' (list)")
    spans: list[Span] = []
    pos = 0
    for s in raw:
        text = s.get("text") if isinstance(s, dict) else s
        if not isinstance(text, str):
            raise ValueError("'sentences' must hold strings or {'text': str} objects")
        start, pos = pos, pos + len(text)
        if not text.strip() and spans:
            last = spans[-1]
            spans[-1] = Span(last.start, pos, last.text + text)
        elif text:
            spans.append(Span(start, pos, text))
    if spans and not spans[0].text.strip():
        spans = spans[1:]
    return spans


def _numbered(spans: Sequence[Span]) -> str:
    return "\n".join(f"[{i}] {' '.join(s.text.split())}" for i, s in enumerate(spans, 1))


def _hash(kind: str, query: str | None, spans: Sequence[Span]) -> str:
    key = json.dumps({"kind": kind, "query": query, "sentences": [s.text for s in spans]}, ensure_ascii=False)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def rejected_path(out_path: str | Path) -> Path:
    """Where filtered samples go: ``labelled.jsonl`` -> ``labelled.jsonl.rejected.jsonl``."""
    return Path(str(out_path) + ".rejected.jsonl")


@dataclass
class AnnotateConfig:
    """Options of one annotation run (the CLI flags map onto these)."""

    generate_queries: bool = False
    queries_per_passage: int = 4
    two_pass: bool = False
    check_reasoning: bool = True
    concurrency: int = 4
    lang: str = "auto"
    temperature: float = 0.0
    second_temperature: float = 0.7
    label_prompt: str = "label_v1"
    query_prompt: str = "query_v1"
    prompt_dir: str | None = None
    limit: int | None = None


@dataclass
class AnnotateReport:
    """Counts of one run; ``filtered`` maps ``kept`` and each filter reason to a number of samples."""

    input_items: int = 0
    skipped_done: int = 0
    invalid_input: int = 0
    processed: int = 0
    errors: int = 0
    generated_queries: int = 0
    filtered: Counter[str] = field(default_factory=Counter)
    usage: Usage = field(default_factory=Usage)

    @property
    def written(self) -> int:
        return self.filtered["kept"]

    def summary(self, price_per_1k_input: float = 0.0, price_per_1k_output: float = 0.0) -> str:
        """A few human-readable lines: items, kept/dropped per reason, errors, calls, tokens, cost."""
        dropped = {k: v for k, v in sorted(self.filtered.items()) if k != "kept"}
        u = self.usage
        lines = [
            f"items: {self.input_items} read, {self.skipped_done} already done, {self.invalid_input} invalid, "
            f"{self.processed} processed"
            + (f", {self.generated_queries} queries generated" if self.generated_queries else ""),
            f"samples: {self.written} kept, {sum(dropped.values())} dropped"
            + (" (" + ", ".join(f"{k}: {v}" for k, v in dropped.items()) + ")" if dropped else ""),
            f"errors: {self.errors} items failed after retries (re-run to retry them)",
            f"LLM: {u.calls} calls, {u.retries} retries, {u.failed_calls} failed; tokens in {u.input_tokens}, "
            f"out {u.output_tokens}"
            + (f" ({u.calls_without_usage} calls reported no usage)" if u.calls_without_usage else ""),
            f"cost: {u.cost(price_per_1k_input, price_per_1k_output):.4f}",
        ]
        return "\n".join(lines)


@dataclass
class _Unit:
    index: int
    item: dict[str, Any]
    spans: list[Span]
    lang: str
    hash: str


@dataclass
class _Outcome:
    kept: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    generated: int = 0
    error: str | None = None


class _Ledger:
    """The output and rejected files: repaired on open, indexed by input hash, appended atomically."""

    def __init__(self, out: Path) -> None:
        self.paths = (out, rejected_path(out))
        self._lock = threading.Lock()
        groups: dict[str, set[int]] = {}
        sizes: dict[str, int] = {}
        lines = [self._read(p) for p in self.paths]
        for per_file in lines:
            for _, h, index, size in per_file:
                if h is not None:
                    groups.setdefault(h, set()).add(index)
                    sizes[h] = size
        self.done = {h for h, idx in groups.items() if len(idx) >= sizes[h]}
        partial = set(groups) - self.done
        if partial:
            log.warning("removing the lines of %d incomplete item(s) (interrupted run)", len(partial))
            for path, per_file in zip(self.paths, lines, strict=True):
                keep = [raw for raw, h, _, _ in per_file if h not in partial]
                if len(keep) != len(per_file):
                    self._rewrite(path, keep)

    @staticmethod
    def _read(path: Path) -> list[tuple[bytes, str | None, int, int]]:
        """``(raw line, input hash, group index, group size)`` per complete line; a torn tail is cut off."""
        if not path.exists():
            return []
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            log.warning("%s: cutting off a torn last line (%d bytes)", path, len(data) - end)
            with open(path, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
        out: list[tuple[bytes, str | None, int, int]] = []
        for raw in data[:end].splitlines(keepends=True):
            try:
                prov = json.loads(raw).get("provenance") or {}
                h = str(prov["input_hash"])
                out.append((raw, h, int(prov.get("group_index", 0)), int(prov.get("group_size", 1))))
            except (ValueError, KeyError, TypeError, AttributeError):
                out.append((raw, None, 0, 1))  # blank or foreign line: kept as it is
        return out

    @staticmethod
    def _rewrite(path: Path, lines: list[bytes]) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(b"".join(lines))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)

    def append(self, kept: list[dict[str, Any]], rejected: list[dict[str, Any]]) -> None:
        """Rejected lines first, kept lines last: a unit counts as done only when all its lines exist."""
        with self._lock:
            for path, recs in ((self.paths[1], rejected), (self.paths[0], kept)):
                if recs:
                    _append(path, b"".join(_line(r) for r in recs))


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"


def _append(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _Annotator:
    def __init__(self, backend: ChatBackend, second: ChatBackend | None, cfg: AnnotateConfig) -> None:
        self.backend, self.second, self.cfg = backend, second, cfg
        self._prompts: dict[tuple[str, str], Prompt] = {}

    def prompt(self, version: str, lang: str) -> Prompt:
        key = (version, lang)
        if key not in self._prompts:
            self._prompts[key] = load_prompt(version, lang, self.cfg.prompt_dir)
        return self._prompts[key]

    def _ask(self, backend: ChatBackend, prompt: str, temperature: float) -> str:
        return backend.complete([{"role": "user", "content": prompt}], temperature=temperature).text

    def label(self, query: str, spans: Sequence[Span], lang: str) -> tuple[Verdict, list[str]]:
        """Label one pair (twice with ``two_pass``); raises :class:`LLMError` when a call fails."""
        prompt = self.prompt(self.cfg.label_prompt, lang).render(query=query, sentences=_numbered(spans), n=len(spans))
        raw = [self._ask(self.backend, prompt, self.cfg.temperature)]
        verdict = check_label(raw[0], len(spans), check_reasoning=self.cfg.check_reasoning)
        if self.cfg.two_pass and verdict.ok:
            other = self.second or self.backend
            temp = self.cfg.temperature if self.second else self.cfg.second_temperature
            raw.append(self._ask(other, prompt, temp))
            verdict = check_agreement(
                verdict, check_label(raw[1], len(spans), check_reasoning=self.cfg.check_reasoning)
            )
        return verdict, raw

    def generate(self, spans: Sequence[Span], lang: str) -> tuple[list[tuple[str, str]] | None, str]:
        """Ask for queries about the passage; ``(None, raw)`` when the reply holds no usable list."""
        passage = "".join(s.text for s in spans).strip()
        k = self.cfg.queries_per_passage
        raw = self._ask(
            self.backend, self.prompt(self.cfg.query_prompt, lang).render(passage=passage, k=k), self.cfg.temperature
        )
        obj = extract_json_object(raw, "queries")
        items = obj.get("queries") if obj else None
        if not isinstance(items, list):
            return None, raw
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for q in items:
            text, kind = (q.get("query"), q.get("type", "")) if isinstance(q, dict) else (q, "")
            if isinstance(text, str) and text.strip() and text.strip() not in seen:
                seen.add(text.strip())
                out.append((text.strip(), kind if kind in QUERY_TYPES else "other"))
        return (out[:k] or None), raw

    def run(self, unit: _Unit) -> _Outcome:
        out = _Outcome()
        try:
            if self.cfg.generate_queries:
                queries, raw = self.generate(unit.spans, unit.lang)
                if queries is None:
                    out.rejected.append(
                        self._rejected(unit, None, "malformed_queries", "no usable query list", [raw], "", 0, 1, None)
                    )
                    return out
                out.generated = len(queries)
                for j, (query, kind) in enumerate(queries):
                    self._label_into(out, unit, query, j, len(queries), kind)
            else:
                self._label_into(out, unit, str(unit.item["query"]), 0, 1, None)
        except LLMError as exc:
            return _Outcome(error=str(exc))
        return out

    def _label_into(self, out: _Outcome, unit: _Unit, query: str, j: int, size: int, kind: str | None) -> None:
        verdict, raw = self.label(query, unit.spans, unit.lang)
        if verdict.ok:
            out.kept.append(self._sample(unit, query, verdict, j, size, kind))
        else:
            out.rejected.append(
                self._rejected(unit, query, verdict.reason or "", verdict.detail, raw, verdict.reasoning, j, size, kind)
            )

    def _provenance(self, unit: _Unit, j: int, size: int, kind: str | None) -> dict[str, Any]:
        p: dict[str, Any] = {
            "model": self.backend.model_name,
            "prompt_version": self.cfg.label_prompt,
            "lang": unit.lang,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "input_index": unit.index,
            "input_hash": unit.hash,
            "group_index": j,
            "group_size": size,
        }
        if isinstance(unit.item.get("id"), str | int):
            p["input_id"] = unit.item["id"]
        if self.cfg.generate_queries:
            p.update(query_prompt_version=self.cfg.query_prompt, query_type=kind)
        if self.cfg.two_pass:
            p["second_model"] = (self.second or self.backend).model_name
        return p

    def _sample(self, unit: _Unit, query: str, v: Verdict, j: int, size: int, kind: str | None) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "id": unit.hash if size == 1 and not self.cfg.generate_queries else f"{unit.hash}-{j}",
            "query": query,
            "sentences": [{"text": s.text, "start": s.start, "end": s.end} for s in unit.spans],
            "relevant": list(v.relevant or ()),
            "reasoning": v.reasoning,
            "lang": unit.lang,
        }
        if kind is not None:
            rec["query_type"] = kind
        rec["provenance"] = self._provenance(unit, j, size, kind)
        return rec

    def _rejected(
        self,
        unit: _Unit,
        query: str | None,
        reason: str,
        detail: str,
        raw: list[str],
        reasoning: str,
        j: int,
        size: int,
        kind: str | None,
    ) -> dict[str, Any]:
        return {
            "reason": reason,
            "detail": detail,
            "query": query,
            "reasoning": reasoning,
            "raw": raw,
            "provenance": self._provenance(unit, j, size, kind),
        }


def annotate(
    items: Iterable[Any],
    out_path: str | Path,
    backend: ChatBackend,
    *,
    config: AnnotateConfig | None = None,
    second_backend: ChatBackend | None = None,
) -> AnnotateReport:
    """Annotate ``items`` (``{"query", "context"|"sentences"}``, or passages only with
    ``config.generate_queries``) into ``out_path``, resuming from what it already holds. An item that is not a
    dict (``None``, a :class:`~semantic_highlight.jobs.rows.BadLine` from the JSONL reader, any other value) is
    counted as invalid input and skipped, with the reason logged."""
    cfg = config or AnnotateConfig()
    if cfg.concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ledger = _Ledger(out)
    report = AnnotateReport()
    worker = _Annotator(backend, second_backend, cfg)
    metered = [
        b
        for b in {id(x): x for x in (backend, second_backend) if x is not None}.values()
        if isinstance(getattr(b, "usage", None), Usage)
    ]
    before = [b.usage.as_dict() for b in metered]  # type: ignore[attr-defined]
    try:
        _run_units(_units(items, cfg, ledger, report), worker, cfg.concurrency, lambda o: _collect(o, ledger, report))
    finally:
        for b, start in zip(metered, before, strict=True):
            report.usage.merge(b.usage.since(start))  # type: ignore[attr-defined]
    return report


def _units(items: Iterable[Any], cfg: AnnotateConfig, ledger: _Ledger, report: AnnotateReport) -> Iterator[_Unit]:
    """The valid items not done yet (each input counted in ``report``), at most ``cfg.limit`` of them."""
    kind = "generate" if cfg.generate_queries else "label"
    started = 0
    for index, item in enumerate(items):
        if cfg.limit is not None and started >= cfg.limit:
            return
        report.input_items += 1
        try:
            query, spans = _checked_item(item, cfg)
        except ValueError as exc:
            log.warning("input item %d skipped: %s", index, exc)
            report.invalid_input += 1
            continue
        h = _hash(kind, query, spans)
        if h in ledger.done:
            report.skipped_done += 1
            continue
        ledger.done.add(h)  # duplicates within one input are annotated once
        lang = cfg.lang if cfg.lang in ("en", "zh") else detect_lang("".join(s.text for s in spans))
        started += 1
        yield _Unit(index, item, spans, lang, h)


def _checked_item(item: Any, cfg: AnnotateConfig) -> tuple[str | None, list[Span]]:
    """``(query, passage spans)`` of an input item (query ``None`` when generating); ``ValueError`` saying
    what is wrong with it (for a line that is not JSON, the parser's reason)."""
    if isinstance(item, BadLine):
        raise ValueError(item.error)
    if not isinstance(item, dict):
        raise ValueError("not a JSON object")
    query = None if cfg.generate_queries else item.get("query")
    if not cfg.generate_queries and (not isinstance(query, str) or not query.strip()):
        raise ValueError("missing 'query'")
    spans = passage_spans(item)
    if not spans:
        raise ValueError("empty passage")
    return query, spans


def _collect(res: _Outcome, ledger: _Ledger, report: AnnotateReport) -> None:
    """Write one finished unit's samples and count them."""
    report.processed += 1
    if res.error is not None:
        report.errors += 1
        log.warning("item failed: %s", res.error)
        return
    ledger.append(res.kept, res.rejected)
    report.generated_queries += res.generated
    report.filtered["kept"] += len(res.kept)
    for r in res.rejected:
        report.filtered[r["reason"]] += 1
    if report.processed % 50 == 0:
        log.info("%d items processed, %d samples kept", report.processed, report.written)


def _run_units(
    units: Iterator[_Unit], worker: _Annotator, concurrency: int, collect: Callable[[_Outcome], None]
) -> None:
    """Run ``worker`` over ``units`` on ``concurrency`` threads (at most twice that many queued), handing each
    outcome to ``collect`` in the calling thread. Interrupted or crashed, it lets running calls finish and
    keeps every result already paid for before re-raising."""
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="annotate")
    pending: set[Future[_Outcome]] = set()

    def drain(keep: int) -> None:
        while len(pending) > keep:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                pending.discard(fut)
                collect(fut.result())

    try:
        for unit in units:
            pending.add(pool.submit(worker.run, unit))
            drain(2 * concurrency - 1)
        drain(0)
    except BaseException as exc:
        why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped by {type(exc).__name__}"
        log.warning("%s: waiting for running requests, keeping their results; re-run to resume", why)
        pool.shutdown(wait=True, cancel_futures=True)
        for fut in list(pending):
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                collect(fut.result())
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def annotate_file(
    input_path: str | Path,
    out_path: str | Path,
    backend: ChatBackend,
    *,
    config: AnnotateConfig | None = None,
    second_backend: ChatBackend | None = None,
) -> AnnotateReport:
    """:func:`annotate` the JSONL file ``input_path`` (lines that are not JSON objects count as invalid input)."""
    if not Path(input_path).is_file():
        raise FileNotFoundError(f"no input file {input_path}")
    return annotate(iter_jsonl(input_path), out_path, backend, config=config, second_backend=second_backend)
