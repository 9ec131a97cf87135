"""Agent-loop benchmark: how many tokens reach the model with and without ``SemanticHighlightMiddleware``,
and how many gold sentences still reach it.

A scripted LangChain agent (``create_agent`` with a fake chat model playing a fixed tool-call plan) answers
questions from our out-of-domain sets (``benchmarks/data/wikitext2_ood_en.jsonl``,
``thucnews_ood_zh.jsonl``; answerable cases only, spread evenly over each file) over a ``search`` tool:
a lexical retriever over every passage of both sets (stemmed English words, Chinese bigrams; the
``keyword`` baseline's terms), returning ``--k`` passages per page the way ``create_retriever_tool`` does
(passages joined by blank lines, the documents as the artifact). The plan for every question:

    turn 1  search(query=<question>)            turn 2  search(query=<question>, page=2)
    turn 3  answer

Per turn we count the tokens of every message the model is sent (message text plus tool-call arguments),
with the highlighting model's tokenizer, once with no middleware and once per ``--middleware`` arm (by
default: the middleware at its defaults, and with one context sentence around each kept one); a gold
sentence "reaches the model" when its text is inside a tool message of the last turn.
``kept`` is the share of tool-output tokens left; ``of retrieved`` the share of the gold sentences the
retriever brought (the no-middleware row) that still reach the model with the middleware.

    python benchmarks/agent_loop_bench.py [--per-lang 20] [--k 3] [--model default] [--json out.json]
        [--middleware defaults --middleware context_sentences=1]   # the arms (middleware settings) to compare
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.documents import Document  # at module level: the tool's annotations are resolved here
from langchain_core.tools import tool

DATA = Path(__file__).resolve().parent / "data"
SETS = {"en": DATA / "wikitext2_ood_en.jsonl", "zh": DATA / "thucnews_ood_zh.jsonl"}
SYSTEM = "Answer the user's question from the search results. Search before answering."


@dataclass
class Question:
    id: str
    lang: str
    query: str
    gold: list[str]
    """Text of each gold sentence (stripped)."""


@dataclass
class Run:
    """One question through the agent: tokens of the model's input per turn, gold sentences reaching it."""

    question: Question
    turn_tokens: list[int]
    turn_chars: list[int]
    tool_tokens: int
    gold_reached: int
    seconds: float


@dataclass
class Arm:
    name: str
    runs: list[Run] = field(default_factory=list)


def pick_questions(per_lang: int) -> tuple[list[Question], list[tuple[str, str]]]:
    """``per_lang`` answerable cases per set, evenly spaced; and the corpus: every distinct passage (id, text)."""
    from semantic_highlight.datasets.jsonl import load_jsonl

    questions: list[Question] = []
    corpus: dict[str, str] = {}
    for lang, path in SETS.items():
        examples = load_jsonl(path, lang=lang)
        for ex in examples:
            corpus.setdefault(ex.text, f"{lang}-{len(corpus)}")
        answerable = [ex for ex in examples if ex.relevant]
        step = max(1, len(answerable) // per_lang) if per_lang else 1
        for ex in answerable[::step][:per_lang]:
            gold = [ex.sentences[i].strip() for i in sorted(ex.relevant) if ex.sentences[i].strip()]
            questions.append(Question(ex.id, lang, ex.query, gold))
    return questions, [(pid, text) for text, pid in corpus.items()]


class LexicalIndex:
    """Passages ranked by idf-weighted overlap of query terms (the keyword baseline's terms)."""

    def __init__(self, passages: Sequence[tuple[str, str]]) -> None:
        from semantic_highlight.eval.baselines import query_terms, sentence_terms

        self.query_terms = query_terms
        self.passages = list(passages)
        self.terms = [sentence_terms(text) for _, text in self.passages]
        df = Counter(t for terms in self.terms for t in terms)
        n = len(self.passages)
        self.idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}

    def search(self, query: str, start: int, k: int) -> list[tuple[str, str]]:
        q = self.query_terms(query)
        scores = [sum(self.idf[t] for t in q & terms) for terms in self.terms]
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        return [self.passages[i] for i in order[start : start + k]]


