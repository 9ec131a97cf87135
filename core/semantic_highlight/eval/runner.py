"""Run models and baselines over labelled datasets: ``evaluate(models, datasets) -> ResultTable``.

Every model sees the same pre-split sentences of each example (``Example.sentences``); engine
results are mapped back to them by character offsets. All examples of a dataset go through one
batched ``highlight_batch`` call.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from semantic_highlight.aggregate import select
from semantic_highlight.datasets.types import Example
from semantic_highlight.eval.dataset import EvalDataset
from semantic_highlight.eval.metrics import Metrics, best_point, compute_metrics, selection_f1, sweep_selection
from semantic_highlight.eval.samples import Case, CaseSampler, merge_cases
from semantic_highlight.eval.savings import (
    compute_savings,
    labelled_sentences,
    sentence_sizes,
    sweep_savings,
    token_counter,
)
from semantic_highlight.eval.suite import default_data_dir, expand_datasets, load_dataset
from semantic_highlight.options import SelectionOptions

__all__ = [
    "Curve",
    "EvalDataset",
    "HighlighterScorer",
    "ResultRow",
    "ResultTable",
    "Scorer",
    "evaluate",
    "labelled_scores",
    "resolve_model",
    "threshold_grid",
]

log = logging.getLogger("semantic_highlight.eval")


@runtime_checkable
class Scorer(Protocol):
    """Anything the harness can evaluate: per-sentence scores, selected when ``score > threshold``.

    A scorer may also have ``selection`` (a :class:`~semantic_highlight.options.SelectionOptions`: fallback,
    relative threshold, top_k, min_score; see :func:`semantic_highlight.aggregate.select`).
    """

    name: str
    threshold: float
    bounds: tuple[float, float] | None
    note: str

    def score(self, examples: Sequence[Example], *, progress: bool = False) -> list[list[float]]: ...


class HighlighterScorer:
    """A :class:`~semantic_highlight.SemanticHighlighter` checkpoint (``None`` = the embedded default model)."""

    bounds: tuple[float, float] | None = (0.0, 1.0)

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        name: str | None = None,
        selection: SelectionOptions | None = None,
        device: str | None = None,
        dtype: str | None = None,
        max_batch_tokens: int = 16384,
    ) -> None:
        """``selection`` overrides the checkpoint's defaults field by field (``None`` fields keep them)."""
        from semantic_highlight import SemanticHighlighter

        self.highlighter = SemanticHighlighter(
            model=model, device=device, dtype=dtype, selection=selection, max_batch_tokens=max_batch_tokens
        )
        self.name = name or ("default" if model is None else Path(str(model)).name or str(model))
        self.selection: SelectionOptions = self.highlighter.selection
        self.threshold: float = _threshold_of(self.selection)
        self.fallback_threshold = self.selection.fallback_threshold
        self.relative_threshold = self.selection.relative_threshold
        given = "given" if selection is not None and selection.threshold is not None else "checkpoint default"
        self.note = (
            f"{self.highlighter.model.name} on {self.highlighter.device.type}, threshold {self.threshold:g} ({given})"
        )
        if self.fallback_threshold is not None:
            self.note += f", best sentence kept above {self.fallback_threshold:g}"
        if self.relative_threshold is not None:
            self.note += f", with sentences at {self.relative_threshold:g}x its score"

    def score(self, examples: Sequence[Example], *, progress: bool = False) -> list[list[float]]:
        """One batched pass; each example's sentences scored as given (NaN for blank ones)."""
        pairs = [(ex.query, [list(ex.sentences)]) for ex in examples]
        results = self.highlighter.highlight_batch(pairs, show_progress=progress)
        return [map_scores(ex, res[0].sentences) for ex, res in zip(examples, results, strict=True)]


def map_scores(example: Example, pieces: Sequence[Any]) -> list[float]:
    """Per-sentence scores of ``example`` from engine sentences (``.start``, ``.score``) by offsets.

    The engine drops blank sentences and may cut a multi-line one into lines: a sentence gets the
    best score of the pieces starting inside it, NaN when it has none.
    """
    starts, pos = [], 0
    for s in example.sentences:
        starts.append(pos)
        pos += len(s)
    out = [math.nan] * len(example.sentences)
    for piece in pieces:
        i = bisect.bisect_right(starts, piece.start) - 1
        while i > 0 and not example.sentences[i]:  # zero-length sentences share a start offset
            i -= 1
        out[i] = piece.score if math.isnan(out[i]) else max(out[i], piece.score)
    return out


