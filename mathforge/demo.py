"""`mathforge demo`: the whole pipeline on tiny data it generates itself, each stage reading the last one's run dir.

crawl -> corpus (extract, fastText score, decontaminate, Parquet) -> tokenizer + pretraining (megatron-core,
CPU) -> HF export -> evaluation (vLLM CPU build). Stages live in their packages (`*/demo.py`); this only
chains them and reports.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from mathforge.io import atomic_write_text
from mathforge.log import get_logger

log = get_logger("mathforge.demo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="run folder (default runs/demo)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from corpus.demo import run_demo_stage as corpus_stage
    from evaluation.demo import run_demo_stage as eval_stage
    from training.demo import run_demo_stage as train_stage

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}

    def stage(name: str, fn: Any, *fn_args: Any) -> dict[str, Any]:
        log.info("demo: stage %s starts", name)
        start = time.perf_counter()
        result = fn(*fn_args)
        result["seconds"] = round(time.perf_counter() - start, 1)
        summary[name] = result
        log.info("demo: stage %s done in %.1f s", name, result["seconds"])
        return result

    corpus = stage("corpus", corpus_stage, out / "corpus")
    train = stage("train", train_stage, out / "train", Path(corpus["output_dir"]))
    stage("eval", eval_stage, out / "eval", Path(train["hf_dir"]))

    atomic_write_text(out / "demo_summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    print(f"\nmathforge demo finished; every stage's outputs are under {out}/")
    for name, result in summary.items():
        shown = {k: v for k, v in result.items() if not isinstance(v, dict | list)}
        print(f"  {name:<7} " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    return 0
