"""One GRPO step on CPU, broken down (weight sync, rollout, reward, reference log-probs, update), side by
side with TRL's `GRPOTrainer` on the same tiny model, questions, G, lengths and loss settings.

    .venv/bin/python benchmarks/bench_grpo.py [--model HF_DIR] [--steps 4]     (just bench-grpo)

Both sides sample `G` outputs for each of `Q` questions of the synthetic task (`training.sft.synthetic`,
English), up to `--max-new-tokens` tokens at temperature 1, score them with the same rule (the evaluation
grader on the extracted answer), and take one update per exploration stage with the paper's loss
(ε 0.2, β 0.04, per-output mean). Ours: megatron-core trainer + vLLM CPU engine; TRL 1.16: transformers
model, HF `generate` (TRL's vLLM path needs CUDA). The first step of each side is warm-up and not
counted. Default model: the tiny random Llama of `evaluation.tiny_model` (no download); pass an SFT
export (e.g. `seed0/warmup/sft/hf` of benchmarks/grpo_supervision.py) for realistic response lengths.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHASES = ("sync_seconds", "rollout_seconds", "reward_seconds", "logprob_seconds")


def ours(model: Path, run_dir: Path, args) -> list[dict]:
    from mathforge.config import load_config
    from training.rl.grpo import GRPOConfig, grpo

    vocab = json.loads((model / "config.json").read_text())["vocab_size"]
    cfg = load_config(GRPOConfig, REPO / "configs/tiny/grpo.toml", [
        f'train.init_from_hf="{model}"', f'train.run_dir="{run_dir}"', f"train.total_steps={args.steps}",
        f"model.vocab_size={vocab}", f"model.seq_length={args.seq_length}", f"rollout.group_size={args.group}",
        f"train.outputs_per_step={args.group * args.questions}", f"train.micro_batch_size={args.micro_batch}",
        f"rollout.max_new_tokens={args.max_new_tokens}", "train.save_every=0", "train.export_hf=false",
    ])
    grpo(cfg)
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def trl_worker(model: str, out: str, steps: int, questions: int, group: int, max_new_tokens: int,
               micro_batch: int) -> None:
    """TRL's GRPOTrainer on the same questions and settings; writes seconds per step and lengths."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from evaluation.answers import extract_answer
    from evaluation.grading import is_correct
    from training.rl.prompts import prompt_text, synthetic_items

    items = synthetic_items(questions * steps, 0, 200, "train", ["en"])
    data = Dataset.from_list([{"prompt": prompt_text(i, "cot"), "gold": i.answer} for i in items])

    def reward(completions, gold, **_):
        return [float(is_correct(extract_answer(c), g, "number")) for c, g in zip(completions, gold, strict=True)]

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.began = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.began)

    config = GRPOConfig(
        output_dir=str(Path(out).parent / "trl"), max_steps=steps, learning_rate=1e-5, beta=0.04, epsilon=0.2,
        loss_type="grpo", scale_rewards="group", num_generations=group, per_device_train_batch_size=micro_batch,
        gradient_accumulation_steps=questions * group // micro_batch, max_completion_length=max_new_tokens, temperature=1.0,
        use_cpu=True, bf16=False, report_to="none", logging_steps=1, save_strategy="no", seed=0,
        dataloader_num_workers=0,
    )
    trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(model), reward_funcs=reward, args=config,
                          train_dataset=data, processing_class=AutoTokenizer.from_pretrained(model),
                          callbacks=[Clock()])
    trainer.train()
    lengths = [r.get("completions/mean_length") for r in trainer.state.log_history if "completions/mean_length" in r]
    Path(out).write_text(json.dumps({"seconds": times, "response_length": lengths}))


def trl(model: Path, work: Path, args) -> dict | None:
    try:
        import trl as _trl  # noqa: F401
    except ImportError:
        print("TRL is not installed (pip install trl==1.16.0): the TRL column is left out")
        return None
    out = work / "trl.json"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from benchmarks.bench_grpo import trl_worker; "
            "trl_worker(*sys.argv[2:4], *map(int, sys.argv[4:]))")
    cmd = [sys.executable, "-c", code, str(REPO), str(model), str(out), str(args.steps), str(args.questions),
           str(args.group), str(args.max_new_tokens), str(args.micro_batch)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise RuntimeError(f"TRL run failed:\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="HF Llama folder (default: tiny random Llama)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--seq-length", type=int, default=160)
    parser.add_argument("--micro-batch", type=int, default=32, help="outputs per forward/backward, both sides")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = args.model
        if model is None:
            from evaluation.tiny_model import write_tiny_llama

            model, args.seq_length = write_tiny_llama(work / "model"), 384
        records = ours(model, work / "ours", args)[1:]
        theirs = trl(model, work, args)
    n = len(records)
    mean = {key: sum(r[key] for r in records) / n for key in ("seconds", "response_length", *PHASES)}
    update = mean["seconds"] - sum(mean[p] for p in PHASES)
    print(f"\nGRPO step on CPU: Q={args.questions} questions x G={args.group}, <= {args.max_new_tokens} new tokens, "
          f"micro-batches of {args.micro_batch}, model {model}; mean of steps 2..{args.steps}")
    print(f"{'phase':<28}{'mathforge (s)':>14}{'TRL 1.16 (s)':>14}")
    for label, key in (("weight sync", "sync_seconds"), ("rollout (vLLM CPU)", "rollout_seconds"),
                       ("reward", "reward_seconds"), ("reference log-probs", "logprob_seconds")):
        print(f"{label:<28}{mean[key]:>14.3f}{'':>14}")
    print(f"{'update (megatron-core)':<28}{update:>14.3f}{'':>14}")
    trl_step = sum(theirs["seconds"][1:]) / max(1, len(theirs["seconds"]) - 1) if theirs else float("nan")
    print(f"{'whole step':<28}{mean['seconds']:>14.3f}{trl_step:>14.3f}")
    trl_len = sum(theirs["response_length"][1:]) / max(1, len(theirs["response_length"]) - 1) if theirs else float("nan")
    print(f"{'response length (tokens)':<28}{mean['response_length']:>14.1f}{trl_len:>14.1f}")
    if theirs:
        print(f"speed-up: {trl_step / mean['seconds']:.2f}x")


if __name__ == "__main__":
    main()
