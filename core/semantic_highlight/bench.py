"""``semantic-highlight bench``: speed of the engine against its floor and the usual alternatives.

Workloads (English and Chinese): (a) 1 query x 10 chunks of ~300 tokens (a RAG request),
(b) 64 queries x 10 chunks (a batch job), (c) 1 query x one ~20k-token document. For each it
reports the median latency, docs/s, tokens/s, padding ratio and peak RSS, plus ratios measured
side by side in the same run: engine / bare forward passes on the same token tensors (the
floor), one-document-at-a-time / batched, and per-sentence pairs (a cross-encoder's way) /
engine. It also reports the share of time spent splitting and tokenizing.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import SemanticHighlighter
from .packing import Window, plan_batches
from .splitting import split_sentences

__all__ = ["Row", "build_random_checkpoint", "main", "make_chunks", "run_bench", "write_report"]

_SHARED = Path("..") / "shared" / "data"
_CORPORA = {"en": _SHARED / "wikitext2_raw" / "wiki.test.raw.txt", "zh": _SHARED / "thucnews_cnews" / "cnews.val.txt"}
_FALLBACK = {
    "en": "The river rises in the northern hills and flows south through farmland. Its water feeds three towns. "
    "Engineers built a dam in 1931 to control floods. The reservoir is now popular with anglers. ",
    "zh": "这条河发源于北部山区，向南流经农田。河水养育了三座城镇。"
    "工程师们在1931年修建了水坝以控制洪水。如今水库很受垂钓者欢迎。",
}
_QUERIES = {
    "en": ["When was the dam built?", "Which towns depend on the river?", "How did critics receive it?", "Who won?"],
    "zh": ["水坝是什么时候修建的？", "比赛结果如何？", "这款产品的价格是多少？", "他为什么离开球队？"],
}


@dataclass
class Row:
    """One measured (model, workload, language) cell of the table."""

    model: str
    workload: str
    lang: str
    docs: int
    tokens: int
    median_s: float
    docs_per_s: float
    tokens_per_s: float
    padding_ratio: float
    peak_rss_mb: float
    prep_share: float
    engine_over_floor: float | None = None
    one_at_a_time_over_batched: float | None = None
    per_sentence_over_engine: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _read_corpus(lang: str, path: Path | None) -> str:
    path = path or _CORPORA[lang]
    if not path.is_file():
        return _FALLBACK[lang] * 400
    text = path.read_text(encoding="utf-8")
    if lang == "zh":  # one "label<TAB>text" news article per line
        text = "".join(line.split("\t", 1)[-1] for line in text.splitlines())
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("=")]
        text = " ".join(lines).replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
    return text[:3_000_000]


def make_chunks(h: SemanticHighlighter, text: str, n: int, tokens: int) -> list[str]:
    """``n`` consecutive chunks of whole sentences, each about ``tokens`` model tokens long."""
    tok = h.model.tokenizer
    chunks: list[str] = []
    current: list[str] = []
    count = 0
    for span in split_sentences(text[: max(2_000_000, n * tokens * 8)]):
        current.append(span.text)
        count += len(tok.encode(span.text, add_special_tokens=False).ids)
        if count >= tokens:
            chunks.append("".join(current))
            current, count = [], 0
            if len(chunks) == n:
                break
    if len(chunks) < n:
        raise ValueError(f"corpus too small for {n} chunks of {tokens} tokens")
    return chunks


def _forward_floor(h: SemanticHighlighter, windows: Sequence[Window]) -> Callable[[], None]:
    """The bare batched forward passes on the engine's own token tensors (built once, outside timing)."""
    model = h.model
    tensors = []
    for batch in plan_batches([len(w) for w in windows], h.max_batch_tokens, h.max_padding):
        width = max(len(windows[i]) for i in batch)
        ids = torch.full((len(batch), width), model.layout.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            ids[row, : len(windows[i])] = torch.tensor(windows[i].input_ids)
            mask[row, : len(windows[i])] = 1
        tensors.append((ids.to(model.device), mask.to(model.device)))

    def run() -> None:
        with torch.inference_mode():
            for ids, mask in tensors:
                model.forward(ids, mask)
            if model.device.type == "cuda":
                torch.cuda.synchronize()

    return run


def _padding_ratio(h: SemanticHighlighter, windows: Sequence[Window]) -> float:
    lengths = [len(w) for w in windows]
    padded = sum(len(b) * max(lengths[i] for i in b) for b in plan_batches(lengths, h.max_batch_tokens, h.max_padding))
    return padded / max(1, sum(lengths))


def _sync(h: SemanticHighlighter, fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        fn()
        if h.device.type == "cuda":
            torch.cuda.synchronize()

    return run


def bench_workload(
    h: SemanticHighlighter,
    name: str,
    lang: str,
    pairs: list[tuple[str, list[str]]],
    repeats: int,
    compare: set[str],
    warmup: bool = True,
    floor: bool = True,
) -> Row:
    """Measure one workload; ``compare`` picks the slow side-by-side baselines to run.

    ``warmup=False`` skips the untimed first calls (for big workloads run after a small one);
    ``floor=False`` skips timing the bare forward passes (``engine_over_floor`` stays None)."""
    prepared_pairs = [(q, list(docs)) for q, docs in pairs]
    engine = _sync(h, lambda: h.highlight_batch(prepared_pairs))
    if warmup:
        engine()
    t_engine = _median_time(engine, repeats)

    def prepare() -> list[Window]:  # the engine's own split + tokenize + packing
        return h.plan(prepared_pairs)

    t_prep = _median_time(prepare, repeats)
    windows = prepare()
    t_floor: float | None = None
    if floor:
        bare = _forward_floor(h, windows)
        if warmup:
            bare()
        t_floor = _median_time(bare, repeats)
    ndocs = sum(len(d) for _, d in pairs)
    ntok = sum(len(w) for w in windows)
    row = Row(
        model=h.model.name,
        workload=name,
        lang=lang,
        docs=ndocs,
        tokens=ntok,
        median_s=t_engine,
        docs_per_s=ndocs / t_engine,
        tokens_per_s=ntok / t_engine,
        padding_ratio=_padding_ratio(h, windows),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        prep_share=t_prep / t_engine,
        engine_over_floor=t_engine / t_floor if t_floor else None,
        extra={"floor_s": t_floor, "prep_s": t_prep, "windows": len(windows)},
    )
    slow_repeats = max(1, repeats // 3)
    if "one_at_a_time" in compare:
        singles = _sync(h, lambda: [h.highlight(q, d) for q, docs in pairs for d in docs])
        t_single = _median_time(singles, slow_repeats)
        row.one_at_a_time_over_batched = t_single / t_engine
        row.extra["one_at_a_time_s"] = t_single
    if "per_sentence" in compare:
        per_sentence = [
            (q, [[s.text] for d in docs for s in split_sentences(d, h.max_sentence_chars)]) for q, docs in pairs
        ]
        pairs_call = _sync(h, lambda: h.highlight_batch(per_sentence))
        t_pairs = _median_time(pairs_call, slow_repeats)
        row.per_sentence_over_engine = t_pairs / t_engine
        row.extra["per_sentence_s"] = t_pairs
    return row


def build_random_checkpoint(
    out: Path, template: Path, layers: int = 24, hidden: int = 1024, positions: int = 8192
) -> Path:
    """Write an Open Provence checkpoint with the zilliz bilingual model's shape and random weights."""
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    if (out / "model.safetensors").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    config = json.loads((template / "config.json").read_text())
    base = dict(config["base_model_config"])
    base.update(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        intermediate_size=hidden * 4,
        max_position_embeddings=positions + 2,
    )
    config["base_model_config"] = base
    config.update(max_length=positions, hidden_size=hidden, default_threshold=0.5)
    config.pop("default_threadshold", None)
    config["pruning_config"] = {**config.get("pruning_config", {}), "hidden_size": hidden}
    cfg = {k: v for k, v in base.items() if k not in ("model_type", "transformers_version", "_name_or_path")}
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(AutoConfig.for_model(base["model_type"], **cfg))
    state = {f"ranking_model.{k}": v.to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    state["pruning_head.classifier.weight"] = (torch.randn(2, hidden) * 0.02).half()
    state["pruning_head.classifier.bias"] = torch.zeros(2).half()
    save_file(state, str(out / "model.safetensors"))
    (out / "config.json").write_text(json.dumps(config, indent=2))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (out / name).write_bytes((template / name).read_bytes())
    return out


def run_bench(
    models: Sequence[str | None],
    workloads: Sequence[str],
    langs: Sequence[str],
    repeats: int,
    device: str | None,
    dtype: str | None,
    corpus: dict[str, Path | None],
    heavy_models: Sequence[str] = (),
    compare: set[str] | None = None,
    ratio_queries: int = 16,
) -> list[Row]:
    """Measure every (model, workload, language); ``heavy_models`` run only workload (a) on CPU.

    Workload (b) is timed once in full (throughput); its side-by-side ratios (engine/floor,
    one-at-a-time/batched) are measured on its first ``ratio_queries`` queries, which keeps the
    whole benchmark under 10 minutes on 2 CPUs (pass 64 for the full set)."""
    compare = {"one_at_a_time", "per_sentence"} if compare is None else compare
    rows: list[Row] = []
    for model in models:
        h = SemanticHighlighter(model=model, device=device, dtype=dtype)
        heavy = model in heavy_models and h.device.type == "cpu"
        for lang in langs:
            text = _read_corpus(lang, corpus.get(lang))
            queries = _QUERIES[lang]
            chunks = make_chunks(h, text, 10, 300)
            for wl in workloads:
                if heavy and wl != "a":
                    continue
                if wl == "a":
                    pairs = [(queries[0], chunks)]
                    cmp = compare - ({"one_at_a_time"} if heavy else set())
                    reps = 1 if heavy else repeats
                elif wl == "b":
                    more = make_chunks(h, text, 64, 300) if len(chunks) < 64 else chunks
                    pairs = [
                        (queries[i % len(queries)], [more[(i + j) % len(more)] for j in range(10)]) for i in range(64)
                    ]
                    cmp = compare & {"one_at_a_time"}
                    reps = 1  # ~200k tokens: one timed pass of each (a few minutes on 2 CPUs)
                else:
                    long_doc = "".join(make_chunks(h, text, 67, 300))  # ~20k tokens
                    pairs = [(queries[1], [long_doc])]
                    cmp = compare & {"per_sentence"}
                    reps = max(1, repeats // 2)
                if wl == "b" and ratio_queries < len(pairs):
                    row = bench_workload(h, wl, lang, pairs, 1, set(), warmup=False, floor=False)
                    sub = bench_workload(h, wl, lang, pairs[:ratio_queries], 1, cmp, warmup=False)
                    row.engine_over_floor = sub.engine_over_floor
                    row.one_at_a_time_over_batched = sub.one_at_a_time_over_batched
                    row.extra.update(ratios_on_queries=ratio_queries, ratio_rows=asdict(sub))
                else:
                    cold = wl == "b" or heavy  # b follows a warm a; heavy models: one pass of each is minutes
                    row = bench_workload(h, wl, lang, pairs, reps, set() if heavy else cmp, warmup=not cold)
                row.extra.update(device=h.device.type, dtype=str(dtype or "default"))
                rows.append(row)
                print(_format_rows([row], header=len(rows) == 1), flush=True)
        del h
    return rows


def _fmt(x: float | None, spec: str, suffix: str = "") -> str:
    return "—" if x is None else format(x, spec) + suffix


def _format_rows(rows: Sequence[Row], header: bool = True) -> str:
    lines = []
    if header:
        lines.append(
            "| model | workload | lang | docs | tokens | median s | docs/s | tokens/s | padding | peak RSS MB "
            "| split+tokenize share | engine/floor | one-at-a-time/batched | per-sentence/engine |"
        )
        lines.append("|" + "---|" * 14)
    for r in rows:
        name = Path(r.model).name if r.model != "default" else "default"
        lines.append(
            f"| {name} | {r.workload} | {r.lang} | {r.docs} | {r.tokens} | {r.median_s:.3f} | {r.docs_per_s:.1f} "
            f"| {r.tokens_per_s:,.0f} | {r.padding_ratio:.3f} | {r.peak_rss_mb:,.0f} | {r.prep_share:.1%} "
            f"| {_fmt(r.engine_over_floor, '.3f')} | {_fmt(r.one_at_a_time_over_batched, '.2f', 'x')} "
            f"| {_fmt(r.per_sentence_over_engine, '.2f', 'x')} |"
        )
    return "\n".join(lines)


def write_report(out: Path | None, name: str, data: Any, text: str, footer: str = "") -> None:
    """The end of every benchmark: with ``out``, write ``<out>/<name>.json`` (``data``: a dataclass instance or
    JSON-serialisable) and ``<out>/<name>.md`` (``text``, a Markdown report); then print ``text`` and ``footer``
    (wall time, files written) to standard output."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        payload = asdict(data) if is_dataclass(data) and not isinstance(data, type) else data
        (out / f"{name}.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
        (out / f"{name}.md").write_text(text + "\n", encoding="utf-8")
    print("\n" + text + (f"\n\n{footer}" if footer else ""))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="semantic-highlight bench", description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", default=None, help="checkpoint folder/hub id; 'default' = embedded")
    p.add_argument("--zilliz-shape", action="store_true", help="also bench a random XLM-R 24x1024, 8192-position model")
    p.add_argument("--workloads", default="a,b,c")
    p.add_argument("--langs", default="en,zh")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument(
        "--b-ratio-queries", type=int, default=16, help="queries of workload (b) its ratios are measured on (max 64)"
    )
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-compare", action="store_true", help="skip the slow one-at-a-time and per-sentence runs")
    p.add_argument("--corpus-en", type=Path, default=None)
    p.add_argument("--corpus-zh", type=Path, default=None)
    p.add_argument("--template", type=Path, default=Path("..") / "shared" / "fixtures" / "op-tiny-xlmr")
    p.add_argument("--out", type=Path, default=Path("bench_out"))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    models: list[str | None] = [None if m == "default" else m for m in (args.model or ["default"])]
    heavy: list[str] = []
    if args.zilliz_shape:
        path = str(build_random_checkpoint(Path("build") / "bench" / "zilliz-shape", args.template))
        models.append(path)
        heavy.append(path)
    start = time.perf_counter()
    rows = run_bench(
        models,
        args.workloads.split(","),
        args.langs.split(","),
        args.repeats,
        args.device,
        args.dtype,
        {"en": args.corpus_en, "zh": args.corpus_zh},
        heavy,
        set() if args.no_compare else None,
        args.b_ratio_queries,
    )
    table = _format_rows(rows)
    meta = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "wall_s": time.perf_counter() - start,
        "numpy": np.__version__,
    }
    footer = f"wrote {args.out / 'bench.json'} and {args.out / 'bench.md'} ({meta['wall_s']:.0f} s)"
    write_report(args.out, "bench", {"meta": meta, "rows": [asdict(r) for r in rows]}, table, footer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
