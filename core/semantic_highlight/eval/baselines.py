"""Baselines run by the same harness as the models.

* :class:`KeywordBaseline` — the traditional search-engine ``<em>`` highlighter: a sentence is
  selected when it shares at least one query term. English terms are Snowball-stemmed words
  minus stopwords; Chinese terms are character bigrams (a lone character when a CJK run has one).
  Its score is the share of query terms a sentence contains, so the default operating point
  ``score > 0`` is "≥ 1 shared term" and a sweep reads as a minimum-overlap curve. Nothing is tuned.
* :class:`EmbeddingBaseline` — cosine between e5 query and sentence embeddings (``query: `` /
  ``passage: `` prefixes, mean pooling). Its threshold is tuned once, for micro F1, on a separate
  tuning slice that no suite dataset contains: 100 TyDi QA GoldP English dev questions + 100
  CMRC 2018 trial questions (Chinese), evenly spaced; or given explicitly. Embeddings are fp32
  (bf16 autocast was slower on the CPUs tried).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import torch

from semantic_highlight.datasets.types import Example

__all__ = [
    "BaselineUnavailable",
    "EmbeddingBaseline",
    "KeywordBaseline",
    "find_e5_dir",
    "query_terms",
    "sentence_terms",
]

log = logging.getLogger("semantic_highlight.eval")

_WORD = re.compile(r"[0-9a-zà-öø-ÿ]+(?:'[a-z]+)?")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

_EN_STOP = """a about above after again against all am an and any are aren't as at be because been before being below
    between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
    few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself
    him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't
    my myself no nor not of off on once only or other ought our ours ourselves out over own same shan't she she'd
    she'll she's should shouldn't so some such than that that's the their theirs them themselves then there
    there's these they they'd they'll they're they've this those through to too under until up very was wasn't
    we we'd we'll we're we've were weren't what what's when when's where where's which while who who's whom why
    why's will with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves also many
    much one s t name named called list tell give find does did whose"""
ENGLISH_STOPWORDS = frozenset(_EN_STOP.split())
"""Function words plus question scaffolding ("name", "list", "tell") that carries no topic."""

_ZH_STOP = (
    "什么 哪些 哪个 哪里 哪儿 哪位 哪一 为什 怎么 怎样 如何 多少 是否 是不 不是 的是 是什 有哪 有什 了什 这个 "
    "那个 一个 之一 请问 是哪 是谁 在哪 的什 么样 么时 时候 多久 几个 几年"
)
CHINESE_STOP_BIGRAMS = frozenset(_ZH_STOP.split())
"""Bigrams of question words and particles (什么, 哪些, 是否, ...), never query terms."""
CHINESE_STOP_CHARS = frozenset("的了是在和与及或吗呢吧啊哪谁何几么这那有也都就而")
"""Characters that are never a query term alone; a bigram holding a question particle (哪谁何么吗呢) is dropped."""
_QUESTION_CHARS = frozenset("哪谁何么吗呢吧啊")


@cache
def _stemmer() -> object:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def _english_terms(text: str) -> set[str]:
    words = [w for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOPWORDS]
    return set(_stemmer().stemWords(words)) if words else set()  # type: ignore[attr-defined]


def query_terms(query: str) -> set[str]:
    """Stemmed English content words, Chinese character bigrams (a lone CJK character as itself)."""
    terms = _english_terms(_CJK_RUN.sub(" ", query))
    for run in _CJK_RUN.findall(query):
        if len(run) == 1:
            if run not in CHINESE_STOP_CHARS:
                terms.add(run)
            continue
        terms.update(
            b
            for b in (run[i : i + 2] for i in range(len(run) - 1))
            if b not in CHINESE_STOP_BIGRAMS and not _QUESTION_CHARS.intersection(b)
        )
    return terms


def sentence_terms(sentence: str) -> set[str]:
    """Everything a query term can match: stemmed words, CJK bigrams and single CJK characters."""
    terms = _english_terms(_CJK_RUN.sub(" ", sentence))
    for run in _CJK_RUN.findall(sentence):
        terms.update(run)
        terms.update(run[i : i + 2] for i in range(len(run) - 1))
    return terms


def _blank_nan(sentences: Sequence[str], values: Sequence[float]) -> list[float]:
    return [v if s.strip() else math.nan for s, v in zip(sentences, values, strict=True)]


class KeywordBaseline:
    """Lexical highlighter: score = share of query terms in the sentence; selected if ``score > threshold``
    (default 0.0: at least one shared term)."""

    name = "keyword"
    bounds: tuple[float, float] | None = (0.0, 1.0)

    def __init__(self, threshold: float = 0.0) -> None:
        self.threshold = float(threshold)
        self.note = "selected if it shares >= 1 query term (stemmed EN words without stopwords, ZH bigrams)"

    def score(self, examples: Sequence[Example], *, progress: bool = False) -> list[list[float]]:
        """Per example, one score per sentence (NaN for blank sentences)."""
        out = []
        for ex in examples:
            q = query_terms(ex.query)
            vals = [len(q & sentence_terms(s)) / len(q) if q else 0.0 for s in ex.sentences]
            out.append(_blank_nan(ex.sentences, vals))
        return out


class BaselineUnavailable(RuntimeError):
    """A baseline's model or data is not on this machine (the message starts with the baseline's name)."""


def find_e5_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The converted e5 encoder folder (with ``config.json`` and ``tokenizer.json``): ``explicit`` if given,
    else ``$SEMANTIC_HIGHLIGHT_E5_DIR``, else ``build/e5-base`` of the source checkout or of the cwd."""

    def ok(c: str | os.PathLike[str] | None) -> bool:
        return bool(c) and (Path(c) / "config.json").is_file() and (Path(c) / "tokenizer.json").is_file()  # type: ignore[arg-type]

    if explicit is not None:
        return Path(explicit) if ok(explicit) else None
    candidates = [
        os.environ.get("SEMANTIC_HIGHLIGHT_E5_DIR"),
        Path(__file__).resolve().parents[3] / "build" / "e5-base",
        Path.cwd() / "build" / "e5-base",
    ]
    return next((Path(c) for c in candidates if c and ok(c)), None)


