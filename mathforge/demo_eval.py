"""`python -m mathforge.demo_eval --config DEMO_TOML --model HF_DIR --out DIR`: the demo's evaluation of one
checkpoint on the held-out synthetic split (the SFT source's test stream, never trained on).

Why one loaded model for two runs: the evaluation runner (`evaluation.runner.run_eval`, with the chat
prompts, sandbox and grader that SFT and GRPO use) runs once greedy (accuracy per style) and once with
K samples at a temperature (Pass@K, Maj@K: the paper's finding is that RL lifts Maj@K more than Pass@K),
both on the same backend. Writes DIR/greedy/, DIR/sampled/ (the runner's files) and DIR/summary.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mathforge.config import load_config
from mathforge.demo_config import DemoConfig, EvalDemoConfig
from mathforge.io import atomic_write_text


def evaluate_checkpoint(model: Path, items: list, out: Path, cfg: EvalDemoConfig) -> dict[str, Any]:
    """Greedy accuracy per style and Pass@K / Maj@K per sampled style, pooled over languages."""
    from evaluation.backends import BackendConfig, SamplingConfig, make_backend
    from evaluation.benchmarks import LOCAL_BENCHMARKS
    from evaluation.runner import DataConfig, EvalConfig, PromptConfig, run_eval
    from evaluation.sandbox import SandboxConfig
    from training.sft.heldout import write_heldout_benchmarks

    names = write_heldout_benchmarks(items[: cfg.questions], out / "benchmarks")
    backend_cfg = BackendConfig(kind=cfg.backend, batch_size=32)
    backend = make_backend(backend_cfg, str(model))

    def run(kind: str, styles: list[str], sampling: SamplingConfig) -> dict:
        eval_cfg = EvalConfig(model=str(model), run_dir=str(out / kind),
                              data=DataConfig(source="local", root=str(out / "benchmarks"), benchmarks=names),
                              prompt=PromptConfig(styles=styles, chat=True), backend=backend_cfg, sampling=sampling,
                              sandbox=SandboxConfig(workers=2))
        return run_eval(eval_cfg, backend)["benchmarks"]

    try:
        greedy = run("greedy", cfg.styles, SamplingConfig(n=1, temperature=0.0, max_new_tokens=cfg.max_new_tokens))
        sampled = run("sampled", cfg.sample_styles, SamplingConfig(
            n=cfg.samples, temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed)) \
            if cfg.sample_styles and cfg.samples > 1 else {}
    finally:
        backend.close()
        for name in names:
            LOCAL_BENCHMARKS.pop(name, None)
    return summarize(greedy, sampled, cfg.samples)


def pooled(results: dict[str, dict], style: str, metric) -> float:
    """A metric over every language's benchmark of one style, weighted by questions."""
    parts = [(r["questions"], metric(r)) for key, r in results.items() if key.endswith("/" + style)]
    total = sum(n for n, _ in parts)
    return sum(n * v for n, v in parts) / total if total else 0.0


def summarize(greedy: dict[str, dict], sampled: dict[str, dict], k: int) -> dict[str, Any]:
    styles = sorted({key.split("/")[1] for key in greedy})
    sample_styles = sorted({key.split("/")[1] for key in sampled})
    headline = {f"{s} greedy": pooled(greedy, s, lambda r: r["accuracy_first_sample"]) for s in styles}
    for s in sample_styles:
        headline[f"{s} pass@{k}"] = pooled(sampled, s, lambda r: r["pass_at_k"][str(k)])
        headline[f"{s} maj@{k}"] = pooled(sampled, s, lambda r: r["maj_at_k"][str(k)])
    questions = sum(r["questions"] for key, r in greedy.items() if key.endswith("/" + styles[0])) if styles else 0
    return {"questions": questions, "k": k, "headline": headline,
            "greedy": {key: r["accuracy_first_sample"] for key, r in greedy.items()},
            "sampled": {key: {"pass_at_k": r["pass_at_k"], "maj_at_k": r["maj_at_k"],
                              "sample_accuracy": r["accuracy_first_sample"]} for key, r in sampled.items()}}


def main(argv: list[str] | None = None) -> int:
    from mathforge.demo_stages import DemoPlan
    from mathforge.log import setup_logging

    parser = argparse.ArgumentParser(prog="python -m mathforge.demo_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="the demo config (configs/tiny/demo.toml)")
    parser.add_argument("--model", type=Path, required=True, help="Hugging Face checkpoint folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    args = parser.parse_args(argv)
    setup_logging()
    cfg = load_config(DemoConfig, args.config, args.overrides)
    plan = DemoPlan(cfg, args.out, args.config, args.overrides)
    summary = evaluate_checkpoint(args.model, plan.heldout_items(), args.out, cfg.eval)
    summary["model"] = str(args.model)
    atomic_write_text(args.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary["headline"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
