"""The named benchmark suite over ``../shared/data`` plus our out-of-domain JSONL sets.

=============  ==================================================================  ====
name           data                                                                lang
=============  ==================================================================  ====
multispanqa    MultiSpanQA valid (token BIO -> sentences), in-domain               en
xquad-en       XQuAD English (SQuAD-style spans -> sentences)                      en
xquad-zh       XQuAD Chinese, parallel to xquad-en                                 zh
fgc            FGC dev + test, evidence (SHINT) over SENTS clauses                 zh
wikiqa         WikiQA test, all 633 questions (390 with nothing to highlight)      en
ood-en         benchmarks/data/wikitext2_ood_en.jsonl (when present)               en
ood-zh         benchmarks/data/thucnews_ood_zh.jsonl (when present)                zh
=============  ==================================================================  ====

Also loadable by name: ``fgc-all`` (train + dev + test), ``fgc-sentence`` (dev + test, clauses merged
into sentences), ``xquad-en-zh`` / ``xquad-zh-en`` (XQuAD's questions in one language on the parallel
passages in the other: mixed-language retrieval). Any other argument is a file: ``.jsonl`` (our format),
``.tsv`` (WikiQA), ``.json`` (MultiSpanQA, FGC, Open Provence or SQuAD-style, by shape).

Agent-style variants (issue 22; not in ``suite``; same gold as their natural source): ``ood-en-keyword`` /
``ood-zh-keyword`` (each question rewritten by hand as a 2-6-keyword search string), ``ood-en-chat`` /
``ood-zh-chat`` (a hand-written chat history of 42-92 tokens, then the natural question) and ``xquad-en-joined``
/ ``xquad-zh-joined`` (each XQuAD passage placed among 2-4 passages of other XQuAD articles, built at load time).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from semantic_highlight.datasets.types import Example
from semantic_highlight.eval.dataset import EvalDataset

__all__ = [
    "DATASETS",
    "SUITE",
    "default_data_dir",
    "expand_datasets",
    "load_dataset",
    "load_file",
    "ood_dir",
    "subsample",
]

SUITE = ("multispanqa", "xquad-en", "xquad-zh", "fgc", "wikiqa", "ood-en", "ood-zh")
_REPO = Path(__file__).resolve().parents[3]


def default_data_dir() -> Path:
    """``$SEMANTIC_HIGHLIGHT_DATA``, else ``../shared/data`` next to the source checkout, else next to the cwd."""
    env = os.environ.get("SEMANTIC_HIGHLIGHT_DATA")
    if env:
        return Path(env)
    for base in (_REPO, Path.cwd()):
        if (base.parent / "shared" / "data").is_dir():
            return base.parent / "shared" / "data"
    return _REPO.parent / "shared" / "data"


def ood_dir() -> Path:
    """``benchmarks/data`` of the source checkout (or of the cwd)."""
    here = _REPO / "benchmarks" / "data"
    return here if here.is_dir() else Path.cwd() / "benchmarks" / "data"


def subsample(examples: list[Example], limit: int | None) -> list[Example]:
    """At most ``limit`` examples, evenly spaced over the list (deterministic; all when ``None``)."""
    if limit is None or limit >= len(examples):
        return examples
    if limit <= 0:
        return []
    step = len(examples) / limit
    return [examples[int(i * step)] for i in range(limit)]


def _msqa(d: Path, stats: Counter[str]) -> list[Example]:
    from semantic_highlight.datasets.multispanqa import load_multispanqa

    return load_multispanqa(d / "multispanqa" / "valid.json", source="multispanqa", stats=stats)


def _xquad(lang: str) -> Callable[[Path, Counter[str]], list[Example]]:
    def load(d: Path, stats: Counter[str]) -> list[Example]:
        from semantic_highlight.datasets.squad import load_squad

        return load_squad(d / "xquad" / f"xquad.{lang}.json", lang=lang, source=f"xquad-{lang}", stats=stats)

    return load


def _xquad_cross(query_lang: str, passage_lang: str) -> Callable[[Path, Counter[str]], list[Example]]:
    """XQuAD's ``query_lang`` questions on its parallel ``passage_lang`` passages (same ids, that side's gold).

    Measures a mixed-language query and chunk, e.g. an English question over Chinese retrieval results."""

    def load(d: Path, stats: Counter[str]) -> list[Example]:
        asked = {e.id.split(":", 1)[1]: e.query for e in _xquad(query_lang)(d, Counter())}
        out = []
        for e in _xquad(passage_lang)(d, stats):
            query = asked.get(e.id.split(":", 1)[1])
            if query is None:
                stats["no_parallel_question"] += 1
                continue
            out.append(replace(e, query=query, source=f"xquad-{query_lang}-{passage_lang}"))
        return out

    return load


def _fgc(splits: tuple[str, ...], granularity: str = "clause") -> Callable[[Path, Counter[str]], list[Example]]:
    def load(d: Path, stats: Counter[str]) -> list[Example]:
        from semantic_highlight.datasets.fgc import load_fgc

        return [
            e
            for s in splits
            for e in load_fgc(
                d / "fgc" / f"FGC_release_all_{s}_cn.json", granularity=granularity, source="fgc", stats=stats
            )
        ]

    return load


def _wikiqa(d: Path, stats: Counter[str]) -> list[Example]:
    from semantic_highlight.datasets.wikiqa import load_wikiqa

    return load_wikiqa(d / "wikiqa" / "WikiQA-test.tsv", source="wikiqa", stats=stats)


def _ood(filename: str, lang: str) -> Callable[[Path, Counter[str]], list[Example]]:
    def load(d: Path, stats: Counter[str]) -> list[Example]:
        from semantic_highlight.datasets.jsonl import load_jsonl

        return load_jsonl(ood_dir() / filename, lang=lang, source=filename.removesuffix(".jsonl"), stats=stats)

    return load


def _xquad_joined(lang: str) -> Callable[[Path, Counter[str]], list[Example]]:
    """XQuAD with each passage placed among 2-4 passages of other articles (a tool output of joined results).

    Deterministic: the neighbours, their number and the passage's place come from a generator seeded with the
    question id and index passages by order, so ``en`` and ``zh`` get the same arrangement. The gold sentences are
    the same ones, shifted; passages are separated by a blank line."""

    def load(d: Path, stats: Counter[str]) -> list[Example]:
        import random
        import zlib

        examples = _xquad(lang)(d, stats)
        index: dict[tuple[str, ...], int] = {}
        titles: list[str] = []
        for e in examples:
            if e.sentences not in index:
                index[e.sentences] = len(index)
                titles.append(str(e.meta.get("title", "")))
        passages = list(index)
        out = []
        for e in examples:
            rng = random.Random(zlib.crc32(e.id.split(":", 1)[1].encode()))
            own = index[e.sentences]
            others = [i for i in range(len(passages)) if titles[i] != titles[own]]
            picked = rng.sample(others, rng.randint(2, 4))
            picked.insert(rng.randint(0, len(picked)), own)
            sentences: list[str] = []
            relevant: set[int] = set()
            for i in picked:
                if i == own:
                    relevant = {len(sentences) + j for j in e.relevant}
                sentences.extend(passages[i][:-1])
                sentences.append(passages[i][-1].rstrip() + "\n\n")
            sentences[-1] = sentences[-1].rstrip()
            joined = replace(e, sentences=tuple(sentences), relevant=frozenset(relevant), source=f"xquad-{lang}-joined")
            out.append(joined)
        return out

    return load


DATASETS: dict[str, tuple[str, Callable[[Path, Counter[str]], list[Example]], str]] = {
    "multispanqa": ("en", _msqa, "multispanqa/valid.json"),
    "xquad-en": ("en", _xquad("en"), "xquad/xquad.en.json"),
    "xquad-zh": ("zh", _xquad("zh"), "xquad/xquad.zh.json"),
    "xquad-en-zh": ("en>zh", _xquad_cross("en", "zh"), "xquad/xquad.{en,zh}.json"),
    "xquad-zh-en": ("zh>en", _xquad_cross("zh", "en"), "xquad/xquad.{zh,en}.json"),
    "fgc": ("zh", _fgc(("dev", "test")), "fgc/FGC_release_all_{dev,test}_cn.json"),
    "fgc-all": ("zh", _fgc(("train", "dev", "test")), "fgc/FGC_release_all_{train,dev,test}_cn.json"),
    "fgc-sentence": ("zh", _fgc(("dev", "test"), "sentence"), "fgc/FGC_release_all_{dev,test}_cn.json"),
    "wikiqa": ("en", _wikiqa, "wikiqa/WikiQA-test.tsv"),
    "ood-en": ("en", _ood("wikitext2_ood_en.jsonl", "en"), "benchmarks/data/wikitext2_ood_en.jsonl"),
    "ood-zh": ("zh", _ood("thucnews_ood_zh.jsonl", "zh"), "benchmarks/data/thucnews_ood_zh.jsonl"),
    "ood-en-keyword": (
        "en",
        _ood("wikitext2_ood_en_keyword.jsonl", "en"),
        "benchmarks/data/wikitext2_ood_en_keyword.jsonl",
    ),
    "ood-en-chat": ("en", _ood("wikitext2_ood_en_chat.jsonl", "en"), "benchmarks/data/wikitext2_ood_en_chat.jsonl"),
    "ood-zh-keyword": (
        "zh",
        _ood("thucnews_ood_zh_keyword.jsonl", "zh"),
        "benchmarks/data/thucnews_ood_zh_keyword.jsonl",
    ),
    "ood-zh-chat": ("zh", _ood("thucnews_ood_zh_chat.jsonl", "zh"), "benchmarks/data/thucnews_ood_zh_chat.jsonl"),
    "xquad-en-joined": ("en", _xquad_joined("en"), "xquad/xquad.en.json (joined at load time)"),
    "xquad-zh-joined": ("zh", _xquad_joined("zh"), "xquad/xquad.zh.json (joined at load time)"),
}
"""name -> (language, loader(data_dir, stats), where the data lives)."""


def expand_datasets(spec: str) -> list[str]:
    """``"suite"`` -> the suite's names; anything else -> ``[spec]``."""
    return list(SUITE) if spec == "suite" else [spec]