@dataclass
class ResultRow:
    """One model on one dataset."""

    dataset: str
    lang: str
    model: str
    threshold: float
    metrics: Metrics
    seconds: float
    sentences_per_s: float
    best_threshold: float | None = None
    best_f1: float | None = None
    fallback_threshold: float | None = None
    relative_threshold: float | None = None
    by_type: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per ``meta["query_type"]`` of the examples (our OOD sets): n, micro F1, macro F1, kept."""
    savings: dict[str, Any] = field(default_factory=dict)
    """Context kept vs gold kept at this selection (:class:`~semantic_highlight.eval.savings.Savings`)."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(d.pop("metrics"))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResultRow:
        names = set(Metrics.__dataclass_fields__)
        own = {k: v for k, v in d.items() if k not in names}
        return cls(metrics=Metrics(**{k: d[k] for k in names}), **_known_fields(cls, own))


@dataclass
class Curve:
    """Micro F1 at each threshold (``--sweep``)."""

    dataset: str
    model: str
    thresholds: list[float]
    f1: list[float]
    default_threshold: float
    savings: dict[str, list[float]] = field(default_factory=dict)
    """Per threshold: ``tokens_kept``, ``chars_kept``, ``gold_recall``, ``answers_kept``
    (:func:`~semantic_highlight.eval.savings.sweep_savings`)."""


def _known_fields(cls: Any, d: dict[str, Any]) -> dict[str, Any]:
    """``d`` without keys ``cls`` no longer has, so ``--append`` reads a results.json an older version wrote."""
    return {k: v for k, v in d.items() if k in cls.__dataclass_fields__}


