"""Offline tests of the LLM annotator: stub OpenAI-compatible server, LangChain fake model, resume, training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from semantic_highlight.annotate import (
    AnnotateConfig,
    ChatResponse,
    LangChainBackend,
    OpenAICompatibleBackend,
    annotate,
    annotate_file,
    check_label,
    cited_sentences,
    detect_lang,
    extract_json_object,
    load_examples,
    write_training_jsonl,
)
from semantic_highlight.annotate.pipeline import rejected_path

FIXTURES = Path(__file__).parents[1].parent / "shared" / "fixtures"
EN = "Marie Curie was born in Warsaw. She moved to Paris in 1891. She won two Nobel Prizes."
ZH = "长城位于中国北方。它全长两万多公里。每年有大量游客前来参观。"


def answer(rel: Sequence[int], reasoning: str | None = None) -> str:
    """A well-formed label reply citing exactly the chosen sentences."""
    why = reasoning if reasoning is not None else " ".join(f"Sentence {i} answers." for i in rel) or "Nothing fits."
    return json.dumps({"reasoning": why, "relevant_sentences": list(rel)})


# --------------------------------------------------------------------------- stub OpenAI-compatible server

Step = tuple  # ("ok", text) | ("status", code) | ("sleep", seconds, text)


class Stub:
    """Scripted ``/v1/chat/completions``: the first script key found in the prompt picks the reply sequence."""

    def __init__(self, script: dict[str, list[Step]], usage: tuple[int, int] = (100, 20)) -> None:
        self.script = {k: list(v) for k, v in script.items()}
        self.usage = usage
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                with stub.lock:
                    stub.requests.append(body)
                    key = next((k for k in stub.script if k in prompt), None)
                    seq = stub.script.get(key or "", [("status", 404)])
                    step = seq.pop(0) if len(seq) > 1 else seq[0]
                try:
                    if step[0] == "status":
                        self.send_response(step[1])
                        self.end_headers()
                        self.wfile.write(b'{"error": "scripted"}')
                        return
                    if step[0] == "sleep":
                        time.sleep(step[1])
                    text = step[-1]
                    payload = {
                        "choices": [{"message": {"role": "assistant", "content": text}}],
                        "usage": {"prompt_tokens": stub.usage[0], "completion_tokens": stub.usage[1]},
                    }
                    data = json.dumps(payload).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def prompts(self) -> list[str]:
        return [r["messages"][-1]["content"] for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub_factory() -> Iterator[Callable[..., Stub]]:
    made: list[Stub] = []

    def make(script: dict[str, list[Step]], **kw: Any) -> Stub:
        made.append(Stub(script, **kw))
        return made[-1]

    yield make
    for s in made:
        s.close()


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


# --------------------------------------------------------------------------- parsing and filters


def test_parse_is_tolerant() -> None:
    obj = {"reasoning": "r", "relevant_sentences": [2]}
    fenced = "Here you go:\n```json\n" + json.dumps(obj) + "\n```\nHope it helps."
    assert extract_json_object(fenced, "relevant_sentences") == obj
    assert extract_json_object("<think>{maybe [1]}</think> " + json.dumps(obj), "relevant_sentences") == obj
    assert extract_json_object('Answer: {"reasoning": "a {b}", "relevant_sentences": [2,],}') == {
        "reasoning": "a {b}",
        "relevant_sentences": [2],
    }
    assert extract_json_object("no json here") is None
    assert check_label("```\n" + json.dumps(obj) + "\n```", 3).relevant == (1,)
    assert check_label('{"reasoning": "x", "relevant_sentences": ["2", 3.0]}', 3, check_reasoning=False).relevant == (
        1,
        2,
    )
    assert check_label('{"reasoning": "x", "relevant_sentences": [true]}', 3).reason == "malformed"
    assert check_label('{"reasoning": "x", "relevant_sentences": [0]}', 3).reason == "out_of_range"
    assert check_label('{"reasoning": "sentence 1 is background", "relevant_sentences": [2]}', 3).reason == (
        "contradiction"
    )


def test_cited_sentences_en_zh() -> None:
    assert cited_sentences("Sentence 3 says so; sentences 5-7 and [9] too; the second sentence") == {2, 3, 5, 6, 7, 9}
    assert cited_sentences("句3给出答案，第4句和第五句补充，第2、3句说明。") == {2, 3, 4, 5}
    assert cited_sentences("In 2019 the firm had 30 staff.") == set()


def test_passage_spans_inputs() -> None:
    from semantic_highlight import split_sentences
    from semantic_highlight.annotate.pipeline import passage_spans

    assert passage_spans({"context": EN}) == split_sentences(EN)
    spans = passage_spans({"sentences": ["A b. ", "  ", "C d."]})
    assert [(s.start, s.end, s.text) for s in spans] == [(0, 7, "A b.   "), (7, 11, "C d.")]
    again = passage_spans({"sentences": [{"text": s.text, "start": s.start, "end": s.end} for s in spans]})
    assert again == spans
    with pytest.raises(ValueError):
        passage_spans({"query": "q"})


def test_prompt_language_by_passage(stub_factory: Callable[..., Stub], tmp_path: Path) -> None:
    assert detect_lang(ZH) == "zh"
    assert detect_lang(EN) == "en"
    assert detect_lang("苹果公司在2023年发布了新的iPhone手机。") == "zh"
    assert detect_lang("The Great Wall (长城) is long.") == "en"
    stub = stub_factory({"Warsaw": [("ok", answer([1]))], "长城": [("ok", answer([2], "句2回答了问题。"))]})
    inp = write_jsonl(
        tmp_path / "in.jsonl",
        [{"query": "Where was Curie born?", "context": EN}, {"query": "长城有多长？", "context": ZH}],
    )
    out = tmp_path / "out.jsonl"
    rep = annotate_file(inp, out, OpenAICompatibleBackend(stub.url, "m"), config=AnnotateConfig(concurrency=1))
    assert rep.filtered == {"kept": 2}
    en_prompt, zh_prompt = stub.prompts()
    assert "Query: Where was Curie born?" in en_prompt and "[1] Marie Curie was born in Warsaw." in en_prompt
    assert "问题：长城有多长？" in zh_prompt and "[2] 它全长两万多公里。" in zh_prompt
    rows = {r["provenance"]["lang"]: r for r in read_jsonl(out)}
    assert rows["zh"]["relevant"] == [1] and rows["en"]["relevant"] == [0]
    assert rows["zh"]["provenance"]["prompt_version"] == "label_v1" and rows["zh"]["provenance"]["model"] == "m"
    s = rows["en"]["sentences"]
    assert [EN[x["start"] : x["end"]] for x in s] == [x["text"] for x in s] and len(s) == 3


# --------------------------------------------------------------------------- HTTP client: retries, filters, usage


def test_http_retries_filters_usage_and_rerun(stub_factory: Callable[..., Stub], tmp_path: Path) -> None:
    script: dict[str, list[Step]] = {
        "QOK": [("ok", answer([1]))],
        "Q500": [("status", 500), ("ok", answer([2]))],
        "QSLOW": [("sleep", 1.0, answer([1])), ("ok", answer([3]))],
        "QMALFORMED": [("ok", "Sure! {reasoning: sentence 1, relevant_sentences: [1")],
        "QRANGE": [("ok", "```json\n" + answer([7]) + "\n```")],
        "QCONTRA": [("ok", answer([2], "Sentence 1 names her, sentence 2 gives the year."))],
        "QDEAD": [("status", 503)],
        "QBAD": [("status", 400)],
    }
    stub = stub_factory(script)
    rows = [{"query": f"{k} question", "context": EN} for k in script]
    rows.insert(3, {"query": "", "context": EN})
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    backend = OpenAICompatibleBackend(
        stub.url, "stub-model", timeout=0.4, max_retries=2, backoff_base=0.01, max_concurrency=3
    )
    rep = annotate_file(inp, out, backend, config=AnnotateConfig(concurrency=3))
    assert rep.invalid_input == 1 and rep.errors == 2
    assert rep.filtered == {"kept": 3, "malformed": 1, "out_of_range": 1, "contradiction": 1}
    # 500 -> retry, timeout -> retry, 503 x3 -> 2 retries then give up, 400 -> no retry
    assert rep.usage.retries == 4 and rep.usage.failed_calls == 2 and rep.usage.calls == 6
    assert sum(1 for p in stub.prompts() if "Q500" in p) == 2 and sum(1 for p in stub.prompts() if "QBAD" in p) == 1
    assert (rep.usage.input_tokens, rep.usage.output_tokens) == (600, 120)
    summary = rep.summary(price_per_1k_input=0.5, price_per_1k_output=2.0)
    assert "cost: 0.5400" in summary and "contradiction: 1" in summary and "3 kept" in summary
    kept = {r["query"].split()[0]: r for r in read_jsonl(out)}
    assert {k: r["relevant"] for k, r in kept.items()} == {"QOK": [0], "Q500": [1], "QSLOW": [2]}
    assert kept["QOK"]["reasoning"] == "Sentence 1 answers."
    rejected = {r["query"].split()[0]: r["reason"] for r in read_jsonl(rejected_path(out))}
    assert rejected == {"QMALFORMED": "malformed", "QRANGE": "out_of_range", "QCONTRA": "contradiction"}
    # re-run: done items (kept and rejected) are skipped, the failed ones are retried
    n_before = len(stub.requests)
    rep2 = annotate_file(inp, out, backend, config=AnnotateConfig(concurrency=3))
    assert rep2.skipped_done == 6 and rep2.errors == 2 and rep2.usage.calls == 0
    assert {b["messages"][-1]["content"].count("QDEAD") > 0 for b in stub.requests[n_before:]} == {True, False}
    assert len(read_jsonl(out)) == 3


# --------------------------------------------------------------------------- LangChain adapter, two passes


def test_langchain_fake_model_two_pass(tmp_path: Path) -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    def msg(text: str) -> AIMessage:
        return AIMessage(content=text, usage_metadata={"input_tokens": 50, "output_tokens": 10, "total_tokens": 60})

    replies = [
        msg(answer([1])),
        msg(answer([1])),  # agree -> kept
        msg(answer([2])),
        msg(answer([2, 3])),  # disagree
        msg("I think sentence 2."),  # malformed: no second pass
        msg(answer([3])),
        msg("garbage"),
    ]  # second pass malformed -> disagreement
    model = GenericFakeChatModel(messages=iter(replies))
    backend = LangChainBackend(model, name="fake-lc")
    items = [{"query": f"q{i}", "context": EN} for i in range(4)]
    out = tmp_path / "lc.jsonl"
    rep = annotate(items, out, backend, config=AnnotateConfig(concurrency=1, two_pass=True))
    assert rep.filtered == {"kept": 1, "disagreement": 2, "malformed": 1}
    assert rep.usage.calls == 7 and rep.usage.input_tokens == 350 and rep.usage.output_tokens == 70
    (row,) = read_jsonl(out)
    assert row["relevant"] == [0] and row["provenance"]["model"] == "fake-lc"
    assert row["provenance"]["second_model"] == "fake-lc"


# --------------------------------------------------------------------------- resumability


class _Crash(BaseException):
    pass


class CountingBackend:
    """A plain :class:`ChatBackend`: answers sentence 1, crashes (like a kill) on call ``crash_at``."""

    model_name = "counting"

    def __init__(self, crash_at: int | None = None) -> None:
        self.calls = 0
        self.crash_at = crash_at

    def complete(self, messages: Sequence[dict[str, str]], *, temperature: float = 0.0) -> ChatResponse:
        self.calls += 1
        if self.crash_at is not None and self.calls == self.crash_at:
            raise _Crash
        return ChatResponse(answer([1]))


def test_resume_after_crash_and_torn_line(tmp_path: Path) -> None:
    items = [{"query": f"question {i}", "context": EN} for i in range(8)]
    out = tmp_path / "out.jsonl"
    with pytest.raises(_Crash):
        annotate(items, out, CountingBackend(crash_at=4), config=AnnotateConfig(concurrency=1))
    done = len(read_jsonl(out))
    # items 0-2 were written; item 4 was queued behind the crash and is kept too if a worker had
    # already started it (results already paid for are never dropped), so 3 or 4 depending on timing
    assert done in (3, 4) and "question 3" not in {r["query"] for r in read_jsonl(out)}
    with open(out, "a", encoding="utf-8") as f:  # a crash in the middle of a write
        f.write('{"id": "x", "query": "question 3", "sente')
    again = CountingBackend()
    rep = annotate(items, out, again, config=AnnotateConfig(concurrency=2))
    assert again.calls == 8 - done and rep.skipped_done == done and rep.written == 8 - done
    rows = read_jsonl(out)  # every line parses: the torn tail was dropped
    assert sorted(r["query"] for r in rows) == sorted(i["query"] for i in items)
    assert len({r["provenance"]["input_hash"] for r in rows}) == 8


def test_bad_input_lines_are_counted_and_skipped_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The input is read by the batch job's JSONL reader: each bad line is one invalid item, logged with why."""
    good = json.dumps({"query": "Where was Curie born?", "context": EN})
    lines = ["{broken", "", '{"query": "q", "context": NaN}', "[1, 2]", good, '{"context": "No query."}']
    inp = tmp_path / "in.jsonl"
    inp.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    backend = CountingBackend()
    with caplog.at_level("WARNING", logger="semantic_highlight.annotate"):
        rep = annotate_file(inp, tmp_path / "out.jsonl", backend, config=AnnotateConfig(concurrency=1))
    assert (rep.input_items, rep.invalid_input, rep.written, backend.calls) == (5, 4, 1, 1)
    reasons = [r.getMessage().split(": ", 1)[1] for r in caplog.records if "skipped" in r.getMessage()]
    assert reasons[0].startswith("invalid JSON: Expecting property name")
    assert reasons[1:] == ["invalid JSON: NaN is not a JSON number", "not a JSON object", "missing 'query'"]


