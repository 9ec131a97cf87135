"""The one labelled-example type shared by dataset loaders, training and evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Example:
    """A query with one pre-split document and its gold relevant sentences.

    ``sentences`` keep their surrounding whitespace, so ``"".join(sentences)`` is the
    document text and sentence offsets follow from cumulative lengths.
    """

    id: str
    query: str
    sentences: tuple[str, ...]
    relevant: frozenset[int]
    lang: str = "en"
    source: str = ""
    meta: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @property
    def text(self) -> str:
        return "".join(self.sentences)

    @property
    def labels(self) -> list[int]:
        """0/1 label per sentence."""
        return [int(i in self.relevant) for i in range(len(self.sentences))]