def _drops(stats: Counter[str]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for key, n in stats.items():
        parts = key.split(":dropped:")
        if len(parts) == 2 and n:
            out[parts[1]] += n
    return dict(out)


def load_file(path: str | os.PathLike[str], stats: Counter[str] | None = None) -> list[Example]:
    """Load a labelled file by extension and shape (see the module docstring); ``ValueError`` naming the file
    when it is not UTF-8 or not JSON where JSON is expected."""
    p = Path(path)
    try:
        return _load_by_format(p, stats)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{p} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p} is not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno})") from None


def _load_by_format(p: Path, stats: Counter[str] | None) -> list[Example]:
    if p.suffix == ".jsonl":
        head = next((line for line in p.open(encoding="utf-8") if line.strip()), "{}")
        if "context_spans" in json.loads(head):
            from semantic_highlight.datasets.openprovence import load_openprovence

            return load_openprovence(p, stats=stats)
        from semantic_highlight.datasets.jsonl import load_jsonl

        return load_jsonl(p, stats=stats)
    if p.suffix == ".tsv":
        from semantic_highlight.datasets.wikiqa import load_wikiqa

        return load_wikiqa(p, stats=stats)
    data = json.loads(p.read_text(encoding="utf-8"))
    first = (data.get("data") or [{}])[0] if isinstance(data, dict) else (data or [{}])[0]
    if isinstance(first, dict) and "label" in first and "context" in first:
        from semantic_highlight.datasets.multispanqa import load_multispanqa

        return load_multispanqa(p, source=p.stem, stats=stats)
    if isinstance(first, dict) and "SENTS" in first:
        from semantic_highlight.datasets.fgc import load_fgc

        return load_fgc(p, stats=stats)
    if isinstance(first, dict) and "context_spans" in first:
        from semantic_highlight.datasets.openprovence import load_openprovence

        return load_openprovence(p, stats=stats)
    if isinstance(first, dict) and "paragraphs" in first:
        from semantic_highlight.datasets.jsonl import guess_lang
        from semantic_highlight.datasets.squad import load_squad

        sample = first["paragraphs"][0]["context"] if first["paragraphs"] else ""
        return load_squad(p, lang=guess_lang(sample), stats=stats)
    raise ValueError(f"{p}: unrecognised dataset format")


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None, limit: int | None = None) -> EvalDataset:
    """A suite dataset by name, or a file. A missing suite file gives an empty dataset whose ``note``
    says why (the run skips it); a missing explicit file raises :class:`FileNotFoundError`."""
    stats: Counter[str] = Counter()
    data = Path(data_dir) if data_dir is not None else default_data_dir()
    if name in DATASETS:
        lang, loader, where = DATASETS[name]
        try:
            examples = loader(data, stats)
        except FileNotFoundError as exc:
            return EvalDataset(name, [], lang, where, note=f"{name} skipped: {exc.filename or where} not found")
        source = where
    else:
        path = Path(name)
        if path.is_dir():
            raise IsADirectoryError(f"{name} is a directory; pass a dataset file (.jsonl, .json or .tsv) or a name")
        if not path.is_file():
            raise FileNotFoundError(f"no dataset named {name!r} and no such file (names: suite, {', '.join(DATASETS)})")
        examples = load_file(path, stats)
        langs = Counter(e.lang for e in examples)
        lang = "+".join(sorted(langs)) if langs else ""
        name, source = path.stem, str(path)
    picked = subsample(examples, limit)
    note = (
        f"evenly spaced subsample: {len(picked)} of {len(examples)} examples (--limit)"
        if len(picked) < len(examples)
        else ""
    )
    return EvalDataset(name, picked, lang, source, dropped=_drops(stats), note=note)