def build_search_tool(index: LexicalIndex, k: int) -> Any:
    """A ``search(query, page)`` tool shaped like ``create_retriever_tool(..., "content_and_artifact")``."""

    @tool(response_format="content_and_artifact")
    def search(query: str, page: int = 1) -> tuple[str, list[Document]]:
        """Search the document collection; returns the best matching passages. page=2 gives the next ones."""
        hits = index.search(query, (max(page, 1) - 1) * k, k)
        docs = [Document(page_content=text, metadata={"id": pid}) for pid, text in hits]
        return "\n\n".join(d.page_content for d in docs), docs

    return search


def scripted_model(question: str, seen: list[list[Any]]) -> Any:
    """A fake tool-calling chat model playing the fixed plan; it records every input it is sent."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    class Scripted(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Scripted:
            return self

        def _generate(self, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
            seen.append(list(messages))
            return super()._generate(messages, *args, **kwargs)

    plan = [
        AIMessage("", tool_calls=[{"name": "search", "args": {"query": question}, "id": "call-1"}]),
        AIMessage("", tool_calls=[{"name": "search", "args": {"query": question, "page": 2}, "id": "call-2"}]),
        AIMessage("(answer)"),
    ]
    return Scripted(messages=iter(plan))


def message_text(message: Any) -> str:
    """What of a message reaches the model as text: its content and any tool-call arguments."""
    text = message.text if isinstance(message.text, str) else str(message.content)
    calls = getattr(message, "tool_calls", None) or []
    return text + "".join(json.dumps(c.get("args", {}), ensure_ascii=False) for c in calls)


def run_question(question: Question, tools: list[Any], middleware: list[Any], count: Callable[[str], int]) -> Run:
    from langchain.agents import create_agent
    from langchain_core.messages import HumanMessage, ToolMessage

    seen: list[list[Any]] = []
    agent = create_agent(
        model=scripted_model(question.query, seen), tools=tools, system_prompt=SYSTEM, middleware=middleware
    )
    started = time.perf_counter()
    agent.invoke({"messages": [HumanMessage(question.query)]})
    seconds = time.perf_counter() - started
    turn_tokens = [sum(count(message_text(m)) for m in turn) for turn in seen]
    turn_chars = [sum(len(message_text(m)) for m in turn) for turn in seen]
    tool_texts = [m.text for m in seen[-1] if isinstance(m, ToolMessage)]
    reached = sum(1 for g in question.gold if any(g in t for t in tool_texts))
    return Run(question, turn_tokens, turn_chars, sum(count(t) for t in tool_texts), reached, seconds)


def summarise(arms: Sequence[Arm], langs: Sequence[str]) -> list[dict[str, Any]]:
    """One row per (language, arm): mean input tokens per turn, tool tokens, gold sentences reaching the model."""
    rows: list[dict[str, Any]] = []
    for lang in [*langs, "all"]:
        for arm in arms:
            runs = [r for r in arm.runs if lang in ("all", r.question.lang)]
            if not runs:
                continue
            turns = len(runs[0].turn_tokens)
            gold = sum(len(r.question.gold) for r in runs)
            rows.append(
                {
                    "lang": lang,
                    "arm": arm.name,
                    "questions": len(runs),
                    "turn_tokens": [sum(r.turn_tokens[t] for r in runs) / len(runs) for t in range(turns)],
                    "tool_tokens": sum(r.tool_tokens for r in runs) / len(runs),
                    "gold": gold,
                    "gold_reached": sum(r.gold_reached for r in runs),
                    "seconds": sum(r.seconds for r in runs) / len(runs),
                }
            )
    return rows


def render(rows: Sequence[dict[str, Any]]) -> str:
    turns = len(rows[0]["turn_tokens"])
    turn_heads = [f"turn {t + 1} tokens" for t in range(turns)]
    head = ["lang", "arm", "n", *turn_heads, "tool tokens", "kept", "gold reaching", "of retrieved", "s/question"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["arm"] == "no middleware":
            base[row["lang"]] = row
        ref = base.get(row["lang"], row)
        kept = row["tool_tokens"] / ref["tool_tokens"] if ref["tool_tokens"] else float("nan")
        cells = [
            row["lang"],
            row["arm"],
            str(row["questions"]),
            *[f"{v:,.0f}" for v in row["turn_tokens"]],
            f"{row['tool_tokens']:,.0f}",
            f"{kept:.1%}",
            f"{row['gold_reached'] / row['gold']:.1%} ({row['gold_reached']}/{row['gold']})",
            f"{row['gold_reached'] / ref['gold_reached']:.1%}" if ref["gold_reached"] else "n/a",
            f"{row['seconds']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


_OPTION_TYPES: dict[str, Callable[[str], Any]] = {
    "threshold": float,
    "fallback_threshold": float,
    "relative_threshold": float,
    "top_k": int,
    "context_sentences": int,
    "min_chars": int,
    "on_empty": str,
}


def middleware_options(spec: str) -> dict[str, Any]:
    """``"defaults"`` -> ``{}``; ``"context_sentences=1,threshold=0.5"`` -> keyword arguments of the middleware."""
    if spec.strip() == "defaults":
        return {}
    options: dict[str, Any] = {}
    for part in spec.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in _OPTION_TYPES:
            raise ValueError(f"bad --middleware item {part!r}: use NAME=VALUE with NAME in {', '.join(_OPTION_TYPES)}")
        options[name] = _OPTION_TYPES[name](value.strip())
    return options


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--per-lang", type=int, default=20, help="questions per language (default 20: 40 in all)")
    p.add_argument("--k", type=int, default=3, help="passages per search page (default 3)")
    p.add_argument("--model", default="default", help="highlighting model (default: the embedded one)")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--middleware",
        action="append",
        default=None,
        metavar="SPEC",
        help="a middleware arm: 'defaults' or NAME=VALUE,... (threshold, context_sentences, top_k, ...); "
        "repeatable (default: 'defaults' and 'context_sentences=1')",
    )
    p.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = p.parse_args(argv)
    if args.per_lang < 1 or args.k < 1:
        p.error("--per-lang and --k must be >= 1")
    specs = args.middleware or ["defaults", "context_sentences=1"]
    try:
        configs = [(spec, middleware_options(spec)) for spec in specs]
    except ValueError as exc:
        p.error(str(exc))

    from langchain_semantic_highlight.middleware import SemanticHighlightMiddleware
    from semantic_highlight import SemanticHighlighter
    from semantic_highlight.agents import default_token_counter

    questions, corpus = pick_questions(args.per_lang)
    highlighter = SemanticHighlighter(model=args.model, device=args.device)
    count = default_token_counter(highlighter)
    tools = [build_search_tool(LexicalIndex(corpus), args.k)]
    middlewares = [SemanticHighlightMiddleware(highlighter, **options) for _, options in configs]
    arms = [Arm("no middleware"), *(Arm(f"middleware ({spec})") for spec, _ in configs)]
    started = time.perf_counter()
    for question in questions:
        arms[0].runs.append(run_question(question, tools, [], count))
        for arm, middleware in zip(arms[1:], middlewares, strict=True):
            arm.runs.append(run_question(question, tools, [middleware], count))
    rows = summarise(arms, list(SETS))
    print(
        f"{len(questions)} questions, {len(corpus)} passages, k={args.k}, model {highlighter.model.name}, "
        f"threshold {highlighter.threshold}, tokens by the model's tokenizer; {time.perf_counter() - started:.0f} s"
    )
    print(render(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
