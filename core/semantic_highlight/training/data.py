"""Assemble the licence-allowed training mix and the validation split from ``shared/data``-style inputs.

Train: TyDi GoldP-en train, SelQA dev+test, HotpotQA AMOR subset (per paragraph), CMRC 2018
dev+trial, DRCD dev+test (mostly converted to Simplified with OpenCC, a share kept Traditional,
some with a mixed-script query), hand-written paraphrase examples, and negatives (the question
paired with another paragraph of the same article = hard negative, or with a random document).
Validation (threshold calibration): TyDi dev + a held-out slice of CMRC trial paragraphs + a held-out
slice of the hand-written passages (paraphrased and unanswerable queries) + some of those questions paired
with another validation passage (the irrelevant chunks a RAG pipeline retrieves).
Never reads XQuAD, MultiSpanQA, FGC, WikiQA or any benchmark.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

from semantic_highlight.datasets.hotpotqa import load_hotpotqa
from semantic_highlight.datasets.jsonl import load_jsonl
from semantic_highlight.datasets.selqa import load_selqa
from semantic_highlight.datasets.squad import load_squad
from semantic_highlight.datasets.types import Example

log = logging.getLogger("semantic_highlight.training")

FORBIDDEN = ("xquad", "multispanqa", "fgc", "wikiqa", "benchmarks", "chinese_squad", "dureader", "cail")


def bucket(key: str) -> float:
    """Deterministic pseudo-random number in [0, 1) from a string."""
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 2**32


def _t2s(examples: list[Example], share_traditional: float, mixed: float) -> list[Example]:
    """Convert DRCD to Simplified; keep ``share_traditional`` Traditional, ``mixed`` with a Traditional query."""
    import opencc

    conv = opencc.OpenCC("t2s")
    out = []
    for ex in examples:
        r = bucket("script:" + str(ex.meta.get("title", "")) + ex.id)
        if r < share_traditional:
            out.append(replace(ex, meta={**ex.meta, "script": "traditional"}))
            continue
        sents = tuple(conv.convert(s) for s in ex.sentences)
        query = ex.query if r < share_traditional + mixed else conv.convert(ex.query)
        out.append(replace(ex, query=query, sentences=sents, meta={**ex.meta, "script": "simplified"}))
    return out


def load_handwritten(folder: str | Path, stats: Counter[str] | None = None) -> list[Example]:
    """Every ``*.jsonl`` in ``folder`` (hand-written or ``annotate`` output, see :mod:`..datasets.jsonl`).

    A record's ``lang`` wins; otherwise ``*_zh*`` file names mean Chinese, else the text decides.
    """
    out: list[Example] = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        hint = "zh" if "_zh" in path.stem else ("en" if "_en" in path.stem else None)
        out += load_training_file(path, lang=hint, stats=stats)
    return out


def load_training_file(path: str | Path, lang: str | None = None, stats: Counter[str] | None = None) -> list[Example]:
    """One JSONL file of training examples, ``source="handwritten"`` so the mix statistics group them."""
    return [replace(e, source="handwritten") for e in load_jsonl(path, lang=lang, source=Path(path).stem, stats=stats)]


def _negative(ex: Example, other: Example, kind: str) -> Example:
    """``ex``'s question on ``other``'s paragraph, every sentence labelled 0."""
    return Example(
        id=f"{ex.id}:{kind}",
        query=ex.query,
        sentences=other.sentences,
        relevant=frozenset(),
        lang=other.lang,
        source=f"{ex.source}:{kind}",
    )


def _answers(ex: Example) -> list[object]:
    """The gold answer strings a loader kept in ``meta["answers"]`` (empty when it kept none)."""
    answers = ex.meta.get("answers")
    return list(answers) if isinstance(answers, list | tuple) else []


def _negatives(examples: list[Example], rng: random.Random, hard_rate: float, random_rate: float) -> list[Example]:
    """Question + a different paragraph (same article when possible = hard negative), all labels 0."""
    by_title: dict[tuple[str, str], list[Example]] = defaultdict(list)
    by_lang: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        by_title[(ex.source, str(ex.meta.get("title", "")))].append(ex)
        by_lang[ex.lang].append(ex)
    out = []
    for ex in examples:
        if not ex.relevant:
            continue
        if rng.random() < hard_rate:
            answers = [str(a) for a in _answers(ex) if a]
            pool = [
                o
                for o in by_title[(ex.source, str(ex.meta.get("title", "")))]
                if o.text != ex.text and not any(a in o.text for a in answers)
            ]
            if pool:
                out.append(_negative(ex, rng.choice(pool), "hardneg"))
        if rng.random() < random_rate:
            o = rng.choice(by_lang[ex.lang])
            if o.text != ex.text:
                out.append(_negative(ex, o, "neg"))
    return out


def _passage_key(ex: Example) -> tuple[str, ...]:
    """An example's source passage: the one a hand-written record names, else the example's own text."""
    src = ex.meta.get("source")
    if isinstance(src, dict) and src.get("dataset") and src.get("id") is not None:
        return (str(src["dataset"]), str(src.get("file", "")), str(src["id"]))
    return ("text", ex.text)


def split_handwritten(hand: list[Example], val_share: float) -> tuple[list[Example], list[Example], int]:
    """``(train, validation, dropped)``: an example goes to validation when its excerpt text hashes below
    ``val_share`` (the rule every shipped stage was compared under, so the split stays the same); training
    then drops the ``dropped`` examples whose excerpt comes from a validation example's source passage, so no
    passage is on both sides."""
    val = [h for h in hand if bucket("val:" + h.text) < val_share]
    val_passages = {_passage_key(h) for h in val}
    rest = [h for h in hand if bucket("val:" + h.text) >= val_share]
    train = [h for h in rest if _passage_key(h) not in val_passages]
    return train, val, len(rest) - len(train)


def drop_training_pairs(val: list[Example], train: list[Example]) -> tuple[list[Example], list[Example]]:
    """``(kept, dropped)``: validation examples whose query and text are not / are also a training example.

    A hand-written example can repeat a dataset question on its passage word for word (``multi_zh``
    hw-zh-m-0223 is CMRC's DEV_320_QUERY_1): scoring it would reward what the model memorised. Dropped after
    the validation negatives are drawn, so the rest of the split stays the same.
    """
    pairs = {(e.query, e.text) for e in train}
    kept: list[Example] = []
    dropped: list[Example] = []
    for e in val:
        (dropped if (e.query, e.text) in pairs else kept).append(e)
    return kept, dropped


def validation_negatives(val: list[Example], rate: float = 0.3, seed: int = 0) -> list[Example]:
    """Irrelevant-document cases for calibration: ``rate`` of the answerable validation questions paired
    with another validation passage of the same language (another source passage, not containing an
    answer), every sentence labelled 0.

    A highlighter in a RAG pipeline sees retrieved chunks that do not answer the question all the time;
    without such cases the calibration would pick a fallback that highlights something in every chunk.
    The seed is fixed (not the training seed), so every run is compared on the same split.
    """
    rng = random.Random(seed)
    out = []
    for ex in val:
        if not ex.relevant or rng.random() >= rate:
            continue
        answers = [str(a) for a in _answers(ex) if a]
        pool = [
            o
            for o in val
            if o.lang == ex.lang
            and _passage_key(o) != _passage_key(ex)
            and o.text != ex.text
            and not any(a in o.text for a in answers)
        ]
        if pool:
            out.append(_negative(ex, rng.choice(pool), "valneg"))
    return out


def build_datasets(
    data_dir: str | Path,
    handwritten_dir: str | Path | None = None,
    seed: int = 13,
    hard_neg_rate: float = 0.25,
    random_neg_rate: float = 0.12,
    handwritten_repeat: int = 2,
    handwritten_val_share: float = 0.1,
) -> tuple[list[Example], list[Example], Counter[str]]:
    """Return ``(train, validation, stats)``; ``stats`` counts examples per source and drops.

    ``handwritten_val_share`` of the hand-written passages go to validation, so the threshold is
    calibrated on paraphrased and unanswerable queries too, not on extractive QA alone.
    """
    d = Path(data_dir)
    rng = random.Random(seed)
    stats: Counter[str] = Counter()
    tydi = load_squad(d / "tydiqa_goldp_en/english_tydiqa_train.json", lang="en", source="tydi", stats=stats)
    tydi_dev = load_squad(d / "tydiqa_goldp_en/english_tydiqa_dev.json", lang="en", source="tydi_dev", stats=stats)
    selqa = load_selqa(d / "selqa/selqa-ass-dev.json", source="selqa", stats=stats) + load_selqa(
        d / "selqa/selqa-ass-test.json", source="selqa", stats=stats
    )
    hotpot = load_hotpotqa(d / "hotpotqa_amor_subset/dev.jsonl", source="hotpot", stats=stats) + load_hotpotqa(
        d / "hotpotqa_amor_subset/test.jsonl", source="hotpot", stats=stats
    )
    # one distractor paragraph per question (hard negative) besides all gold paragraphs
    by_q: dict[str, list[Example]] = defaultdict(list)
    for ex in hotpot:
        by_q[str(ex.meta["qid"])].append(ex)
    hot_sel: list[Example] = []
    for exs in by_q.values():
        hot_sel += [e for e in exs if e.relevant]
        distractors = [e for e in exs if not e.relevant]
        if distractors:
            hot_sel.append(rng.choice(distractors))
    cmrc = load_squad(d / "cmrc2018/cmrc2018_dev.json", lang="zh", source="cmrc", stats=stats) + load_squad(
        d / "cmrc2018/cmrc2018_trial.json", lang="zh", source="cmrc_trial", stats=stats
    )
    cmrc_val = [e for e in cmrc if e.source == "cmrc_trial" and bucket(e.text) < 0.3]
    cmrc = [e for e in cmrc if not (e.source == "cmrc_trial" and bucket(e.text) < 0.3)]
    drcd = _t2s(
        load_squad(d / "drcd/DRCD_dev.json", lang="zh", source="drcd", stats=stats)
        + load_squad(d / "drcd/DRCD_test.json", lang="zh", source="drcd", stats=stats),
        share_traditional=0.3,
        mixed=0.1,
    )
    positives = tydi + selqa + hot_sel + cmrc + drcd
    negs = _negatives(tydi + cmrc + drcd + selqa, rng, hard_neg_rate, random_neg_rate)
    val = tydi_dev + cmrc_val
    hand = load_handwritten(handwritten_dir) if handwritten_dir and Path(handwritten_dir).exists() else []
    val_texts = "\n".join(sorted({e.text for e in val}))
    overlap = [h for h in hand if h.text.strip() and h.text.strip() in val_texts]
    hand = [h for h in hand if h not in overlap]  # passages of the validation split stay out of training
    stats["handwritten:dropped_val_overlap"] = len(overlap)
    hand, hand_val, same_passage = split_handwritten(hand, handwritten_val_share)
    stats["handwritten:dropped_val_passage"] = same_passage
    val += hand_val
    val += validation_negatives(val)
    stats["handwritten:val"] = len(hand_val)
    stats["handwritten:unique"] = len(hand)
    train = positives + negs + hand * handwritten_repeat
    val, leaked = drop_training_pairs(val, train)
    stats["val:dropped_in_train"] = len(leaked)
    rng.shuffle(train)
    for ex in train:
        stats[f"train:{ex.source.split(':')[0]}{':neg' if not ex.relevant else ''}"] += 1
    stats["train:total"] = len(train)
    stats["val:total"] = len(val)
    return train, val, stats
