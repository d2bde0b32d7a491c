"""`mathforge corpus ...` commands. Nothing heavy at import time: each command imports its module when it runs."""

from __future__ import annotations

import argparse
import json

from mathforge.cli import add_config_arguments


def add_commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="{make-sample,run}")
    sample = sub.add_parser("make-sample", help="write a deterministic synthetic crawl (WARC.gz), seed set and truth",
                            description="Writes [sample] of the config: crawl/*.warc.gz, seed/seed.parquet, "
                            "truth/truth.parquet, benchmark/sample_bench.jsonl under sample.output_dir.")
    add_config_arguments(sample)
    sample.set_defaults(func=make_sample)
    run = sub.add_parser("run", help="extract -> fastText round -> score/select -> decontaminate -> Parquet",
                         description="Runs the corpus stage with the config's executor (local or slurm); "
                         "rerunning after a crash resumes and gives the same output.")
    add_config_arguments(run)
    run.set_defaults(func=run_corpus)


def _config(args: argparse.Namespace):
    from corpus.config import CorpusRunConfig
    from mathforge.config import load_config

    return load_config(CorpusRunConfig, args.config, args.overrides)


def make_sample(args: argparse.Namespace) -> int:
    from corpus.sample_crawl import make_sample as make

    print(json.dumps(make(_config(args).sample), indent=2))
    return 0


def run_corpus(args: argparse.Namespace) -> int:
    from corpus.pipeline import run_corpus as run

    summary = run(_config(args))
    print(json.dumps({k: v for k, v in summary.items() if k != "stages"}, indent=2, ensure_ascii=False))
    return 0
