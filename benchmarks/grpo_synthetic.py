"""The CPU GRPO experiment on the synthetic task (generated data): warm-up SFT of a tiny Llama, held-out
greedy accuracy / Pass@K / Maj@K, GRPO with the rule-based reward, the same evaluation again.

    .venv/bin/python benchmarks/grpo_synthetic.py runs/grpo-synthetic [--grpo-steps 30] [--lr 2e-4]

Every stage is skipped when its output is already in the folder (rerun to resume or re-evaluate).
The held-out questions are `training.sft.synthetic.heldout_split`'s test stream (never trained on).
Prints one table; the paper's finding to compare with: RL lifts Maj@K more than Pass@K.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from mathforge.config import load_config
    from mathforge.log import setup_logging
    from training.rl.experiment import WarmupConfig, evaluate_policy, warm_up
    from training.rl.grpo import GRPOConfig, grpo
    from training.rl.prompts import synthetic_items

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--sft-steps", type=int, default=300)
    parser.add_argument("--grpo-steps", type=int, default=30)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--heldout", type=int, default=100)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    setup_logging()
    folder = args.folder
    sft_hf = folder / "sft" / "hf"
    if not (sft_hf / "model.safetensors").is_file():
        warm_up(folder, seed=args.seed, cfg=WarmupConfig(steps=args.sft_steps))
    grpo_dir = folder / "grpo"
    if not (grpo_dir / "hf" / "model.safetensors").is_file():
        cfg = load_config(GRPOConfig, REPO / "configs/tiny/grpo.toml", [
            f'train.init_from_hf="{sft_hf}"', f'train.run_dir="{grpo_dir}"', f"train.total_steps={args.grpo_steps}",
            f"train.lr={args.lr}", "train.save_every=0", f"rollout.seed={args.seed}"])
        grpo(cfg)
    test = synthetic_items(2000, args.seed, 200, "test", ["en"])[: args.heldout]
    results = {}
    for name, model in (("SFT", sft_hf), ("SFT + GRPO", grpo_dir / "hf")):
        path = folder / f"eval_{name.replace(' ', '').replace('+', '_')}.json"
        if not path.is_file():
            path.write_text(json.dumps(evaluate_policy(model, test, k=args.k, seed=args.seed)))
        results[name] = json.loads(path.read_text())
    keys = list(results["SFT"])
    print(f"\nsynthetic task (generated data), {args.heldout} held-out EN questions, K={args.k} samples at T=0.7, "
          f"seed {args.seed}, GRPO {args.grpo_steps} steps lr {args.lr}")
    print(f"{'':<14}" + "".join(f"{k:>18}" for k in keys))
    for name, row in results.items():
        print(f"{name:<14}" + "".join(f"{row[k]:>18.3f}" for k in keys))


if __name__ == "__main__":
    main()
