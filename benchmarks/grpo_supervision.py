"""GRPO on the synthetic task on CPU (generated data): outcome against process supervision from the same
SFT start, per GRPO seed. Held-out greedy accuracy, Pass@K and Maj@K before and after, and the training
accuracy of the first and last 10 GRPO steps.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/grpo_supervision.py runs/grpo-supervision \\
        [--data-seeds 0] [--seeds 0 1] [--arms rule prm] [--sft-steps 1500] [--grpo-steps 60] [--lr 5e-5]
        [--start runs/sft-gain/sft/hf --style pot --langs en zh] [--grpo-set 'advantage.std="none"']

`--start`: an SFT export to start from instead of the warm-up (e.g. `benchmarks/sft_gain.py`'s, which
writes programs); its config.json gives every model's shape. `--style pot`: GRPO's prompts and the
held-out evaluation in program-of-thought form, rewarded by what the program prints (sandbox).

Per data seed d (folder `data{d}/`):
1. `warmup/`: the warm-up SFT (`training.rl.experiment.warm_up`) on the first `--sft-questions`
   training questions of data seed d: the common start of every arm and GRPO seed (GRPO draws from the
   first `--grpo-questions` of the same stream, most of them unseen in the warm-up);
2. `rm-process/` (arms prm, rule+prm) or `rm-outcome/` (arms orm, rule+orm): a reward model trained from the
   start model on correct and corrupted solutions in `--style` of `--rm-questions` training questions
   (`train_synthetic_reward_model`; PoT: a mis-copied constant);
3. `grpo-{arm}-seed{s}/`: one GRPO run per arm and GRPO seed s (rollouts, question order) from the
   warm-up model (`configs/tiny/grpo.toml`, its `[reward]` table set by the arm): `rule` = the grader's outcome reward, `orm` = the outcome RM's score, `prm` = the process
   RM's score of every step (process advantages), `rule+orm` = the grader's reward plus the outcome RM's,
   `rule+prm` = the process RM's step scores with the grader's reward added to the last step; `orm+format`,
   `prm+format` = the RM plus the format reward (1 when the response gives an answer at all, on the last step:
   never its correctness);
4. the warm-up model and every arm evaluated on the first `--heldout` questions (`--langs`) of
   the held-out stream (never trained on; `heldout_split`): greedy, and K samples at T 0.7; each arm's change
   from the start on the same questions, with its standard error (`evaluation.metrics.paired_difference`).
Every stage is skipped when its output is already in the folder (rerun to resume or re-print).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARMS = {  # arm -> (reward-model kind or None, the [reward] overrides given the reward model's folder)
    "rule": (None, lambda rm: []),
    "orm": ("outcome", lambda rm: ["reward.rule.weight=0", "reward.outcome_rm.weight=1",
                                   f'reward.outcome_rm.path="{rm}"']),
    "prm": ("process", lambda rm: ["reward.rule.weight=0", "reward.process_rm.weight=1",
                                   f'reward.process_rm.path="{rm}"']),
    "rule+orm": ("outcome", lambda rm: ["reward.rule.weight=1", "reward.outcome_rm.weight=1",
                                        f'reward.outcome_rm.path="{rm}"']),
    "rule+prm": ("process", lambda rm: ["reward.rule.weight=1", "reward.process_rm.weight=1",
                                        f'reward.process_rm.path="{rm}"']),
    "orm+format": ("outcome", lambda rm: ["reward.rule.weight=0", "reward.format.weight=1", "reward.outcome_rm.weight=1",
                                          f'reward.outcome_rm.path="{rm}"']),
    "prm+format": ("process", lambda rm: ["reward.rule.weight=0", "reward.format.weight=1", "reward.process_rm.weight=1",
                                          f'reward.process_rm.path="{rm}"']),
}


def training_curve(metrics: Path, window: int = 10) -> dict[str, float]:
    """Mean grader accuracy and reward of the run's first and last `window` steps."""
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    records = [r for r in records if "accuracy" in r]

    def mean(rows, key):
        return sum(r[key] for r in rows) / len(rows)

    first, last = records[:window], records[-window:]
    return {"train_accuracy_first": mean(first, "accuracy"), "train_accuracy_last": mean(last, "accuracy"),
            "reward_first": mean(first, "reward_mean"), "reward_last": mean(last, "reward_mean")}


