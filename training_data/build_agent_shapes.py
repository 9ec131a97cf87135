"""Build the agent-style query shapes (issue 22) from the hand-written examples, reproducibly.

Reads every hand-written ``training_data/handwritten/*.jsonl`` except the files it writes (``agent_*``), and writes:

* ``agent_chat_{en,zh}.jsonl``: the same example with a conversational query: one to four earlier turns, then the
  question. Earlier turns are other hand-written questions on the same source passage (or, for some, another
  passage: a change of topic), each followed by an assistant reply made of that question's relevant sentences
  ("not stated" when it has none), so a history often quotes passage sentences that do not answer the final
  question. 50-300 tokens of history (the default model's tokenizer), role labels varied.
* ``agent_keyword_{en,zh}.jsonl``: the question cut down to a 2-6-keyword search string by rule (question words,
  punctuation and, for two thirds, stop words removed; Chinese: jieba's content words, see ``zh_keyword_query``).
* ``agent_joined_{en,zh}.jsonl``: the example's excerpt placed among 2-4 excerpts of other source passages of the
  same language, joined by blank lines, gold sentences unchanged (shifted). ``context_parts`` records each part's
  source and sentence count, so ``validate.py`` checks every part against its own source.

Every variant keeps its example's split side: chat and keyword variants keep the excerpt text (the split hashes
it), and a joined example is arranged (neighbours drawn from the same side) until its text hashes to the same side
as its source example (``semantic_highlight.training.data.split_handwritten``), so no validation passage enters
training. Cross-lingual examples are skipped. Only a share of the examples gets each shape (see ``SHARE``).
Chinese keyword strings need jieba (in the ``[train]`` extra).

Run: ``.venv/bin/python training_data/build_agent_shapes.py`` (deterministic; about 20 s).
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from semantic_highlight.eval.baselines import query_terms, sentence_terms
from semantic_highlight.training.data import bucket

HERE = Path(__file__).resolve().parent / "handwritten"
MODEL = Path(__file__).resolve().parents[1] / "core" / "semantic_highlight" / "default_model"
VAL_SHARE = 0.1  # build_datasets' handwritten_val_share
# Chat and joined variants go to disjoint shares of the examples (by the id's bucket); a keyword variant is drawn
# independently, for 70% of all examples (30% up to stage 9's trial: keyword queries were the weakest shape).
SHARE = {"chat": 0.35, "keyword": 0.7, "joined": 0.25}
# The gap between the chat and joined shares (the keyword share up to stage 9): kept so the same examples get chat
# and joined variants as before. Their texts did change on 2026-12-08, since every shape draws from one random stream.
OLD_KEYWORD_SHARE = 0.3
HISTORY_TOKENS = (50, 300)

Record = dict[str, Any]

ROLES = {
    "en": [("User: ", "Assistant: "), ("Q: ", "A: "), ("user: ", "assistant: "), ("Human: ", "AI: ")],
    "zh": [("用户：", "助手："), ("问：", "答："), ("我：", "AI："), ("用户: ", "助手: ")],
}
NOT_STATED = {
    "en": ["The document doesn't say.", "I couldn't find that in the text.", "That isn't mentioned there."],
    "zh": ["文中没有提到。", "资料里没有这方面的信息。", "这段文字没有说明。"],
}
OPENERS = {
    "en": [
        "I'm reading a document and have a few questions about it.",
        "Can you help me with some questions about this text?",
        "I'm doing research for a report, please answer from the passage.",
        "Quick questions about an article I found.",
    ],
    "zh": [
        "我在看一篇资料，想问几个问题。",
        "帮我看看这段文字，我有几个问题。",
        "我在写报告，请根据材料回答。",
        "问几个关于这篇文章的问题。",
    ],
}
EN_QUESTION = frozenset(
    [
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "should",
        "will",
        "has",
        "have",
        "had",
        "tell",
        "me",
        "please",
        "much",
        "many",
    ]
)
EN_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "about",
        "and",
        "or",
        "as",
        "that",
        "this",
        "these",
        "those",
        "its",
        "it",
        "their",
        "his",
        "her",
        "be",
        "been",
        "being",
        "into",
        "than",
        "then",
        "there",
    ]
)
ZH_QUESTION = re.compile(
    "(什么时候|什麼時候|多长时间|多長時間|哪一年|为什么|為什麼|怎么样|怎麼樣|是不是|有没有|有沒有|请问|請問|是否|为何|為何|怎么|怎麼"
    "|怎样|怎樣|如何|什么|什麼|哪些|哪个|哪個|哪里|哪裡|哪儿|哪年|哪部|哪位|哪种|哪種|哪|何时|何時|多少|多久|几个|幾個|几|幾|谁|誰|吗|嗎|呢|吧|呀|啊"
    "|[？?。！!，,、：:；;“”\"'《》（）()「」])"
)


def tokenizer() -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(MODEL / "tokenizer.json"))


def read(files: list[Path]) -> list[Record]:
    out = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line))
    return out


def lang_of(path: Path) -> str:
    return "zh" if "_zh" in path.stem else "en"


def is_val(rec: Record) -> bool:
    return bucket("val:" + "".join(rec["sentences"])) < VAL_SHARE


def passage_key(rec: Record) -> tuple[str, str, str]:
    s = rec["source"]
    return (str(s["dataset"]), str(s.get("file", "")), str(s["id"]))


def variant(rec: Record, kind: str, query: str, **extra: Any) -> Record:
    qtype = "unanswerable" if not rec["relevant"] else "keyword"
    out = {
        "id": f"{rec['id']}-{kind}",
        "source": rec["source"],
        "query": query,
        "sentences": rec["sentences"],
        "relevant": rec["relevant"],
        "query_type": qtype,
        "reasoning": f"{kind} variant of {rec['id']} (built by training_data/build_agent_shapes.py); "
        + rec["reasoning"],
        "derived_from": rec["id"],
    }
    if rec.get("script"):
        out["script"] = rec["script"]
    out.update(extra)
    return out


def keyword_query(query: str, lang: str, rng: random.Random) -> str | None:
    """A 2-6-keyword search string, or None when the question does not reduce to one."""
    if lang == "zh":
        return zh_keyword_query(query, rng)
    words = re.findall(r"[\w'’.-]+", query)
    words = [w.strip(".'’") for w in words if w.lower() not in EN_QUESTION]
    keep_stop = rng.random() < 1 / 3
    words = [w for w in words if w and (keep_stop or w.lower() not in EN_STOP)]
    while words and words[-1].lower() in EN_STOP:
        words.pop()
    while words and words[0].lower() in EN_STOP:
        words.pop(0)
    if len(words) > 6:
        ranked = sorted(range(len(words)), key=lambda i: (words[i].lower() in EN_STOP, -len(words[i])))[:6]
        words = [words[i] for i in sorted(ranked)]
    if len(words) < 2:
        return None
    text = " ".join(words)
    return text.lower() if rng.random() < 0.5 else text


# jieba part-of-speech flags that a Chinese search string keeps: nouns (n*), names and places, abbreviations (j),
# idioms and set phrases (i, l), numbers and measure words (m, q), times (t), verbs (v*), adjectives (a*), locality
# words (f, attached to the word before them: "全明星赛后") and Latin-script words (eng).
ZH_KEEP = re.compile(r"^(n|nr|ns|nt|nz|ng|nrt|nrfg|j|i|l|m|mq|q|t|tg|v|vn|vd|vg|a|an|ad|f|eng)$")
ZH_JOIN = frozenset("-·・")  # name-internal marks: 赛迪斯-杨
ZH_ANOTA = re.compile(r"(.+)不\1.*|不.*|没.*")


@functools.cache
def _jieba() -> Any:
    import jieba
    import jieba.posseg

    jieba.setLogLevel(60)
    return jieba.posseg


def zh_keyword_query(query: str, rng: random.Random) -> str | None:
    """A Chinese question cut to 2-6 space-separated search terms, as agents write them ("詹姆斯 全明星赛后 命中率").

    Words come from jieba's part-of-speech tagger: pronouns, particles, adverbs, prepositions, conjunctions,
    question words, yes/no forms ("好不好") and punctuation go; a run of kept words becomes one term, which a coin
    toss splits into its words when longer than four characters. One-character verbs and adjectives ("伤", "难")
    go, and for two fifths of the queries every verb goes (a noun-only search string).
    """
    drop_verbs = rng.random() < 0.4
    runs: list[list[str]] = [[]]
    for tok in _jieba().cut(query):
        word, flag = tok.word.strip(), tok.flag
        keep = bool(word) and ZH_QUESTION.search(word) is None
        keep = keep and (bool(ZH_KEEP.match(flag)) or (word in ZH_JOIN and bool(runs[-1])))
        if keep and ZH_ANOTA.fullmatch(word):
            keep = False  # "重不重", "不能": the question's yes/no, not a term
        if keep and flag[0] in "va" and (len(word) < 2 or (drop_verbs and flag[0] == "v")):
            keep = False
        if keep and flag == "f" and not runs[-1]:
            keep = False  # a locality word only as a suffix
        if keep:
            runs[-1].append(word)
        elif runs[-1]:
            runs.append([])
    terms: list[str] = []
    for run in runs:
        while run and run[-1] in ZH_JOIN:
            run.pop()
        text = "".join(run)
        if not text:
            continue
        if len(text) > 4 and len(run) > 1 and rng.random() < 0.5:
            parts: list[str] = []
            for w in run:  # split between words of two or more characters only: 赛迪斯-杨 stays whole
                if parts and (len(w) < 2 or w in ZH_JOIN or parts[-1][-1] in ZH_JOIN or len(parts[-1]) < 2):
                    parts[-1] += w
                else:
                    parts.append(w)
            terms += parts
        else:
            terms.append(text)
    terms = [t for t in terms if len(t) >= 2]
    if len(terms) > 6:
        longest = set(sorted(range(len(terms)), key=lambda i: -len(terms[i]))[:6])
        terms = [t for i, t in enumerate(terms) if i in longest]
    return " ".join(terms) if len(terms) >= 2 or (terms and len(terms[0]) >= 4) else None


@functools.cache
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s").convert


def shares_terms(query: str, rec: Record) -> bool:
    """Whether ``query`` shares a keyword-baseline term with the relevant sentences (as ``validate.py`` checks)."""
    conv = _t2s()
    answer = set().union(*(sentence_terms(conv(rec["sentences"][i])) for i in rec["relevant"]))
    return bool(query_terms(conv(query)) & answer)


def reply(rec: Record, lang: str, rng: random.Random) -> str:
    if not rec["relevant"]:
        return rng.choice(NOT_STATED[lang])
    return "".join(rec["sentences"][i] for i in rec["relevant"]).strip()


def chat_query(rec: Record, lang: str, same: list[Record], other: list[Record], rng: random.Random, tok: Any) -> str:
    user, bot = rng.choice(ROLES[lang])
    sep = "\n"
    pool = [r for r in same if r["id"] != rec["id"] and not r.get("cross_lingual")]
    rng.shuffle(pool)
    if rng.random() < 0.3 or not pool:  # a change of topic: earlier turns on another passage
        pool = [rng.choice(other) for _ in range(4)]
    turns: list[str] = []
    if rng.random() < 0.5:
        turns.append(user + rng.choice(OPENERS[lang]))
        turns.append(bot + ("Sure, go ahead." if lang == "en" else "好的，请问。"))

    def length(parts: list[str]) -> int:
        return len(tok.encode(sep.join(parts), add_special_tokens=False).ids)

    for prev in pool:
        if length(turns) >= HISTORY_TOKENS[0] and rng.random() < 0.5:
            break
        cand = [*turns, user + prev["query"].strip(), bot + reply(prev, lang, rng)]
        if length(cand) > HISTORY_TOKENS[1]:
            break
        turns = cand
    if length(turns) < HISTORY_TOKENS[0]:
        return ""
    return sep.join([*turns, user + rec["query"].strip()])


def joined(rec: Record, pool: list[Record], rng: random.Random) -> Record | None:
    """The example's excerpt among 2-4 excerpts of other passages, on the same split side as ``rec``."""
    side = is_val(rec)
    own = passage_key(rec)
    for _ in range(40):
        k = rng.randint(2, 4)
        picked: list[Record] = []
        seen = {own}
        while len(picked) < k:
            o = rng.choice(pool)
            if passage_key(o) not in seen:
                seen.add(passage_key(o))
                picked.append(o)
        picked.insert(rng.randint(0, k), rec)
        sentences: list[str] = []
        parts: list[dict[str, Any]] = []
        relevant: list[int] = []
        for p in picked:
            if p is rec:
                relevant = [len(sentences) + i for i in rec["relevant"]]
            block = list(p["sentences"])
            block[-1] = block[-1].rstrip() + "\n\n"
            parts.append({"source": p["source"], "sentences": len(block), "script": p.get("script")})
            sentences += block
        sentences[-1] = sentences[-1].rstrip()
        if (bucket("val:" + "".join(sentences)) < VAL_SHARE) == side:
            return variant(
                rec,
                "joined",
                rec["query"],
                sentences=sentences,
                relevant=relevant,
                context_parts=parts,
                query_type=rec["query_type"],
            )
    return None