def test_resume_after_kill(stub_factory: Callable[..., Stub], tmp_path: Path) -> None:
    stub = stub_factory({"Warsaw": [("sleep", 0.25, answer([1]))]})
    inp = write_jsonl(tmp_path / "in.jsonl", [{"query": f"question {i}", "context": EN} for i in range(12)])
    out = tmp_path / "out.jsonl"
    argv = [
        "--input",
        str(inp),
        "--out",
        str(out),
        "--base-url",
        stub.url,
        "--model",
        "m",
        "--concurrency",
        "1",
        "--quiet",
    ]
    code = "import sys; from semantic_highlight.annotate.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 40
        while time.time() < deadline and (not out.exists() or out.read_text().count("\n") < 3):
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    done = len(read_jsonl(out))
    assert 3 <= done < 12
    stub.script["Warsaw"] = [("ok", answer([1]))]
    from semantic_highlight.annotate.cli import main

    assert main(argv) == 0
    rows = read_jsonl(out)
    assert len(rows) == 12 and len({r["query"] for r in rows}) == 12


# --------------------------------------------------------------------------- query generation


def test_generate_queries_mode(stub_factory: Callable[..., Stub], tmp_path: Path) -> None:
    queries = {
        "queries": [
            {"query": "Where was Curie born?", "type": "direct"},
            {"query": "What is the hometown of the physicist?", "type": "paraphrase"},
            {"query": "Who was Curie's doctoral advisor?", "type": "unanswerable"},
        ]
    }
    stub = stub_factory(
        {
            "Write 3 different queries": [("ok", "```json\n" + json.dumps(queries) + "\n```")],
            "Where was Curie born?": [("ok", answer([1]))],
            "hometown of the physicist": [("ok", answer([1]))],
            "doctoral advisor": [("ok", answer([]))],
            "文章：": [("ok", "我不知道")],
        }
    )
    inp = write_jsonl(tmp_path / "passages.jsonl", [{"context": EN}, {"context": ZH}])
    out = tmp_path / "gen.jsonl"
    cfg = AnnotateConfig(generate_queries=True, queries_per_passage=3, concurrency=2)
    backend = OpenAICompatibleBackend(stub.url, "gen-model", backoff_base=0.01)
    rep = annotate_file(inp, out, backend, config=cfg)
    assert rep.generated_queries == 3 and rep.filtered == {"kept": 3, "malformed_queries": 1}
    rows = read_jsonl(out)
    assert {r["query_type"]: r["relevant"] for r in rows} == {"direct": [0], "paraphrase": [0], "unanswerable": []}
    assert {r["provenance"]["query_prompt_version"] for r in rows} == {"query_v1"}
    assert "至少一个同一主题下、文章却无法回答" in next(p for p in stub.prompts() if "文章：" in p)
    # lose the last line of the group (crash between lines): the passage is redone, no duplicates
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[:2]), encoding="utf-8")
    rep2 = annotate_file(inp, out, backend, config=cfg)
    assert rep2.skipped_done == 1 and rep2.generated_queries == 3
    assert sorted(r["query_type"] for r in read_jsonl(out)) == ["direct", "paraphrase", "unanswerable"]


