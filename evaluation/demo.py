"""A checkpoint folder evaluated on a tiny benchmark this code writes (`mathforge eval tiny-bench`, tests)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from evaluation.runner import EvalConfig, run_eval
from mathforge.config import load_config

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "configs" / "tiny" / "eval.toml"


def write_tiny_benchmark(root: str | Path, questions: int = 6, seed: int = 0) -> Path:
    """A folder laid out like shared/data/benchmarks with generated arithmetic questions:
    gsm8k/test.jsonl (DeepSeek's GSM8K format) and cmath/test.jsonl (CMATH's)."""
    root = Path(root)
    rng = random.Random(seed)
    gsm, cmath = [], []
    for i in range(questions):
        a, b, c = rng.randint(2, 30), rng.randint(2, 30), rng.randint(2, 9)
        gsm.append({"id": f"tiny-{i}", "question": f"Sam has {a} boxes with {c} pens each and buys {b} more pens. "
                    "How many pens does he have?", "answer": str(a * c + b), "cot": f"{a} * {c} + {b} = {a * c + b}"})
        cmath.append({"grade": 2, "question": f"小红有{a}支铅笔，又买了{b}支，一共有多少支铅笔？", "golden": str(a + b),
                      "reasoning_step": 1, "num_digits": 2})
    for name, rows in (("gsm8k", gsm), ("cmath", cmath)):
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "test.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                                encoding="utf-8")
    return root


def run_demo_stage(run_dir: Path, model_dir: Path) -> dict:
    """Evaluate the checkpoint in `model_dir` with configs/tiny/eval.toml on a generated tiny benchmark;
    report files go under run_dir. Prints and returns a summary."""
    run_dir = Path(run_dir)
    data_root = write_tiny_benchmark(run_dir / "tiny_benchmarks")
    cfg = load_config(EvalConfig, TINY_CONFIG, [
        f"model={str(model_dir)!r}", f"run_dir={str(run_dir)!r}", f"data.root={str(data_root)!r}"])
    results = run_eval(cfg)
    summary = {
        "model": str(model_dir),
        "results": {k: {"questions": v["questions"], "samples": v["samples"],
                        "accuracy": v["accuracy_first_sample"], "pass@k": v["pass_at_k"], "maj@k": v["maj_at_k"]}
                    for k, v in results["benchmarks"].items()},
        "sandbox_isolation": results["sandbox_isolation"],
        "files": results["files"],
    }
    print("evaluation stage:")
    for key, value in summary.items():
        print(f"  {key}: {value}")
    return summary
