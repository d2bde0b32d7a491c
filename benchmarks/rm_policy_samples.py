"""An outcome reward model on a policy's own samples (issue 13, generated data): does it tell the policy's
right answers from its wrong ones on held-out questions?

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rm_policy_samples.py OUT --start SFT/hf [--style pot]
        [--questions 1000] [--k 4] [--lr 1e-4] [--epochs 2] [--kind process --shepherd-questions 300]
        [--rm EXISTING_RM/hf]

1. `train.jsonl`: K samples (T 1) of the policy for `--questions` synthetic training questions (EN/ZH,
   stream 0, from index 5,000 on), each labelled by GRPO's rule-based reward for `--style` (PoT: what the
   program prints in the sandbox); a solution's steps are its lines, every step carrying the verdict;
2. `test.jsonl`: the same for the 200 held-out questions (test stream, never trained on);
3. `rm/`: an outcome RM (`train_reward_model`, pointwise BCE, the policy's prompt for `--style`) from the
   policy's weights on train.jsonl; `--kind process`: a PRM (`rm-process/`) on `train-shepherd.jsonl`, the
   first `--shepherd-questions` questions' samples labelled Math-Shepherd style by the policy itself
   (`--completions` per step prefix at T 0.7, hard labels; PoT: completed programs run in the sandbox);
   or `--rm DIR`: an existing reward model (e.g. a PRM of `bench_rm.py --quality --style pot`) scored
   instead of training one;
4. prints the correct share of both sets and the RM's AUC on test.jsonl (last-step score vs verdict; for a
   PRM also its lowest step score, the "min" aggregation of process rewards).
Each stage is skipped when its output exists. `grpo_supervision.py --arms orm` uses the RM found in
`DIR/data0/rm-outcome/hf`: copy `OUT/rm/hf` there to run GRPO rewarded by it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def policy_samples(start: Path, items: list, k: int, style: str, seed: int, path: Path) -> list:
    """K labelled samples per item (cached in `path`)."""
    from training.rl.prompts import prompt_text
    from training.rl.rewards import RuleBasedReward
    from training.rl.rollout import RolloutConfig, VLLMRolloutEngine
    from training.rl.step_labels import LabelledSolution, read_labelled, write_labelled

    if path.exists():
        return read_labelled(path)
    engine = VLLMRolloutEngine(RolloutConfig(group_size=k, max_new_tokens=96, temperature=1.0, seed=seed), str(start))
    grader = RuleBasedReward(style=style)
    try:
        rollouts = engine.generate(items, [prompt_text(i, style) for i in items], step=0)
        verdicts = grader.correct(rollouts)
    finally:
        grader.close()
        engine.close()
    solutions = []
    for n, (rollout, ok) in enumerate(zip(rollouts, verdicts, strict=True)):
        steps = tuple(line for line in rollout.response.strip().split("\n") if line.strip()) or ("(empty)",)
        solutions.append(LabelledSolution(rollout.item.question, steps, (1.0 if ok else 0.0,) * len(steps),
                                          rollout.item.answer, f"{rollout.item.item_id}/{n}"))
    write_labelled(path, solutions)
    return solutions


def shepherd_labels(start: Path, samples: list, style: str, completions: int, path: Path) -> list:
    """Math-Shepherd hard labels of `samples` with the policy completing each step prefix (cached in `path`)."""
    from evaluation.backends import BackendConfig
    from evaluation.benchmarks import BenchmarkItem
    from evaluation.grading import Grader
    from evaluation.sandbox import SandboxPool
    from training.rl.math_shepherd import ShepherdConfig, label_solutions, make_labelling_backend
    from training.rl.step_labels import read_labelled, write_labelled

    if path.exists():
        return read_labelled(path)
    cfg = ShepherdConfig(completions=completions, temperature=0.7, max_new_tokens=96, prompt=style, style=style, seed=13)
    backend = make_labelling_backend(BackendConfig(kind="vllm", max_model_len=256), str(start), cfg)
    grader, sandbox = Grader(), SandboxPool() if style == "pot" else None
    try:
        labelled, stats = label_solutions([(BenchmarkItem("policy", s.source, s.question, s.answer), list(s.steps))
                                           for s in samples], backend, cfg, grader, sandbox)
    finally:
        grader.close()
        backend.close()
        if sandbox is not None:
            sandbox.close()
    print(f"Math-Shepherd ({style}): {stats.steps} steps of {stats.solutions} samples, {stats.completions} completions "
          f"in {stats.seconds:.0f} s ({stats.steps_per_s:.1f} steps/s)")
    write_labelled(path, labelled)
    return labelled


def main() -> None:
    from training.hf_checkpoint import model_config_from_hf
    from training.reward_model import reward_model_reading
    from training.reward_training import (
        RewardDataConfig,
        RewardModelConfig,
        RewardTrainConfig,
        encode,
        train_reward_model,
    )
    from training.rl.model_rewards import RewardScorer
    from training.rl.prompts import synthetic_items
    from training.rl.rm_eval import auc, group_auc
    from training.tokenizer import load_tokenizer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--start", type=Path, required=True, help="the policy: an SFT (HF) export")
    parser.add_argument("--style", choices=["cot", "pot"], default="pot")
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--rm", type=Path, help="score this reward model (HF export) instead of training one")
    parser.add_argument("--kind", choices=["outcome", "process"], default="outcome")
    parser.add_argument("--shepherd-questions", type=int, default=300, help="--kind process: questions labelled")
    parser.add_argument("--completions", type=int, default=4, help="--kind process: completions per step prefix")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    train_items = synthetic_items(5000 + args.questions, 0, 200, "train", ["en", "zh"])[5000:]
    train = policy_samples(args.start, train_items, args.k, args.style, 11, out / "train.jsonl")
    test = policy_samples(args.start, synthetic_items(0, 0, 200, "test", ["en", "zh"]), args.k, args.style, 12,
                          out / "test.jsonl")
    run_dir = out / ("rm" if args.kind == "outcome" else "rm-process")
    hf = args.rm or run_dir / "hf"
    if not (hf / "config.json").is_file():
        data = train
        if args.kind == "process":
            data = shepherd_labels(args.start, train[: args.shepherd_questions * args.k], args.style, args.completions,
                                   out / "train-shepherd.jsonl")
        model = model_config_from_hf(json.loads((args.start / "config.json").read_text()), seq_length=256)
        cfg = RewardModelConfig(model=model, data=RewardDataConfig(tokenizer_dir=args.start, prompt=args.style),
                                train=RewardTrainConfig(run_dir=run_dir, kind=args.kind, epochs=args.epochs,
                                                        global_batch=32, micro_batch_size=32, lr=args.lr,
                                                        warmup_steps=10, init_from_hf=args.start, save_every=0))
        cfg.optimizer.weight_decay = 0.0
        hf = Path(train_reward_model(cfg, data)["hf"])
    tokenizer = load_tokenizer(args.start)
    reading = reward_model_reading(hf)
    examples = [encode(tokenizer, s, "\n", "process", reading.get("prompt", "plain")) for s in test]
    scorer = RewardScorer(hf)
    scores = scorer.position_scores([ids for ids, _, _ in examples])
    scorer.close()
    last = [float(sc[ends[-1]]) for sc, (_, ends, _) in zip(scores, examples, strict=True)]
    lowest = [float(sc[ends].min()) for sc, (_, ends, _) in zip(scores, examples, strict=True)]
    correct = [s.labels[-1] > 0.5 for s in test]
    questions = [s.question for s in test]
    share = {name: sum(s.labels[-1] for s in data) / len(data) for name, data in (("train", train), ("test", test))}
    trained = f"{args.kind} RM lr {args.lr}, {args.epochs} epochs" if args.rm is None else f"{reading.get('kind')} RM {hf}"
    print(f"{args.style}: {len(train)} training / {len(test)} held-out samples of {args.start} (correct "
          f"{share['train']:.3f} / {share['test']:.3f}); {trained}: held-out AUC {auc(last, correct):.3f} "
          f"(last step), {auc(lowest, correct):.3f} (lowest step); within a question {group_auc(last, correct, questions):.3f} "
          f"(last step), {group_auc(lowest, correct, questions):.3f} (lowest step)")


if __name__ == "__main__":
    main()