def cached_evaluation(path: Path, model: Path, items: list, k: int, seed: int, style: str) -> dict:
    """`evaluate_policy`'s result for `model`, kept in `path`; evaluated again when missing or when it
    predates the per-question results (paired changes need them)."""
    from training.rl.experiment import evaluate_policy

    if not path.is_file() or "greedy_per_question" not in json.loads(path.read_text()):
        path.write_text(json.dumps(evaluate_policy(model, items, k=k, seed=seed, style=style)))
    return json.loads(path.read_text())


def model_shape(hf_dir: Path, seq_length: int):
    """The ModelConfig of an HF export at `seq_length` (GRPO's prompt + response)."""
    from training.hf_checkpoint import model_config_from_hf

    return model_config_from_hf(json.loads((hf_dir / "config.json").read_text()), seq_length=seq_length)


def run_arm(root: Path, arm: str, seed: int, data_seed: int, sft_hf: Path, args) -> Path:
    """GRPO arm `arm` with seed `seed` (rollouts, question order, trainer) from data seed `data_seed`'s warm-up."""
    from mathforge.config import load_config
    from training.rl.experiment import train_synthetic_reward_model
    from training.rl.grpo import GRPOConfig, grpo

    kind, overrides = ARMS[arm]
    rm = None
    if kind is not None:
        rm = root / f"rm-{kind}" / "hf"
        if not (rm / "config.json").is_file():
            rm = train_synthetic_reward_model(root / f"rm-{kind}", sft_hf, kind, seed=data_seed, train_count=args.rm_questions,
                                              model=model_shape(sft_hf, args.seq_length), fmt=args.style, langs=args.langs)
    run_dir = root / f"grpo-{arm}-seed{seed}"
    if not (run_dir / "hf" / "model.safetensors").is_file():
        source = (f'[{{ name = "synthetic", kind = "synthetic", count = {args.grpo_questions}, seed = {data_seed}, '
                  f'heldout = 200, langs = {json.dumps(args.langs)} }}]')
        cfg = load_config(GRPOConfig, REPO / "configs/tiny/grpo.toml", [
            f'train.init_from_hf="{sft_hf}"', f'train.run_dir="{run_dir}"', f"train.total_steps={args.grpo_steps}",
            f"train.lr={args.lr}", "train.save_every=0", f"train.seed={seed}", f"rollout.seed={seed}",
            f"prompts.seed={seed}", f"prompts.sources={source}", f'prompts.style="{args.style}"', *overrides(rm),
            *args.grpo_set])
        cfg.model = model_shape(sft_hf, args.seq_length)
        grpo(cfg)
    return run_dir


