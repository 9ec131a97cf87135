"""Evaluation harness: labelled datasets, metrics, baselines, the benchmark suite and reports.

``evaluate(models, datasets)`` runs every model over the same pre-split sentences and returns a
:class:`ResultTable`; ``semantic-highlight eval`` is the command-line front.
"""

from .dataset import EvalDataset
from .metrics import Metrics, compute_metrics, sweep_f1
from .runner import ResultRow, ResultTable, evaluate

__all__ = ["EvalDataset", "Metrics", "ResultRow", "ResultTable", "compute_metrics", "evaluate", "sweep_f1"]
