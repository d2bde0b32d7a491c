"""`mathforge train rm | prm-label | grpo-iterative`: the reward-model commands (registered by
`training.cli`; heavy imports happen inside the commands)."""

from __future__ import annotations

import json

from mathforge.config import add_config_arguments


def add_reward_commands(commands) -> None:
    rm = commands.add_parser(
        "rm", help="train an outcome or process reward model (scalar head; resumes if checkpointed)",
        description="Reward model on the megatron GPT from train.init_from_checkpoint / train.init_from_hf (an SFT "
        "or pretrained model): pointwise BCE or pairwise Bradley-Terry on data.train_files (step-label JSONL: ours, "
        "PRM800K or Math-Shepherd). Exports a LlamaForSequenceClassification folder to <train.run_dir>/hf.",
    )
    add_config_arguments(rm)
    rm.set_defaults(func=run_rm)
    label = commands.add_parser(
        "prm-label", help="Math-Shepherd step labels: sample N completions per step prefix and grade them",
        description="For every step prefix of every solution in `input`, sample shepherd.completions completions "
        "from `model` (vLLM or HF backend) and label the step hard (any reaches the gold answer) or soft (the "
        "share that does). Writes our step-label JSONL to `output` and throughput to <output>.stats.json.",
    )
    add_config_arguments(label)
    label.set_defaults(func=run_prm_label)
    iterative = commands.add_parser(
        "grpo-iterative", help="iterative RL: rounds of GRPO -> new samples -> reward model retrained (resumes)",
        description="Each round: GRPO from the current policy rewarded by the current reward model, samples of "
        "the new policy labelled (outcome grader or Math-Shepherd), the reward model retrained on them plus "
        "iterative.replay_fraction of all historical data; the next round's GRPO starts (and sets its reference) "
        "at the new policy. Rounds, data, reward models and policies are kept under iterative.run_dir.",
    )
    add_config_arguments(iterative)
    iterative.set_defaults(func=run_grpo_iterative)


def run_rm(args) -> int:
    from mathforge.config import load_config
    from training.cli import run_stage
    from training.reward_training import RewardModelConfig, train_reward_model

    return run_stage(train_reward_model, load_config(RewardModelConfig, args.config, args.overrides),
                     "reward-model training")


def run_prm_label(args) -> int:
    from dataclasses import asdict

    from mathforge.config import load_config
    from training.rl.math_shepherd import ShepherdRunConfig, run_labelling

    cfg = load_config(ShepherdRunConfig, args.config, args.overrides)
    stats = run_labelling(cfg)
    print(json.dumps(asdict(stats) | {"steps_per_s": stats.steps_per_s, "output": str(cfg.output)}, indent=2))
    return 0


def run_grpo_iterative(args) -> int:
    from mathforge.config import load_config
    from training.cli import run_stage
    from training.rl.iterative import IterativeRLConfig, iterative_rl

    return run_stage(iterative_rl, load_config(IterativeRLConfig, args.config, args.overrides), "iterative RL")
