"""Run planned windows through a model in padded, length-sorted batches.

Returns, per window, the mean keep probability of each of its fragments and the window's ranking
score. One host transfer per batch; no per-window synchronisation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .models.base import LoadedModel
from .packing import Window, plan_batches

__all__ = ["WindowScores", "score_batch", "score_windows"]


@dataclass(frozen=True)
class WindowScores:
    """Fragment means (same order as ``Window.fragments``) and the window's ranking score."""

    fragment_means: tuple[float, ...]
    ranking: float | None


def _fragment_means(probs: np.ndarray, window: Window) -> tuple[float, ...]:
    out = []
    for frag in window.fragments:
        seg = probs[frag.start : frag.end]
        out.append(float(seg.mean(dtype=np.float32)) if seg.size else 1.0)
    return tuple(out)


def score_batch(model: LoadedModel, windows: Sequence[Window]) -> list[WindowScores]:
    """One padded forward pass over ``windows`` (one model batch); results in the order of ``windows``.

    The caller chooses the batch (:func:`~semantic_highlight.packing.plan_batches`): :func:`score_windows`
    for one call, :class:`~semantic_highlight.scheduler.BatchScheduler` across calls.
    """
    if not windows:
        return []
    width = max(len(w) for w in windows)
    ids = np.full((len(windows), width), model.layout.pad_id, dtype=np.int64)
    mask = np.zeros((len(windows), width), dtype=np.int64)
    for row, window in enumerate(windows):
        n = len(window)
        ids[row, :n] = window.input_ids
        mask[row, :n] = 1
    input_ids = torch.from_numpy(ids)
    attention = torch.from_numpy(mask)
    if model.device.type == "cuda":
        input_ids, attention = input_ids.pin_memory(), attention.pin_memory()
    input_ids = input_ids.to(model.device, non_blocking=True)
    attention = attention.to(model.device, non_blocking=True)
    with torch.inference_mode():
        keep, ranking = model.forward(input_ids, attention)
    keep_np = keep.float().cpu().numpy()
    rank_np = ranking.float().cpu().numpy() if ranking is not None else None
    return [
        WindowScores(_fragment_means(keep_np[row], window), float(rank_np[row]) if rank_np is not None else None)
        for row, window in enumerate(windows)
    ]


def score_windows(
    model: LoadedModel,
    windows: Sequence[Window],
    max_batch_tokens: int,
    on_batch: Callable[[int, int], None] | None = None,
    max_padding: float = 0.1,
) -> list[WindowScores]:
    """Score every window in length-sorted batches, synchronously; results are in the order of ``windows``.

    ``on_batch(done, total)`` is called after each batch with the windows scored so far and in all.
    """
    results: list[WindowScores | None] = [None] * len(windows)
    done = 0
    for batch in plan_batches([len(w) for w in windows], max_batch_tokens, max_padding):
        for i, scores in zip(batch, score_batch(model, [windows[i] for i in batch]), strict=True):
            results[i] = scores
        done += len(batch)
        if on_batch is not None:
            on_batch(done, len(windows))
    return [r for r in results if r is not None]
