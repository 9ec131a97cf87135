"""Validate the hand-written paraphrase examples.

Checks: every line parses; required fields; ids unique; "".join(sentences) is a substring of the
source passage (DRCD compared after OpenCC t2s unless script == traditional); 3-12 sentences;
indices in range and unique; unanswerable <=> relevant == []; no evaluation-set sources.
Run with the project venv: .venv/bin/python training_data/handwritten/validate.py
"""

import collections
import json
import os
import sys

D = os.environ.get("SHARED_DATA", "/work/shared/data")
HERE = os.path.dirname(os.path.abspath(__file__))
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
    for lang in ("en", "zh"):
        path = os.path.join(HERE, f"paraphrase_{lang}.jsonl")
        ids, seen, c, err = set(), set(), collections.Counter(), 0
        n = xl = 0
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
            P = passages(src)
            ok = P is not None and (joined in P or (t2s is not None and joined in t2s(P)))
            if not ok:
                print("not a substring of source passage", o["id"])
                err += 1
            if not 3 <= len(S) <= 12:
                print("sentence count", o["id"], len(S))
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
            key = (o["query"], joined)
            if key in seen:
                print("duplicate example", o["id"])
                err += 1
            seen.add(key)
            c[o["query_type"]] += 1
            xl += bool(o.get("cross_lingual"))
        print(f"{lang}: {n} lines, {err} errors, {dict(c)}, cross_lingual={xl}")
        total_err += err
    sys.exit(1 if total_err else 0)


if __name__ == "__main__":
    main()
