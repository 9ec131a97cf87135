"""Request and response models of the HTTP API (what ``/docs`` and ``/openapi.json`` show, with examples).

Requests are validated strictly (a number where a string belongs is a 422 naming the field; our own routes
reject unknown fields, so a misspelt option is not silently ignored); the rerank-compatible routes ignore
unknown fields, as the clients written for Cohere, Jina and text-embeddings-inference send some we do not use.
Responses are documented here but written directly from :meth:`HighlightResult.to_dict`, without a second pass
of validation.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ErrorResponse",
    "HealthResponse",
    "HighlightBatchRequest",
    "HighlightBatchResponse",
    "HighlightOptions",
    "HighlightRequest",
    "HighlightResponse",
    "ModelCard",
    "ModelList",
    "ReadyResponse",
    "RerankRequest",
    "RerankResponse",
    "TEIRank",
    "TEIRerankRequest",
]

_EN_DOC = "The A15 chip scores over a million in benchmarks, and apps open with no lag. The case comes in blue."
_ZH_DOC = "这款手机搭载A15芯片，跑分超过一百万，打开应用毫无卡顿。外壳有蓝色可选。"

Text = Annotated[str, Field(strict=True)]
Score = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Document = Annotated[
    Text | list[Text],
    Field(description="A text (split into sentences by the server) or a list of pre-split sentences."),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class HighlightOptions(_Strict):
    """Selection options; each left out takes the server's (the checkpoint's) default."""

    threshold: Score | None = Field(None, description="A sentence is selected when its score is strictly above it.")
    fallback_threshold: Score | None = Field(
        None, description="When no sentence passes `threshold`, the best one is kept if it scores above this."
    )
    relative_threshold: Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)] | None = Field(
        None, description="Also select sentences scoring at least this share of a selected best sentence (0, 1]."
    )
    top_k: Annotated[int, Field(strict=True, ge=0)] | None = Field(
        None, description="Keep at most this many selected sentences per document (highest scores)."
    )
    min_score: Score | None = Field(None, description="Select nothing in a document whose best sentence is below it.")
    query_truncation: Literal["end", "start", "last_sentences"] | None = Field(
        None, description="How a query longer than a window allows is cut (default: keep its end)."
    )

    def engine_options(self) -> dict[str, Any]:
        """The keyword arguments of ``SemanticHighlighter.submit_batch``."""
        return {
            "threshold": self.threshold,
            "fallback_threshold": self.fallback_threshold,
            "relative_threshold": self.relative_threshold,
            "top_k": self.top_k,
            "min_score": self.min_score,
            "query_truncation": self.query_truncation,
        }


class HighlightRequest(HighlightOptions):
    """One query over a list of documents."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"query": "iPhone performance", "documents": [_EN_DOC, _ZH_DOC]},
                {"query": "Who wrote the film?", "documents": [["The film was directed by A. ", "B wrote it."]]},
            ]
        },
    )

    query: Text
    documents: list[Document]


class HighlightItem(_Strict):
    query: Text
    documents: list[Document]


class HighlightBatchRequest(HighlightOptions):
    """Many ``(query, documents)`` items in one request; one result list per item."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"query": "iPhone performance", "documents": [_EN_DOC]},
                        {"query": "手机性能", "documents": [_ZH_DOC]},
                    ],
                    "top_k": 2,
                }
            ]
        },
    )

    items: list[HighlightItem]


class SentenceOut(BaseModel):
    index: int
    text: str
    start: int
    end: int
    score: float
    selected: bool


class Span(BaseModel):
    start: int
    end: int
    text: str
    score: float


class HighlightResultOut(BaseModel):
    """``HighlightResult.to_dict()``; offsets index ``text`` (pre-split documents: their concatenation)."""

    query: str
    text: str
    score: float
    ranking_score: float | None
    threshold: float
    fallback_threshold: float | None
    relative_threshold: float | None
    model: str
    pruned_text: str
    sentences: list[SentenceOut]
    highlights: list[Span]


class HighlightResponse(BaseModel):
    model: str
    results: list[HighlightResultOut]


class HighlightBatchResponse(BaseModel):
    model: str
    results: list[list[HighlightResultOut]]


class RerankDocument(BaseModel):
    """A document as an object (Cohere v1, Jina); only ``text`` is read."""

    model_config = ConfigDict(extra="allow", strict=True)
    text: Text


class RerankRequest(BaseModel):
    """The Cohere (v1 and v2) and Jina rerank request; unknown fields are ignored."""

    model_config = ConfigDict(
        extra="ignore",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "model": "semantic-highlight",
                    "query": "iPhone performance",
                    "documents": [_EN_DOC, "The store opens at nine."],
                    "top_n": 1,
                    "return_documents": True,
                }
            ]
        },
    )

    model: Text | None = Field(None, description="Accepted for compatibility; the server's model answers.")
    query: Text
    documents: list[Text | RerankDocument]
    top_n: Annotated[int, Field(strict=True, ge=1)] | None = Field(None, description="Return the best n only.")
    return_documents: bool = Field(False, description="Include each document's text in its result.")
    max_tokens_per_doc: Annotated[int, Field(strict=True)] | None = Field(
        None, description="Accepted for compatibility; documents are never truncated."
    )


class RerankDocumentOut(BaseModel):
    text: str


class RerankResult(BaseModel):
    index: int = Field(description="Position of the document in the request.")
    relevance_score: float
    document: RerankDocumentOut | None = None
    highlights: list[Span] = Field(description="Extension: the selected sentences, offsets into the document.")


class RerankMeta(BaseModel):
    model_config = ConfigDict(extra="allow")
    api_version: dict[str, str]
    billed_units: dict[str, int]
    relevance_score_source: Literal["ranking_head", "best_sentence"] = Field(
        description="`ranking_head`: the checkpoint's relevance head; `best_sentence`: the best sentence score."
    )


class RerankResponse(BaseModel):
    id: str
    model: str
    results: list[RerankResult] = Field(description="Sorted by relevance_score, highest first.")
    meta: RerankMeta


class TEIRerankRequest(BaseModel):
    """The text-embeddings-inference ``/rerank`` request; unknown fields are ignored."""

    model_config = ConfigDict(
        extra="ignore",
        strict=True,
        json_schema_extra={
            "examples": [{"query": "iPhone performance", "texts": [_EN_DOC, "The store opens at nine."]}]
        },
    )

    query: Text
    texts: list[Text]
    return_text: bool = False
    raw_scores: bool = Field(False, description="Scores as logits (the inverse sigmoid) instead of probabilities.")
    truncate: bool | None = Field(None, description="Accepted for compatibility; texts are never truncated.")


class TEIRank(BaseModel):
    index: int
    score: float
    text: str | None = None
    highlights: list[Span] = Field(description="Extension: the selected sentences, offsets into the text.")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    owned_by: str = "semantic-highlight"
    max_length: int = Field(description="Tokens per model window (query + sentences); documents are never cut.")
    max_positions: int
    default_threshold: float
    default_fallback_threshold: float | None
    default_relative_threshold: float | None
    languages: list[str] | None = Field(description="Languages the checkpoint was trained for, when known.")
    relevance_score: Literal["ranking_head", "best_sentence"] = Field(
        description="What the rerank routes return as relevance_score."
    )
    device: str
    dtype: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyResponse(BaseModel):
    status: Literal["ready"]
    model: str


class ErrorDetail(BaseModel):
    type: str
    message: str
    param: str | None


class ErrorResponse(BaseModel):
    error: ErrorDetail
