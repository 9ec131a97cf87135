"""Validate the hand-written examples (every ``*.jsonl`` in this folder).

Checks: every line parses; required fields; ids unique; "".join(sentences) is a substring of the
source passage (DRCD compared after OpenCC t2s unless script == traditional; each part of a joined-passages
record against its own source); 3-12 sentences (per part);
indices in range and unique; unanswerable <=> relevant == []; no evaluation-set sources; a
same-language ``paraphrase`` query shares no term with its relevant sentences by the keyword baseline's own
definition (stemmed English content words, Chinese character bigrams, after t2s), so the keyword baseline scores
it zero; and text-level disjointness: no passage shares 5 or more 10-word (English) or 12-character (Chinese,
after t2s) shingles with any evaluation text (``--no-overlap`` skips this slower check).
Run with the project venv: .venv/bin/python training_data/handwritten/validate.py
"""

import collections
import contextlib
import glob
import json
import os
import re
import sys
from collections.abc import Callable

from semantic_highlight.eval.baselines import query_terms, sentence_terms
from semantic_highlight.eval.suite import default_data_dir

HERE = os.path.dirname(os.path.abspath(__file__))
D = str(default_data_dir())  # $SEMANTIC_HIGHLIGHT_DATA, else ../shared/data
EVAL = ("xquad", "multispanqa", "fgc", "wikiqa", "chinese_squad", "dureader", "cail", "wikitext", "thucnews")
_cache = {}


def _text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def passages(src):
    f = src["file"]
    if f not in _cache:
        p = os.path.join(D, f)
        idx = {}
        if f.startswith("selqa/"):
            for i, x in enumerate(json.loads(_text(p))):
                cands = [c for c in x["candidates"] if c.strip()]
                idx[f"{x['article']} / {x['section']} (item {i})"] = " ".join(c.strip() for c in cands)
        elif f.startswith("hotpotqa"):
            for row in _text(p).splitlines():
                x = json.loads(row)
                for t, s in x["context"]:
                    idx[f"{x['_id']} / {t}"] = "".join(s)
        elif f.startswith("tydiqa"):
            for a in json.loads(_text(p))["data"]:
                for para in a["paragraphs"]:
                    idx[para["qas"][0]["id"]] = para["context"]
        else:  # cmrc2018 / drcd (SQuAD format, paragraph ids)
            for a in json.loads(_text(p))["data"]:
                for para in a["paragraphs"]:
                    idx[para["id"]] = para["context"]
        _cache[f] = idx
    return _cache[f].get(src["id"])


def main():
    try:
        import opencc

        t2s = opencc.OpenCC("t2s").convert
    except Exception:
        t2s = None
    total_err = 0
    ids, seen = set(), set()
    texts = {}  # passage text -> first example id, for the overlap check
    for path in sorted(glob.glob(os.path.join(HERE, "*.jsonl"))):
        lang = os.path.basename(path)
        c, err = collections.Counter(), 0
        n = xl = multi = 0
        for ln, line in enumerate(_text(path).splitlines(keepends=True), 1):
            try:
                o = json.loads(line)
            except Exception as e:
                print(f"{lang}:{ln} parse error {e}")
                err += 1
                continue
            n += 1
            for k in ("id", "source", "query", "sentences", "relevant", "query_type", "reasoning"):
                if k not in o:
                    print(o.get("id"), "missing", k)
                    err += 1
            if o["id"] in ids:
                print("duplicate id", o["id"])
                err += 1
            ids.add(o["id"])
            src = o["source"]
            if any(b in src["dataset"].lower() or b in src["file"].lower() for b in EVAL):
                print("evaluation-set source", o["id"])
                err += 1
            S, rel = o["sentences"], o["relevant"]
            joined = "".join(S)
            for part_src, part in excerpts(o):
                P = passages(part_src)
                text = "".join(part).rstrip()
                if P is None or not (text in P or (t2s is not None and text in t2s(P))):
                    print("not a substring of source passage", o["id"])
                    err += 1
                if not 3 <= len(part) <= 12:
                    print("sentence count", o["id"], len(part))
                    err += 1
            if not all(isinstance(i, int) and 0 <= i < len(S) for i in rel) or len(set(rel)) != len(rel):
                print("bad indices", o["id"])
                err += 1
            if o["query_type"] not in ("paraphrase", "keyword", "unanswerable"):
                print("bad type", o["id"])
                err += 1
            if (o["query_type"] == "unanswerable") != (rel == []):
                print("unanswerable/relevant mismatch", o["id"])
                err += 1
            shared = paraphrase_overlap(o, t2s)
            if shared:
                print("paraphrase query shares terms with its answer", o["id"], sorted(shared))
                err += 1
            key = (o["query"], joined)
            if key in seen:
                print("duplicate example", o["id"])
                err += 1
            seen.add(key)
            c[o["query_type"]] += 1
            xl += bool(o.get("cross_lingual"))
            multi += len(rel) >= 2
            texts.setdefault(joined, o["id"])
        print(f"{lang}: {n} lines, {err} errors, {dict(c)}, cross_lingual={xl}, 2+ relevant={multi}")
        total_err += err
    if "--no-overlap" not in sys.argv:
        total_err += overlap_errors(texts, t2s)
    sys.exit(1 if total_err else 0)


