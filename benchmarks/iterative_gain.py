"""Iterative RL on the synthetic task on CPU (generated data): what retraining the reward model on the
policy's own samples does, against one round rewarded by the first reward model throughout.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/iterative_gain.py runs/iterative-gain \\
        --start runs/sft-gain/sft/hf --rm runs/rm-policy/rm --data runs/rm-policy/train.jsonl \\
        [--kind outcome] [--rounds 3] [--steps-per-round 20] [--seeds 0 1] [--lr 5e-5] [--style pot]

`--rm`: a `mathforge train rm` run folder (e.g. `benchmarks/rm_policy_samples.py`'s `rm/`), the reward
model of round 0, trained on `--data` (the first replay pool). Per seed s, `seed{s}/` holds one
`mathforge train grpo-iterative` run (`configs/tiny/grpo_iterative.toml`): `--rounds` rounds of
`--steps-per-round` GRPO steps, each followed by `--questions` x `--samples` samples of the new policy,
graded (outcome) or Math-Shepherd labelled (process), and the reward model retrained from the current
one on them plus `--replay` of all earlier data; the next round starts from, and sets its reference to,
the new policy. The start and every round's policy are evaluated on the first `--heldout` questions of
the held-out stream (greedy, and K samples at T 0.7). The one-round comparison with the same start,
reward model and total steps is `benchmarks/grpo_supervision.py --grpo-steps rounds x steps`.
Finished rounds and evaluations are kept: rerun to resume or re-print.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    from benchmarks.grpo_supervision import cached_evaluation, model_shape, training_curve
    from mathforge.config import load_config
    from mathforge.log import setup_logging
    from training.rl.iterative import IterativeRLConfig, iterative_rl, round_dir
    from training.rl.prompts import synthetic_items

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--start", type=Path, required=True, help="the SFT export every seed starts from")
    parser.add_argument("--rm", type=Path, required=True, help="round 0's reward model: a `train rm` run folder")
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="its training data (replay pool)")
    parser.add_argument("--kind", choices=["outcome", "process"], default="outcome")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps-per-round", type=int, default=20)
    parser.add_argument("--questions", type=int, default=250, help="training questions sampled per round")
    parser.add_argument("--samples", type=int, default=4, help="samples per question per round")
    parser.add_argument("--replay", type=float, default=0.1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--rm-lr", type=float, default=1e-4)
    parser.add_argument("--style", choices=["cot", "pot"], default="pot")
    parser.add_argument("--langs", nargs="+", choices=["en", "zh"], default=["en", "zh"])
    parser.add_argument("--seq-length", type=int, default=256)
    parser.add_argument("--heldout", type=int, default=200)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="more config overrides")
    args = parser.parse_args()
    setup_logging()
    start, rm = args.start.resolve(), args.rm.resolve()
    source = (f'[{{ name = "synthetic", kind = "synthetic", count = 20000, seed = 0, heldout = 200, '
              f'langs = {json.dumps(args.langs)} }}]')
    test = synthetic_items(2000, 0, 200, "test", args.langs)[: args.heldout]
    args.folder.mkdir(parents=True, exist_ok=True)
    rows = [{"seed": "-", "round": "start",
             **cached_evaluation(args.folder / f"eval-sft-{args.heldout}.json", start, test, args.k, 0, args.style)}]
    for seed in args.seeds:
        cfg = load_config(IterativeRLConfig, REPO / "configs/tiny/grpo_iterative.toml", [
            f'iterative.run_dir="{(args.folder / f"seed{seed}").resolve()}"', f"iterative.rounds={args.rounds}",
            f"iterative.grpo_steps_per_round={args.steps_per_round}", f'iterative.initial_reward_model="{rm}"',
            f"iterative.initial_data={json.dumps([str(p.resolve()) for p in args.data])}",
            f"iterative.questions={args.questions}", f"iterative.samples_per_question={args.samples}",
            f"iterative.replay_fraction={args.replay}", f"iterative.seed={seed}",
            f'iterative.reward_kind="{args.kind}"', f'iterative.shepherd.style="{args.style}"',
            f"iterative.backend.max_model_len={args.seq_length}",
            f'grpo.train.init_from_hf="{start}"', f"grpo.train.lr={args.lr}", f"grpo.train.seed={seed}",
            "grpo.train.save_every=0", "grpo.train.micro_batch_size=32", f"grpo.rollout.seed={seed}",
            f"grpo.prompts.seed={seed}", f"grpo.prompts.sources={source}", f'grpo.prompts.style="{args.style}"',
            f'rm.data.tokenizer_dir="{start}"', f'rm.data.prompt="{args.style}"', f'rm.train.kind="{args.kind}"',
            f"rm.train.lr={args.rm_lr}", "rm.train.micro_batch_size=32", *args.set])
        cfg.grpo.model = cfg.rm.model = model_shape(start, args.seq_length)
        iterative_rl(cfg)
        for r in range(args.rounds):
            folder = round_dir(cfg, r)
            result = cached_evaluation(folder / f"eval-{args.heldout}.json", folder / "grpo" / "hf", test, args.k, 0,
                                       args.style)
            data = json.loads((folder / "rm_data.json").read_text())
            rows.append({"seed": seed, "round": r, **result,
                         **training_curve(folder / "grpo" / "metrics.jsonl"),
                         "new": data["new"], "replayed": data["replayed"]})
    print(f"\nsynthetic task (generated data): {args.heldout} held-out {'/'.join(args.langs).upper()} questions, "
          f"{args.style}, K={args.k} at T=0.7; start {args.start}; {args.kind} RM {args.rm}; {args.rounds} rounds x "
          f"{args.steps_per_round} GRPO steps, lr {args.lr}; per round {args.questions} x {args.samples} new samples, "
          f"replay {args.replay}")
    keys = ["greedy_accuracy", "sample_accuracy", f"pass@{args.k}", f"maj@{args.k}", "train_accuracy_first",
            "train_accuracy_last", "new", "replayed"]
    print(f"{'seed':<6}{'round':<7}" + "".join(f"{k:>21}" for k in keys))
    for row in rows:
        print(f"{row['seed']!s:<6}{row['round']!s:<7}"
              + "".join(f"{row[k]:>21.3f}" if k in row else f"{'-':>21}" for k in keys))
    (args.folder / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
