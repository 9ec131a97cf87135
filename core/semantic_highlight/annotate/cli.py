"""semantic-highlight annotate: label (query, passage) pairs with an LLM into training JSONL.

Examples::

    semantic-highlight annotate --input pairs.jsonl --base-url http://localhost:8000/v1 \\
        --model Qwen/Qwen2.5-7B-Instruct --out labelled.jsonl
    semantic-highlight annotate --input passages.jsonl --generate-queries --base-url ... --model ... --out gen.jsonl
    semantic-highlight annotate --to-training labelled.jsonl gen.jsonl --out training_data/llm
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="semantic-highlight annotate",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    p.add_argument("--input", help="JSONL: {query, context|sentences}, or {context|sentences} with --generate-queries")
    p.add_argument(
        "--out",
        required=True,
        help="output JSONL (appended to; re-runs skip done items); with --to-training: the output folder",
    )
    p.add_argument("--base-url", help="OpenAI-compatible API root, e.g. http://localhost:8000/v1")
    p.add_argument("--model", help="model name sent to the endpoint and recorded in each sample")
    p.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="environment variable holding the API key (default OPENAI_API_KEY; unset: no key sent)",
    )
    p.add_argument("--concurrency", type=int, default=4, help="parallel requests (default 4)")
    p.add_argument("--max-retries", type=int, default=3, help="retries per request on timeouts/429/5xx (default 3)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    p.add_argument("--backoff", type=float, default=1.0, help="first retry delay in seconds, doubled each retry")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--max-tokens", type=int, default=None, help="max_tokens sent with each request")
    p.add_argument("--json-mode", action="store_true", help='send response_format {"type": "json_object"}')
    p.add_argument(
        "--generate-queries",
        action="store_true",
        help="input holds passages only: the LLM writes queries (incl. paraphrased and unanswerable "
        "ones), then labels them",
    )
    p.add_argument("--queries-per-passage", type=int, default=4)
    p.add_argument("--two-pass", action="store_true", help="label twice; drop samples where the passes disagree")
    p.add_argument(
        "--second-model", default=None, help="model for the second pass (default: --model at --second-temperature)"
    )
    p.add_argument("--second-temperature", type=float, default=0.7)
    p.add_argument(
        "--no-reasoning-check",
        action="store_true",
        help="keep samples whose reasoning cites sentences that are not labelled",
    )
    p.add_argument(
        "--lang",
        choices=("auto", "en", "zh"),
        default="auto",
        help="prompt language (default: by the passage's share of CJK characters)",
    )
    p.add_argument("--prompt-dir", default=None, help="folder with your own {version}.{en,zh}.txt prompts")
    p.add_argument("--label-prompt", default="label_v1", help="label prompt version (default label_v1)")
    p.add_argument("--query-prompt", default="query_v1", help="query prompt version (default query_v1)")
    p.add_argument("--limit", type=int, default=None, help="annotate at most N new items")
    p.add_argument("--price-per-1k-input", type=float, default=0.0, help="price per 1000 input tokens")
    p.add_argument("--price-per-1k-output", type=float, default=0.0, help="price per 1000 output tokens")
    p.add_argument(
        "--to-training",
        nargs="+",
        metavar="ANNOTATED",
        default=None,
        help="instead of annotating: convert annotated files into the trainer's JSONL folder --out",
    )
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns 0 on success, 1 if some items failed after retries, 2 on usage errors."""
    p = build_parser()
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if a.quiet else logging.INFO, format="%(asctime)s %(message)s")
    if a.to_training:
        from .convert import write_training_jsonl

        files = write_training_jsonl(a.to_training, a.out)
        for lang, path in sorted(files.items()):
            print(f"{lang}: {path}")
        print(
            f"train with: semantic-highlight train {' '.join(f'--train-file {f}' for _, f in sorted(files.items()))}"
            " --init-from default --out my-model"
        )
        return 0
    missing = [f"--{n.replace('_', '-')}" for n in ("input", "base_url", "model") if not getattr(a, n)]
    if missing:
        p.error(f"the following arguments are required: {', '.join(missing)}")
    from .llm import OpenAICompatibleBackend
    from .pipeline import AnnotateConfig, annotate_file

    extra: dict[str, object] = {}
    if a.max_tokens:
        extra["max_tokens"] = a.max_tokens
    if a.json_mode:
        extra["response_format"] = {"type": "json_object"}

    def backend(model: str) -> OpenAICompatibleBackend:
        return OpenAICompatibleBackend(
            a.base_url,
            model,
            api_key=os.environ.get(a.api_key_env) or None,
            timeout=a.timeout,
            max_retries=a.max_retries,
            backoff_base=a.backoff,
            max_concurrency=a.concurrency,
            extra_body=extra,
        )

    cfg = AnnotateConfig(
        generate_queries=a.generate_queries,
        queries_per_passage=a.queries_per_passage,
        two_pass=a.two_pass,
        check_reasoning=not a.no_reasoning_check,
        concurrency=a.concurrency,
        lang=a.lang,
        temperature=a.temperature,
        second_temperature=a.second_temperature,
        label_prompt=a.label_prompt,
        query_prompt=a.query_prompt,
        prompt_dir=a.prompt_dir,
        limit=a.limit,
    )
    try:
        report = annotate_file(
            a.input,
            a.out,
            backend(a.model),
            config=cfg,
            second_backend=backend(a.second_model) if a.second_model else None,
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"semantic-highlight annotate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: finished items are in {a.out}; run the same command again to resume", file=sys.stderr)
        return 130
    print(report.summary(a.price_per_1k_input, a.price_per_1k_output))
    print(f"output: {a.out} (filtered samples: {a.out}.rejected.jsonl)")
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
