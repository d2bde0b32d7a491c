"""`mathforge` command line: one entry, a sub-command group per package.

Each package owns `<package>/cli.py` with `add_commands(parser)`; those modules import nothing heavy
at module level so that `mathforge --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mathforge import __version__
from mathforge.config import ConfigError
from mathforge.log import get_logger, setup_logging

GROUPS = {
    "corpus": ("corpus.cli", "stage 1: Common Crawl -> extracted text -> fastText math score -> decontaminated Parquet"),
    "train": ("training.cli", "megatron-core training: model, HF import/export, tokenised data, pretraining"),
    "eval": ("evaluation.cli", "benchmarks (GSM8K, MATH, CMATH, ...) in CoT / PoT / tool-integrated formats"),
}

log = get_logger("mathforge")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mathforge",
        description="The DeepSeekMath recipe as software. Each command takes a TOML config "
        "(configs/tiny/ or configs/deepseekmath-7b/) and key.sub=value overrides.",
    )
    parser.add_argument("--version", action="version", version=f"mathforge {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING")
    groups = parser.add_subparsers(dest="group", metavar="{" + ",".join(["demo", *GROUPS]) + "}")
    demo = groups.add_parser("demo", help="run the whole pipeline on tiny generated data", description=(
        "Generate a tiny crawl and run every stage that exists on it, printing what each did."))
    from mathforge import demo as demo_module

    demo_module.add_arguments(demo)
    for name, (module_name, help_text) in GROUPS.items():
        sub = groups.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module_name).add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    func = getattr(args, "func", None)
    if func is None:
        parser.parse_args([*argv, "--help"])
        return 2
    try:
        return int(func(args) or 0)
    except ConfigError as exc:
        print(f"mathforge: config error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
