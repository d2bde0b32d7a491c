"""`mathforge demo`: the whole DeepSeekMath recipe on tiny data it generates itself, in one command.

crawl -> recall rounds (dedup, DuckDB domain statistics, URL annotation) -> decontaminated Parquet ->
tokenizer -> pretraining -> SFT data + SFT -> outcome reward model -> GRPO -> held-out evaluation after
pretraining, SFT and GRPO -> a table and RUN_DIR/report/. Each stage is the stage's own command on
the config `--config` points it to (`mathforge.demo_stages`); rerunning resumes (`mathforge.demo_runner`).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from mathforge.io import atomic_write_text

DEFAULT_CONFIG = "configs/tiny/demo.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="run folder (default runs/demo)")
    parser.add_argument("--config", type=Path, default=None, help=f"demo config (default {DEFAULT_CONFIG})")
    parser.add_argument("--executor", choices=["local", "slurm"], default=None,
                        help="run the stages here or on Slurm (default: the config's `executor`)")
    parser.add_argument("--redo", metavar="STAGE", default=None, help="forget STAGE and every later one, then run")
    parser.add_argument("--until", metavar="STAGE", default=None, help="stop after STAGE (a rerun continues)")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="override a demo config value")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mathforge.config import load_config
    from mathforge.demo_config import DemoConfig, resolve
    from mathforge.demo_report import terminal_table, write_report
    from mathforge.demo_runner import redo_from, run_all
    from mathforge.demo_stages import DemoPlan, StageFailed

    config = resolve(args.config or DEFAULT_CONFIG)
    overrides = [*args.overrides, *([f"executor='{args.executor}'"] if args.executor else [])]
    cfg = load_config(DemoConfig, config, overrides)
    plan = DemoPlan(cfg, args.out, config, overrides)
    plan.root.mkdir(parents=True, exist_ok=True)
    if args.redo:
        redo_from(plan, args.redo)
    print(f"mathforge demo: {len(plan.stages())} stages into {plan.root} (config {config}, {cfg.executor}); "
          "each stage's log is under logs/, a rerun resumes")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds through the runner: it stops the command
    try:
        markers = run_all(plan, args.until)
    except StageFailed as exc:
        print(f"mathforge demo: {exc}")
        return 1
    report = write_report(plan.root, markers)
    atomic_write_text(plan.root / "demo_summary.json", json.dumps(markers, indent=2, ensure_ascii=False) + "\n")
    print("\n" + terminal_table(markers))
    print(f"\nreport: {report}")
    return 0
