"""Highlight results in the shapes of the rerank APIs existing clients speak (Cohere/Jina, text-embeddings-inference).

``relevance_score`` is the checkpoint's document relevance head (``HighlightResult.ranking_score``) where it
has one, else the best sentence score; ``meta.relevance_score_source`` says which. Each result also carries its
highlights (an extension field clients ignore), so a reranking client gets the evidence for free.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any

from ..results import HighlightResult
from .schemas import RerankDocument, RerankRequest, TEIRerankRequest

__all__ = ["cohere_response", "document_texts", "relevance", "tei_response"]


def document_texts(documents: Sequence[str | RerankDocument]) -> list[str]:
    """Plain texts of a rerank request's documents (strings, or objects with a ``text`` field)."""
    return [d if isinstance(d, str) else d.text for d in documents]


def relevance(result: HighlightResult) -> float:
    """The document score a reranker returns: the ranking head's, else the best sentence score (a blank
    document, which has neither, scores 0)."""
    return result.ranking_score if result.ranking_score is not None else result.score


def _spans(result: HighlightResult) -> list[dict[str, Any]]:
    return [{"start": s.start, "end": s.end, "text": s.text, "score": s.score} for s in result.highlights]


def _ranked(results: Sequence[HighlightResult]) -> list[tuple[int, float]]:
    """``(index, score)`` by score, highest first; ties keep input order."""
    return sorted(((i, relevance(r)) for i, r in enumerate(results)), key=lambda item: (-item[1], item[0]))


def cohere_response(
    results: Sequence[HighlightResult], request: RerankRequest, model_id: str, version: str, source: str
) -> dict[str, Any]:
    """The Cohere (v1/v2) and Jina response: ``results`` sorted by ``relevance_score`` with ``index``."""
    ranked = _ranked(results)
    if request.top_n is not None:
        ranked = ranked[: request.top_n]
    items: list[dict[str, Any]] = []
    for index, score in ranked:
        item: dict[str, Any] = {"index": index, "relevance_score": score}
        if request.return_documents:
            item["document"] = {"text": results[index].text}
        item["highlights"] = _spans(results[index])
        items.append(item)
    return {
        "id": str(uuid.uuid4()),
        "model": model_id,
        "results": items,
        "meta": {
            "api_version": {"version": version},
            "billed_units": {"search_units": 1},
            "relevance_score_source": source,
        },
    }


def tei_response(results: Sequence[HighlightResult], request: TEIRerankRequest) -> list[dict[str, Any]]:
    """The text-embeddings-inference response: ``[{"index", "score", "text"?}]`` sorted by score."""
    out: list[dict[str, Any]] = []
    for index, score in _ranked(results):
        item: dict[str, Any] = {"index": index, "score": _logit(score) if request.raw_scores else score}
        if request.return_text:
            item["text"] = results[index].text
        item["highlights"] = _spans(results[index])
        out.append(item)
    return out


def _logit(p: float) -> float:
    """The inverse sigmoid, clamped so that 0 and 1 give finite scores."""
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))