@dataclass
class ResultTable:
    """Everything one evaluation produced."""

    rows: list[ResultRow]
    datasets: list[dict[str, Any]]
    models: dict[str, str]
    """Model name -> how it ran (checkpoint, device, threshold source)."""
    curves: list[Curve] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Why a model or dataset did not run; each message starts with its name."""
    meta: dict[str, Any] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)
    """A few examples per dataset with every model's selection (:mod:`semantic_highlight.eval.samples`)."""

    def row(self, dataset: str, model: str) -> ResultRow | None:
        return next((r for r in self.rows if r.dataset == dataset and r.model == model), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "models": self.models,
            "datasets": self.datasets,
            "skipped": self.skipped,
            "rows": [r.to_dict() for r in self.rows],
            "curves": [asdict(c) for c in self.curves],
            "cases": [asdict(c) for c in self.cases],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResultTable:
        """Inverse of :meth:`to_dict` (for ``results.json``)."""
        return cls(
            rows=[ResultRow.from_dict(r) for r in d.get("rows", [])],
            datasets=list(d.get("datasets", [])),
            models=dict(d.get("models", {})),
            curves=[Curve(**_known_fields(Curve, c)) for c in d.get("curves", [])],
            skipped=list(d.get("skipped", [])),
            meta=dict(d.get("meta", {})),
            cases=[Case(**_known_fields(Case, c)) for c in d.get("cases", [])],
        )

    def merge(self, newer: ResultTable) -> ResultTable:
        """This table with ``newer``'s rows, curves, datasets and models added; ``newer`` wins on the same
        (dataset, model). Datasets keep this table's order, new ones go last. Skips of what ``newer`` ran
        are dropped."""
        pairs = {(r.dataset, r.model) for r in newer.rows}
        rows = [r for r in self.rows if (r.dataset, r.model) not in pairs] + newer.rows
        order = [d["name"] for d in self.datasets] + [d["name"] for d in newer.datasets]
        rank = {name: order.index(name) for name in order}
        rows.sort(key=lambda r: rank.get(r.dataset, len(order)))
        curves = [c for c in self.curves if (c.dataset, c.model) not in pairs] + newer.curves
        datasets = {d["name"]: d for d in self.datasets} | {d["name"]: d for d in newer.datasets}
        meta = {**newer.meta, "merged_with": self.meta}
        # an older skip of a model or dataset that has run since is stale
        ran = set(newer.models) | {d["name"] for d in newer.datasets if d.get("n_examples")}
        return ResultTable(
            rows=rows,
            datasets=list(datasets.values()),
            models={**self.models, **newer.models},
            curves=curves,
            skipped=[s for s in self.skipped if s.split(" ", 1)[0] not in ran and s not in newer.skipped]
            + newer.skipped,
            meta=meta,
            cases=merge_cases(self.cases, newer.cases),
        )


def labelled_scores(
    examples: Sequence[Example], scores: Sequence[Sequence[float]]
) -> tuple[list[list[bool]], list[list[float]]]:
    """Gold labels and scores of each example's non-blank sentences (what metrics count); an unscored
    (NaN) sentence gets ``-inf``, so it is never selected."""
    gold: list[list[bool]] = []
    kept: list[list[float]] = []
    for ex, row in zip(examples, scores, strict=True):
        idx = [i for i, s in enumerate(ex.sentences) if s.strip()]
        gold.append([i in ex.relevant for i in idx])
        kept.append([-math.inf if math.isnan(row[i]) else row[i] for i in idx])
    return gold, kept


def threshold_grid(scores: Sequence[Sequence[float]], bounds: tuple[float, float] | None) -> list[float]:
    """Sweep thresholds: 101 steps over ``bounds``, else 201 quantiles of the observed scores."""
    if bounds is not None:
        return [round(float(x), 4) for x in np.linspace(bounds[0], bounds[1], 101)]
    values = np.array([v for row in scores for v in row if not math.isnan(v)])
    if values.size == 0:
        return [0.0]
    return np.unique(np.round(np.quantile(values, np.linspace(0, 1, 201)), 4)).tolist()


def resolve_model(
    spec: str | os.PathLike[str] | Scorer,
    *,
    selection: SelectionOptions | None = None,
    device: str | None = None,
    dtype: str | None = None,
    e5_dir: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> Scorer:
    """``"default"`` (embedded model), ``"keyword"``, ``"embedding"``, a checkpoint path or hub id, or a Scorer.

    ``selection`` applies to checkpoints only; baselines keep their documented operating points.
    """
    if isinstance(spec, Scorer):
        return spec
    text = str(spec)
    if text == "keyword":
        from semantic_highlight.eval.baselines import KeywordBaseline

        return KeywordBaseline()
    if text == "embedding":
        from semantic_highlight.eval.baselines import EmbeddingBaseline

        return EmbeddingBaseline(e5_dir, data_dir=data_dir)
    return HighlighterScorer(  # None: the embedded default model, named "default"
        None if text == "default" else text, selection=selection, device=device, dtype=dtype
    )


def _threshold_of(selection: SelectionOptions) -> float:
    return selection.threshold if selection.threshold is not None else 0.0


def selection_of(scorer: Scorer) -> SelectionOptions:
    """The options a scorer's scores are selected with: its ``selection`` when it has one, else its threshold."""
    own = getattr(scorer, "selection", None)
    if isinstance(own, SelectionOptions):
        return own
    return SelectionOptions(
        threshold=scorer.threshold,
        fallback_threshold=getattr(scorer, "fallback_threshold", None),
        relative_threshold=getattr(scorer, "relative_threshold", None),
    )


def _by_type(
    examples: Sequence[Example], gold: list[list[bool]], pred: list[list[bool]]
) -> dict[str, dict[str, float]]:
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        kind = ex.meta.get("query_type")
        if isinstance(kind, str) and kind:
            groups.setdefault(kind, []).append(i)
    out = {}
    for kind, idx in sorted(groups.items()):
        m = compute_metrics([gold[i] for i in idx], [pred[i] for i in idx])
        out[kind] = {"n": len(idx), "f1": m.f1, "macro_f1": m.macro_f1, "kept_ratio": m.kept_ratio}
    return out


def _score_dataset(
    scorer: Scorer, ds: EvalDataset, sweep: bool, progress: bool, sampler: CaseSampler | None = None
) -> tuple[ResultRow, Curve | None]:
    t0 = time.perf_counter()
    scores = scorer.score(ds.examples, progress=progress)
    seconds = time.perf_counter() - t0
    options = selection_of(scorer)
    fallback, relative = options.fallback_threshold, options.relative_threshold
    gold, kept_scores = labelled_scores(ds.examples, scores)
    pred = [
        select(
            row,
            _threshold_of(options),
            top_k=options.top_k,
            min_score=options.min_score,
            fallback_threshold=fallback,
            relative_threshold=relative,
        )
        for row in kept_scores
    ]
    metrics = compute_metrics(gold, pred)
    if sampler is not None:
        sampler.add(ds, scorer.name, gold, kept_scores, pred)
    counter, count = token_counter(scorer)
    chars, tokens = sentence_sizes(labelled_sentences(ds.examples), count)
    result = ResultRow(
        dataset=ds.name,
        lang=ds.lang,
        model=scorer.name,
        threshold=scorer.threshold,
        fallback_threshold=fallback,
        relative_threshold=relative,
        metrics=metrics,
        seconds=round(seconds, 2),
        sentences_per_s=round(metrics.n_sentences / max(seconds, 1e-9), 1),
        by_type=_by_type(ds.examples, gold, pred),
        savings=compute_savings(gold, pred, chars, tokens, counter).to_dict(),
    )
    curve = None
    if sweep:
        grid = threshold_grid(scores, scorer.bounds)
        selected = sweep_selection(kept_scores, grid, fallback, relative)
        f1s = selection_f1(gold, selected)
        result.best_threshold, result.best_f1 = best_point(grid, f1s)
        curve = Curve(ds.name, scorer.name, grid, f1s, scorer.threshold, sweep_savings(selected, gold, chars, tokens))
    return result, curve


def evaluate(
    models: Sequence[str | os.PathLike[str] | Scorer],
    datasets: Sequence[str | os.PathLike[str] | EvalDataset],
    selection: SelectionOptions | None = None,
    sweep: bool = False,
    *,
    progress: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    device: str | None = None,
    dtype: str | None = None,
    e5_dir: str | None = None,
    on_result: Callable[[ResultTable], None] | None = None,
) -> ResultTable:
    """Evaluate ``models`` (names, paths or Scorers) on ``datasets`` (suite names, files or EvalDatasets).

    ``selection`` overrides the checkpoints' default selection options (``None`` fields keep them);
    ``sweep`` adds a threshold–F1 curve (at the fallback and relative thresholds in use) and the best point
    per model and dataset. A model that cannot be loaded (e.g. the embedding baseline without its encoder)
    is skipped with a message in ``ResultTable.skipped``. ``on_result(table)`` is called after each
    model × dataset run with the table so far (e.g. to save partial results).
    """
    if selection is not None and not isinstance(selection, SelectionOptions):
        raise TypeError(f"selection must be a SelectionOptions or None, got {type(selection).__name__}")
    data = Path(data_dir) if data_dir is not None else default_data_dir()
    loaded = _load_datasets(datasets, data, limit)
    table = ResultTable(rows=[], datasets=[d.info() for d in loaded], models={})
    table.skipped.extend(d.note for d in loaded if not d.examples and d.note)
    loaded = [d for d in loaded if d.examples]
    scorers = _load_scorers(
        models, table, selection=selection, device=device, dtype=dtype, e5_dir=e5_dir, data_dir=data
    )
    threshold = selection.threshold if selection is not None else None
    started = time.perf_counter()

    def finished_one() -> None:
        if on_result is not None:
            table.meta = _meta(started, sweep, threshold, limit)
            on_result(table)

    _run_all(scorers, loaded, table, sweep=sweep, progress=progress, after_each=finished_one)
    table.meta = _meta(started, sweep, threshold, limit)
    table.meta["data_dir"] = str(data)
    return table


def _load_datasets(
    datasets: Sequence[str | os.PathLike[str] | EvalDataset], data: Path, limit: int | None
) -> list[EvalDataset]:
    """Each argument as datasets: an :class:`EvalDataset` as is, a name or file through the suite loaders."""
    loaded: list[EvalDataset] = []
    for d in datasets:
        if isinstance(d, EvalDataset):
            loaded.append(d)
        else:
            loaded.extend(load_dataset(n, data_dir=data, limit=limit) for n in expand_datasets(str(d)))
    return loaded


def _load_scorers(
    models: Sequence[str | os.PathLike[str] | Scorer], table: ResultTable, **options: Any
) -> list[Scorer]:
    """Each model spec as a uniquely named scorer, recorded in ``table.models``; an unavailable baseline is
    logged and recorded in ``table.skipped`` instead. ``options`` go to :func:`resolve_model`."""
    from semantic_highlight.eval.baselines import BaselineUnavailable

    scorers: list[Scorer] = []
    for spec in models:
        try:
            scorer = resolve_model(spec, **options)
        except BaselineUnavailable as exc:
            log.warning("%s", exc)
            table.skipped.append(str(exc))
            continue
        base, n = scorer.name, 1
        while scorer.name in table.models:  # two checkpoints with the same folder name
            n += 1
            scorer.name = f"{base}#{n}"
        scorers.append(scorer)
        table.models[scorer.name] = scorer.note
    return scorers


def _run_all(
    scorers: Sequence[Scorer],
    datasets: Sequence[EvalDataset],
    table: ResultTable,
    *,
    sweep: bool,
    progress: bool,
    after_each: Callable[[], None],
) -> None:
    """Every scorer on every dataset, rows and curves appended to ``table``; ``after_each()`` after each run."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(scorers) * len(datasets), desc="eval", unit="run")
    sampler = CaseSampler(table.cases)
    for ds in datasets:
        for scorer in scorers:
            if bar is not None:
                bar.set_postfix_str(f"{scorer.name} on {ds.name} ({len(ds.examples)} ex.)")
            row, curve = _score_dataset(scorer, ds, sweep, progress, sampler)
            table.rows.append(row)
            if curve is not None:
                table.curves.append(curve)
            if bar is not None:
                bar.update()
            after_each()
    if bar is not None:
        bar.close()


def _meta(started: float, sweep: bool, threshold: float | None, limit: int | None) -> dict[str, Any]:
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sweep": sweep,
        "threshold": threshold,
        "limit": limit,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
        "python": platform.python_version(),
    }
