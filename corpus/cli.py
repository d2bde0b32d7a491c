"""`mathforge corpus ...` commands. Nothing heavy at import time: each command imports its module when it runs."""

from __future__ import annotations

import argparse
import json

from mathforge.config import add_config_arguments


def add_commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="{make-sample,run,recall,domains,annotate}")
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
    add_recall_commands(sub)


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


# --- recall rounds (corpus.recall, corpus.stats, corpus.annotations) ---

def add_recall_commands(sub) -> None:
    recall = sub.add_parser("recall", help="the paper's recall rounds: dedup, fastText rounds, domain statistics, "
                            "URL annotation, seed growth; then the decontaminated corpus",
                            description="Runs [recall] of the config over the extracted cache; killed anywhere, "
                            "a rerun resumes and gives the same output.")
    add_config_arguments(recall)
    recall.set_defaults(func=run_recall)
    domains = sub.add_parser("domains", help="print math domains, per-round growth and a domain's path prefixes",
                             description="Reads RUN_DIR/stats.duckdb (written by `corpus recall`).")
    domains.add_argument("run_dir")
    domains.add_argument("--round", type=int, default=0, help="round (default: the last one)")
    domains.add_argument("--domain", default="", help="a registered domain: list its path prefixes")
    domains.add_argument("--top", type=int, default=20)
    domains.set_defaults(func=show_domains)
    annotate = sub.add_parser("annotate", help="write a starter URL annotation file from the statistics",
                              description="Math domains of a round with their path prefixes by selected fraction; "
                              "edit it, then set recall.annotations to it.")
    annotate.add_argument("run_dir")
    annotate.add_argument("--out", required=True, help="TOML file to write")
    annotate.add_argument("--round", type=int, default=0, help="round (default: the last one)")
    annotate.add_argument("--top", type=int, default=50, help="at most this many domains")
    annotate.add_argument("--min-fraction", type=float, default=0.2, help="propose prefixes this selected or more")
    annotate.set_defaults(func=write_annotation_starter)


def run_recall(args: argparse.Namespace) -> int:
    from corpus.recall import run_recall as run

    summary = run(_config(args))
    print(json.dumps({k: v for k, v in summary.items() if k not in ("rounds", "decontam_index")}, indent=2,
                     ensure_ascii=False, default=str))
    return 0


def show_domains(args: argparse.Namespace) -> int:
    from corpus.stats import open_run_stats, print_domains

    con, round_no = open_run_stats(args.run_dir, args.round)
    print_domains(con, round_no, args.domain, args.top)
    return 0


def write_annotation_starter(args: argparse.Namespace) -> int:
    from corpus.annotations import write_starter
    from corpus.stats import open_run_stats

    con, round_no = open_run_stats(args.run_dir, args.round)
    n = write_starter(con, round_no, args.out, top_domains=args.top, min_fraction=args.min_fraction)
    print(f"wrote {args.out}: {n} math domains of round {round_no}")
    return 0