def excerpts(o: dict) -> list[tuple[dict, list[str]]]:
    """``(source, sentences)`` of each excerpt: one, or the parts of a joined-passages record (``context_parts``:
    each part's ``source`` and sentence count, in order; written by ``training_data/build_agent_shapes.py``)."""
    parts = o.get("context_parts")
    if not parts:
        return [(o["source"], o["sentences"])]
    out, start = [], 0
    for p in parts:
        out.append((p["source"], o["sentences"][start : start + p["sentences"]]))
        start += p["sentences"]
    if start != len(o["sentences"]):
        out.append((o["source"], []))  # counts do not add up: reported as a bad part
    return out


def paraphrase_overlap(o: dict, t2s: Callable[[str], str] | None) -> set[str]:
    """Keyword-baseline terms a same-language paraphrase query shares with its relevant sentences."""
    if o["query_type"] != "paraphrase" or o.get("cross_lingual"):
        return set()
    conv = t2s or (lambda t: t)
    answer = set().union(*(sentence_terms(conv(o["sentences"][i])) for i in o["relevant"]))
    return query_terms(conv(o["query"])) & answer


_WORDS = re.compile(r"[a-z0-9]+")
_HAN = re.compile(r"[\u3400-\u9fff]")


def shingles(text, t2s):
    """10-word shingles of the English words and 12-character shingles of the Chinese characters."""
    words = _WORDS.findall(text.lower())
    han = "".join(_HAN.findall(t2s(text) if t2s else text))
    out = {hash(" ".join(words[i : i + 10])) for i in range(len(words) - 9)}
    return out | {hash(han[i : i + 12]) for i in range(len(han) - 11)}


def eval_texts():
    """Every text of the evaluation sets (and our out-of-domain benchmark sets), as raw strings."""
    for name in EVAL:
        for path in glob.glob(os.path.join(D, f"*{name}*", "**", "*"), recursive=True):
            if os.path.isfile(path) and path.endswith((".json", ".jsonl", ".tsv", ".txt", ".tokens", ".raw")):
                yield path, _text(path)
    for path in glob.glob(os.path.join(HERE, "..", "..", "benchmarks", "data", "*.jsonl")):
        yield path, _text(path)


def overlap_errors(texts, t2s, limit=5):
    """Passages sharing ``limit`` or more shingles with an evaluation text (counted per passage)."""
    owner = collections.defaultdict(list)
    for text, ex_id in texts.items():
        for h in shingles(text, t2s):
            owner[h].append(ex_id)
    hits = collections.defaultdict(set)  # example id -> distinct shared shingles
    for path, raw in eval_texts():
        lines = raw.splitlines() if path.endswith(".jsonl") else [raw]
        for chunk in lines:
            with contextlib.suppress(ValueError):  # JSON escapes hide text: shingle the decoded form
                chunk = json.dumps(json.loads(chunk), ensure_ascii=False)
            for h in shingles(chunk, t2s):
                for ex_id in owner.get(h, ()):
                    hits[ex_id].add(h)
    bad = sorted(ex_id for ex_id, found in hits.items() if len(found) >= limit)
    for ex_id in bad:
        print("passage overlaps an evaluation text", ex_id, len(hits[ex_id]), "shingles")
    print(f"overlap: {len(texts)} passages checked, {len(bad)} share >= {limit} shingles with evaluation texts")
    return len(bad)


if __name__ == "__main__":
    main()
