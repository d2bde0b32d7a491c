"""Evaluate a checkpoint on the held-out synthetic split with the evaluation package (its runner,
chat prompts, sandbox and grader), so that "before SFT" and "after SFT" are measured the same way.

The split is written as JSONL test files (one per language, the `question_answer` record format)
laid out like shared/data/benchmarks, and registered under `synthetic_en` / `synthetic_zh` in the
evaluation's local benchmark table while the evaluation runs (removed afterwards).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from evaluation.backends import BackendConfig, SamplingConfig
from evaluation.benchmarks import LOCAL_BENCHMARKS, LocalBenchmark
from evaluation.runner import DataConfig, EvalConfig, PromptConfig, run_eval
from evaluation.sandbox import SandboxConfig
from mathforge.io import atomic_write_text
from training.sft.synthetic import SyntheticItem


def write_heldout_benchmarks(items: Sequence[SyntheticItem], root: Path) -> list[str]:
    """One test file per language under `root`; returns the benchmark names (registered; the caller
    removes them from `LOCAL_BENCHMARKS`)."""
    names = []
    for lang in ("en", "zh"):
        chosen = [item for item in items if item.lang == lang]
        if not chosen:
            continue
        name = f"synthetic_{lang}"
        rows = "".join(json.dumps({"id": i.item_id, "question": i.question, "answer": i.answer}, ensure_ascii=False)
                       + "\n" for i in chosen)
        atomic_write_text(root / name / "test.jsonl", rows)
        LOCAL_BENCHMARKS[name] = LocalBenchmark(f"{name}/test.jsonl", "question_answer", lang, "value")
        names.append(name)
    return names


def evaluate_heldout(model_dir: Path, items: Sequence[SyntheticItem], run_dir: Path,
                     styles: Sequence[str] = ("cot", "pot"), max_new_tokens: int = 256) -> dict[str, float]:
    """Greedy chat-prompt accuracy per benchmark/style, e.g. {"synthetic_en/pot": 0.41, ...}."""
    names = write_heldout_benchmarks(items, run_dir / "benchmarks")
    cfg = EvalConfig(
        model=str(model_dir), run_dir=str(run_dir),
        data=DataConfig(source="local", root=str(run_dir / "benchmarks"), benchmarks=names),
        prompt=PromptConfig(styles=list(styles), chat=True),
        backend=BackendConfig(kind="hf", batch_size=32),
        sampling=SamplingConfig(n=1, temperature=0.0, max_new_tokens=max_new_tokens),
        sandbox=SandboxConfig(workers=2),
    )
    try:
        results = run_eval(cfg)
    finally:
        for name in names:
            LOCAL_BENCHMARKS.pop(name, None)
    return {key: summary["accuracy_first_sample"] for key, summary in results["benchmarks"].items()}
