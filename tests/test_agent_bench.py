"""benchmarks/agent_loop_bench.py on two questions with the tiny fixture model: the plumbing, not the numbers."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import FIXTURES, ROOT

pytest.importorskip("langchain.agents")

TINY = FIXTURES / "op-tiny-xlmr"


def load_bench() -> ModuleType:
    path = ROOT / "benchmarks" / "agent_loop_bench.py"
    spec = importlib.util.spec_from_file_location("agent_loop_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not TINY.is_dir(), reason="../shared/fixtures is not available")
def test_agent_loop_bench_runs_both_arms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    out = tmp_path / "rows.json"
    args = ["--per-lang", "1", "--k", "2", "--model", str(TINY), "--json", str(out), "--middleware", "defaults"]
    assert bench.main(args) == 0
    rows = json.loads(out.read_text(encoding="utf-8"))
    by = {(r["lang"], r["arm"]): r for r in rows}
    assert {lang for lang, _ in by} == {"en", "zh", "all"}
    plain, pruned = by[("all", "no middleware")], by[("all", "middleware (defaults)")]
    assert plain["questions"] == pruned["questions"] == 2
    assert len(plain["turn_tokens"]) == 3  # search, search page 2, answer
    assert plain["turn_tokens"][0] == pruned["turn_tokens"][0]  # nothing to prune before the first tool call
    assert plain["turn_tokens"][0] < plain["turn_tokens"][1] < plain["turn_tokens"][2]  # context accumulates
    assert 0 < pruned["tool_tokens"] < plain["tool_tokens"]
    assert pruned["gold_reached"] <= plain["gold_reached"] <= plain["gold"]
    table = capsys.readouterr().out
    assert "| all | middleware (defaults) | 2 |" in table


def test_middleware_specs() -> None:
    bench = load_bench()
    assert bench.middleware_options("defaults") == {}
    assert bench.middleware_options("context_sentences=1, threshold=0.5") == {"context_sentences": 1, "threshold": 0.5}
    with pytest.raises(ValueError, match="bad --middleware item"):
        bench.middleware_options("colour=red")


def test_lexical_index_ranks_by_shared_terms() -> None:
    bench = load_bench()
    index = bench.LexicalIndex(
        [("a", "The harbour froze in winter."), ("b", "Stock prices rose sharply."), ("c", "长城全长两万多公里。")]
    )
    assert [pid for pid, _ in index.search("When did the harbour freeze?", 0, 1)] == ["a"]
    assert [pid for pid, _ in index.search("长城有多长", 0, 1)] == ["c"]
    assert [pid for pid, _ in index.search("stock prices", 1, 2)] == ["a", "c"]  # page 2: the rest, in order