# --------------------------------------------------------------------------- CLI


def test_cli_summary_and_to_training(
    stub_factory: Callable[..., Stub], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from semantic_highlight.cli import main as front

    stub = stub_factory({"Warsaw": [("ok", answer([1]))], "长城": [("ok", "not json")]})
    inp = write_jsonl(tmp_path / "in.jsonl", [{"query": "Where?", "context": EN}, {"query": "多长？", "context": ZH}])
    out = tmp_path / "out.jsonl"
    code = front(
        [
            "annotate",
            "--input",
            str(inp),
            "--out",
            str(out),
            "--base-url",
            stub.url,
            "--model",
            "m",
            "--price-per-1k-input",
            "1",
            "--price-per-1k-output",
            "1",
            "--quiet",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and "1 kept, 1 dropped (malformed: 1)" in text and "tokens in 200, out 40" in text
    assert "cost: 0.2400" in text
    folder = tmp_path / "train"
    assert front(["annotate", "--to-training", str(out), "--out", str(folder)]) == 0
    (line,) = read_jsonl(folder / "annotated_en.jsonl")
    assert line["sentences"] == [s["text"] for s in read_jsonl(out)[0]["sentences"]] and line["relevant"] == [0]
    assert f"semantic-highlight train --train-file {folder / 'annotated_en.jsonl'}" in capsys.readouterr().out
    # a missing input is a usage error, not an interrupted run to resume
    missing = ["annotate", "--input", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl")]
    assert front([*missing, "--base-url", stub.url, "--model", "m"]) == 2
    assert "no input file" in capsys.readouterr().err and not (tmp_path / "o.jsonl").exists()


# --------------------------------------------------------------------------- annotate -> train -> load


def _tiny_encoder(folder: Path) -> Path:
    """A random 2-layer BERT encoder with the tiny fixture's XLM-R tokenizer (a 'base encoder')."""
    import shutil

    import torch
    from safetensors.torch import save_file
    from tokenizers import Tokenizer
    from transformers import BertConfig, BertModel

    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(FIXTURES / "op-tiny-xlmr" / name, folder / name)
    vocab = Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab_size()
    cfg = {
        "model_type": "bert",
        "vocab_size": vocab,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 130,
        "type_vocab_size": 1,
        "pad_token_id": 1,
    }
    torch.manual_seed(0)
    model = BertModel(BertConfig(**cfg), add_pooling_layer=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def _annotate_en_zh(out: Path, n: int) -> Any:
    """Label ``n`` English (sentence 2 answers) and ``n`` Chinese (sentence 3) pairs with a fake chat model."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    items = [{"query": f"Where was Curie born? ({i})", "context": EN} for i in range(n)]
    items += [{"query": f"长城有多长？({i})", "context": ZH} for i in range(n)]
    replies = [answer([1])] * n + [answer([2], "句2给出了长度。")] * n
    backend = LangChainBackend(GenericFakeChatModel(messages=iter(replies)), name="fake")
    return annotate(items, out, backend, config=AnnotateConfig(concurrency=1))


@pytest.mark.skipif(not (FIXTURES / "op-tiny-xlmr").is_dir(), reason="../shared/fixtures is not available")
def test_annotate_then_train_tiny_model(tmp_path: Path) -> None:
    from semantic_highlight import SemanticHighlighter
    from semantic_highlight.training.data import load_handwritten
    from semantic_highlight.training.evaluate import calibrate_and_export
    from semantic_highlight.training.train import TrainConfig, train

    labelled = tmp_path / "labelled.jsonl"
    rep = _annotate_en_zh(labelled, 4)
    assert rep.written == 8
    # the trainer's own loader reads the converted folder (what `--handwritten` points at)
    folder = tmp_path / "handwritten"
    assert set(write_training_jsonl(labelled, folder)) == {"en", "zh"}
    examples = load_handwritten(folder)
    assert len(examples) == 8 and {e.lang for e in examples} == {"en", "zh"}
    assert {(e.lang, tuple(e.relevant)) for e in examples} == {("en", (0,)), ("zh", (1,))}
    assert {e.text for e in load_examples(labelled)} == {EN, ZH}
    enc = _tiny_encoder(tmp_path / "encoder")
    run, out = tmp_path / "run", tmp_path / "model"
    cfg = TrainConfig(
        encoder_dir=str(enc), run_dir=str(run), max_length=64, batch_size=4, max_steps=3, soft_weight=0.0, threads=2
    )
    train(cfg, examples, None)
    calibrate_and_export(run, out, examples, 64)
    result = SemanticHighlighter(model=str(out), device="cpu").highlight("Where was Curie born?", EN)
    assert [s.text for s in result.sentences] == [s["text"] for s in read_jsonl(labelled)[0]["sentences"]]
    assert all(0.0 <= s.score <= 1.0 for s in result.sentences)


@pytest.mark.skipif(not (FIXTURES / "op-tiny-xlmr").is_dir(), reason="../shared/fixtures is not available")
def test_train_cli_on_annotate_output_then_fine_tune(tmp_path: Path) -> None:
    """`semantic-highlight train --train-file <annotate output>` from an encoder, then `--init-from` that model."""
    import torch
    from semantic_highlight import SemanticHighlighter
    from semantic_highlight.cli import main as front
    from semantic_highlight.models.open_provence import load_tokenizer
    from semantic_highlight.training.model import ProvenceModel

    labelled = tmp_path / "labelled.jsonl"
    _annotate_en_zh(labelled, 6)
    enc = _tiny_encoder(tmp_path / "encoder")
    common = ["--train-file", str(labelled), "--build", str(tmp_path / "build"), "--batch-size", "4"]
    first = tmp_path / "first"
    args = [*common, "--encoder", str(enc), "--out", str(first), "--max-steps", "4", "--max-length", "64"]
    assert front(["train", *args, "--run", "a", "--val-share", "0.3"]) == 0
    cfg = json.loads((first / "config.json").read_text())
    assert cfg["max_length"] == 64 and 0 < cfg["default_threshold"] < 1
    assert load_tokenizer(first)[1] == load_tokenizer(enc)[1]  # scored with the layout it was trained with
    stats = json.loads((tmp_path / "build" / "a" / "data_stats.json").read_text())
    assert stats["train:user"] + stats["val:user"] == 12 and stats["val:user"] > 0
    assert "train:tydi" not in stats  # the user's file alone, no built-in mix

    second = tmp_path / "second"
    args = [*common, "--init-from", str(first), "--out", str(second), "--epochs", "1", "--val-file", str(labelled)]
    assert front(["train", *args, "--run", "b"]) == 0
    assert json.loads((second / "config.json").read_text())["max_length"] == 64  # inherited from --init-from
    state = json.loads((tmp_path / "build" / "b" / "train_config.json").read_text())
    assert state["init_from"] == str(first) and state["max_steps"] == 3 and state["head_lr"] == state["lr"] == 2e-5
    before, after = ProvenceModel.from_pretrained(first), ProvenceModel.from_pretrained(second)
    w = "pruning_head.classifier.weight"
    assert not torch.equal(before.state_dict()[w], after.state_dict()[w])  # it trained from the first model

    # validate: both models on the split `second` was calibrated on; `second` reproduces its export's F1
    args = [*common, "--val-file", str(labelled), "--out", str(second), "--compare", str(first)]
    assert front(["train", "validate", *args, "--run", "b"]) == 0
    rows = json.loads((tmp_path / "build" / "b" / "validate.json").read_text())
    exported = json.loads((tmp_path / "build" / "b" / "validation.json").read_text())
    assert [r["model"] for r in rows] == [str(second), str(first)] and rows[0]["n"] == exported["n"]
    assert rows[0]["f1"] == pytest.approx(exported["f1"]) and rows[0]["threshold"] == exported["threshold"]
    assert all(r["best_f1"] >= r["f1"] - 1e-9 for r in rows)
    # export then validate in one call: the export's scores give `second`'s row (it is not scored twice)
    assert front(["train", "export", "validate", *args, "--run", "b"]) == 0
    assert json.loads((tmp_path / "build" / "b" / "validate.json").read_text()) == rows

    h = SemanticHighlighter(model=str(second), device="cpu")
    result = h.highlight("长城有多长？", ZH)
    zh_record = next(r for r in read_jsonl(labelled) if r["lang"] == "zh")
    assert [s.text for s in result.sentences] == [s["text"] for s in zh_record["sentences"]]


def test_train_cli_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    from semantic_highlight.cli import main as front

    for argv, message in (
        (["train"], "give --train-file"),
        (
            ["train", "--train-file", "x", "--init-from", "default", "--encoder", "e", "--out", "m"],
            "exclude each other",
        ),
        (["train", "--train-file", "x.jsonl", "--val-share", "1.5", "--out", "m"], "--val-share"),
        (["train", "--train-file", "x.jsonl", "--init-from", "default"], "--out is required"),
    ):
        with pytest.raises(SystemExit) as info:
            front(argv)
        assert info.value.code == 2 and message in capsys.readouterr().err