def tuning_slice(data_dir: str | os.PathLike[str], per_lang: int = 100) -> list[Example]:
    """The embedding baseline's threshold-tuning examples (TyDi GoldP en dev + CMRC 2018 trial), evenly spaced."""
    from semantic_highlight.datasets.squad import load_squad

    d = Path(data_dir)
    out: list[Example] = []
    for path, lang in (
        (d / "tydiqa_goldp_en" / "english_tydiqa_dev.json", "en"),
        (d / "cmrc2018" / "cmrc2018_trial.json", "zh"),
    ):
        if not path.is_file():
            raise BaselineUnavailable(f"embedding baseline skipped: its tuning data {path} is missing")
        exs = load_squad(path, lang=lang, source=f"tune-{lang}")
        step = max(1, len(exs) // per_lang)
        out.extend(exs[::step][:per_lang])
    return out


class EmbeddingBaseline:
    """e5 query–sentence cosine; selected if ``cosine > threshold``."""

    name = "embedding"
    bounds: tuple[float, float] | None = None

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        threshold: float | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        bf16: bool = False,
        batch_size: int = 64,
    ) -> None:
        found = find_e5_dir(model_dir)
        if found is None:
            where = f"at {model_dir}" if model_dir is not None else "found"
            raise BaselineUnavailable(
                f"embedding baseline skipped: no converted e5 encoder {where} (pass --e5 DIR, set "
                "SEMANTIC_HIGHLIGHT_E5_DIR, or build build/e5-base with semantic_highlight.training.convert_e5)"
            )
        from semantic_highlight.training.e5_embed import load_embedder

        self.model_dir = found
        self.embedder = load_embedder(found)
        self.bf16 = bf16
        self.batch_size = batch_size
        if threshold is not None:
            self.threshold = float(threshold)
            self.note = f"e5 cosine ({found.name}), threshold {self.threshold:.3f} given"
        else:
            if data_dir is None:
                raise BaselineUnavailable(
                    "embedding baseline skipped: it needs a threshold or a data folder to tune it on"
                )
            self.threshold, f1 = self.tune(tuning_slice(data_dir))
            self.note = (
                f"e5 cosine ({found.name}), threshold {self.threshold:.3f} tuned for micro F1 "
                f"({f1:.3f}) on 100 TyDi-en dev + 100 CMRC trial questions"
            )
        log.info("embedding baseline: %s", self.note)

    def tune(self, examples: Sequence[Example]) -> tuple[float, float]:
        """The micro-F1-best threshold on ``examples`` (and its F1)."""
        from semantic_highlight.eval.metrics import best_point, sweep_f1

        scores = self.score(examples)
        gold = [[i in ex.relevant for i, s in enumerate(ex.sentences) if s.strip()] for ex in examples]
        flat = [[v for v in row if not math.isnan(v)] for row in scores]
        values = np.array([v for row in flat for v in row])
        grid = np.unique(np.round(np.quantile(values, np.linspace(0, 1, 401)), 4)).tolist()
        return best_point(grid, sweep_f1(gold, flat, grid))

    def _embed(self, texts: list[str], kind: str, progress: bool, chunk: int = 1024) -> torch.Tensor:
        """Embed in length-sorted chunks (a progress bar over them when ``progress``)."""
        encode = self.embedder.passages if kind == "passage" else self.embedder.queries
        starts = range(0, len(texts), chunk)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"e5 {kind}s", unit="chunk")
        parts = [encode(texts[i : i + chunk], bf16=self.bf16, batch_size=self.batch_size) for i in starts]
        return torch.cat(parts) if parts else torch.zeros(0)

    def score(self, examples: Sequence[Example], *, progress: bool = False) -> list[list[float]]:
        """Per example, one cosine per sentence (NaN for blank sentences); each distinct text is embedded once."""
        sentences = sorted({s.strip() for ex in examples for s in ex.sentences if s.strip()}, key=lambda t: (len(t), t))
        queries = sorted({ex.query for ex in examples})
        s_emb = self._embed(sentences, "passage", progress) if sentences else None
        q_emb = self._embed(queries, "query", progress)
        s_idx = {s: i for i, s in enumerate(sentences)}
        q_idx = {q: i for i, q in enumerate(queries)}
        out = []
        for ex in examples:
            q = q_emb[q_idx[ex.query]]
            vals = [
                float(s_emb[s_idx[s.strip()]] @ q) if s.strip() and s_emb is not None else math.nan
                for s in ex.sentences
            ]
            out.append(vals)
        return out