def main() -> None:
    from evaluation.metrics import paired_difference
    from mathforge.log import setup_logging
    from training.rl.experiment import WarmupConfig, warm_up
    from training.rl.prompts import synthetic_items

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--data-seeds", type=int, nargs="+", default=[0], help="warm-up data and training seeds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="GRPO seeds from each warm-up")
    parser.add_argument("--arms", nargs="+", choices=sorted(ARMS), default=["rule", "prm"])
    parser.add_argument("--sft-steps", type=int, default=1500)
    parser.add_argument("--sft-questions", type=int, default=2000, help="training questions of the warm-up")
    parser.add_argument("--grpo-questions", type=int, default=20000,
                        help="training questions GRPO draws from (the warm-up's first, then unseen ones)")
    parser.add_argument("--grpo-steps", type=int, default=60)
    parser.add_argument("--lr", type=float, default=5e-5)  # 2e-4 and 5e-4 degrade (benchmarks/RESULTS.md)
    parser.add_argument("--heldout", type=int, default=200)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--start", type=Path, help="an SFT export to start from instead of the warm-up")
    parser.add_argument("--style", choices=["cot", "pot"], default="cot")
    parser.add_argument("--langs", nargs="+", choices=["en", "zh"], default=["en"])
    parser.add_argument("--seq-length", type=int, default=160, help="GRPO's and the RMs' prompt + response tokens")
    parser.add_argument("--rm-questions", type=int, default=1500, help="training questions of the synthetic RMs")
    parser.add_argument("--grpo-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="more overrides of every arm's GRPO config, e.g. advantage.std=\"none\"")
    args = parser.parse_args()
    setup_logging()
    rows = []
    for data_seed in args.data_seeds:
        root = args.folder / f"data{data_seed}"
        sft_hf = args.start or root / "warmup" / "sft" / "hf"
        if not (sft_hf / "model.safetensors").is_file():
            warm_up(root / "warmup", train_count=args.sft_questions, seed=data_seed,
                    cfg=WarmupConfig(steps=args.sft_steps))
        models = {"sft": ("-", "SFT", sft_hf, None)}
        for seed in args.seeds:
            for arm in args.arms:
                run_dir = run_arm(root, arm, seed, data_seed, sft_hf, args)
                models[f"{arm}-seed{seed}"] = (seed, f"SFT + GRPO ({arm})", run_dir / "hf", run_dir / "metrics.jsonl")
        test = synthetic_items(args.sft_questions, data_seed, 200, "test", args.langs)[: args.heldout]
        start_eval = None
        for key, (seed, name, model, metrics) in models.items():
            result = cached_evaluation(root / f"eval-{key}-{args.heldout}.json", model, test, args.k, data_seed,
                                       args.style)
            start_eval = start_eval or result
            row = {"data_seed": data_seed, "seed": seed, "model": name, **result}
            for metric in ("greedy", "sampled"):  # the change from the start on the same questions
                row[f"{metric}_change"], row[f"{metric}_change_se"] = paired_difference(
                    start_eval[f"{metric}_per_question"], result[f"{metric}_per_question"])
            rows.append(row | (training_curve(metrics) if metrics else {}))
    start = f"start {args.start}" if args.start else f"warm-up {args.sft_steps} steps on {args.sft_questions} questions"
    print(f"\nsynthetic task (generated data): {args.heldout} held-out {'/'.join(args.langs).upper()} questions per "
          f"data seed, {args.style}, K={args.k} samples at T=0.7; {start}; GRPO {args.grpo_steps} steps on "
          f"{args.grpo_questions} questions, lr {args.lr}, 8 questions x G 8 {' '.join(args.grpo_set)}")
    keys = ["greedy_accuracy", "sample_accuracy", f"pass@{args.k}", f"maj@{args.k}", "train_accuracy_first",
            "train_accuracy_last"]
    print(f"{'data':<6}{'seed':<6}{'model':<22}" + "".join(f"{k:>21}" for k in keys))
    for row in rows:
        print(f"{row['data_seed']:<6}{row['seed']:<6}{row['model']:<22}"
              + "".join(f"{row[k]:>21.3f}" if k in row else f"{'-':>21}" for k in keys))
    print("\nchange from the start on the same questions (mean ± standard error, the question as the unit)")
    print(f"{'data':<6}{'seed':<6}{'model':<22}{'greedy':>18}{'sampled':>18}")
    for row in rows:
        if row["seed"] != "-":
            print(f"{row['data_seed']:<6}{row['seed']:<6}{row['model']:<22}"
                  + "".join(f"{row[f'{m}_change']:>+11.3f} ± {row[f'{m}_change_se']:.3f}" for m in ("greedy", "sampled")))
    (args.folder / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