def main() -> None:
    tok = tokenizer()
    files = sorted(p for p in HERE.glob("*.jsonl") if not p.stem.startswith("agent_"))
    by_lang: dict[str, list[Record]] = defaultdict(list)
    for path in files:
        by_lang[lang_of(path)] += read([path])
    for lang, recs in by_lang.items():
        rng = random.Random(f"agent-shapes-{lang}")
        by_passage: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
        for r in recs:
            by_passage[passage_key(r)].append(r)
        sides = {s: [r for r in recs if is_val(r) == s and not r.get("cross_lingual")] for s in (True, False)}
        out: dict[str, list[Record]] = {"chat": [], "keyword": [], "joined": []}
        asked = {(r["query"], passage_key(r)) for r in recs}
        for r in recs:
            if r.get("cross_lingual"):
                continue
            pick = bucket("shape:" + r["id"])
            if pick < SHARE["chat"]:
                q = chat_query(r, lang, by_passage[passage_key(r)], sides[is_val(r)], rng, tok)
                if q:
                    out["chat"].append(variant(r, "chat", q))
            elif SHARE["chat"] + OLD_KEYWORD_SHARE <= pick < SHARE["chat"] + OLD_KEYWORD_SHARE + SHARE["joined"]:
                j = joined(r, sides[is_val(r)], rng)
                if j:
                    out["joined"].append(j)
            if bucket("keyword:" + r["id"]) < SHARE["keyword"]:
                q = keyword_query(r["query"], lang, rng)
                if q and q != r["query"] and (q, passage_key(r)) not in asked:
                    asked.add((q, passage_key(r)))  # two questions on a passage can cut to one string
                    qtype = r["query_type"]
                    if qtype == "paraphrase" and shares_terms(q, r):  # a question word removed leaves a term
                        qtype = "keyword"
                    out["keyword"].append(variant(r, "keyword", q, query_type=qtype))
        for kind, rows in out.items():
            path = HERE / f"agent_{kind}_{lang}.jsonl"
            path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows), encoding="utf-8")
            print(f"{path.name}: {len(rows)}")


if __name__ == "__main__":
    main()
