"""`mathforge eval ...` commands. Nothing heavy at import time: each command imports its module when it runs."""

from __future__ import annotations

import argparse
import json

from mathforge.config import add_config_arguments


def add_commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="{run,tiny-model,tiny-bench}")
    run = sub.add_parser("run", help="evaluate a Hugging Face checkpoint on benchmarks (CoT / PoT / tool-integrated)",
                         description="Generates with the configured backend (hf or vllm), extracts and grades "
                         "answers, and writes results.json, report.md, samples.jsonl and pass_maj.png to run_dir.")
    add_config_arguments(run)
    run.set_defaults(func=run_command)
    tiny = sub.add_parser("tiny-model", help="write a tiny random Llama checkpoint (for trying the harness offline)")
    tiny.add_argument("output_dir")
    tiny.set_defaults(func=tiny_model_command)
    bench = sub.add_parser("tiny-bench", help="write a tiny generated benchmark folder (gsm8k and cmath formats)")
    bench.add_argument("output_dir")
    bench.set_defaults(func=tiny_bench_command)


def run_command(args: argparse.Namespace) -> int:
    from evaluation.runner import EvalConfig, run_eval
    from mathforge.config import load_config

    results = run_eval(load_config(EvalConfig, args.config, args.overrides))
    print(json.dumps({"benchmarks": results["benchmarks"], "files": results["files"]}, indent=2, ensure_ascii=False))
    return 0


def tiny_model_command(args: argparse.Namespace) -> int:
    from evaluation.tiny_model import write_tiny_llama

    print(write_tiny_llama(args.output_dir))
    return 0


def tiny_bench_command(args: argparse.Namespace) -> int:
    from evaluation.demo import write_tiny_benchmark

    print(write_tiny_benchmark(args.output_dir))
    return 0
