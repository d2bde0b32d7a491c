"""`mathforge train grpo CONFIG`: registered by `training.cli` (heavy imports happen inside the command)."""

from __future__ import annotations

from mathforge.config import add_config_arguments


def add_grpo_command(commands) -> None:
    grpo = commands.add_parser(
        "grpo", help="GRPO from an SFT/HF checkpoint with vLLM rollouts and the rule-based reward (resumes)",
        description="Group Relative Policy Optimization (DeepSeekMath): per step, rollout.group_size samples for "
        "each of train.outputs_per_step / group_size questions from a vLLM engine holding the current policy "
        "(weights synced in memory), graded by the evaluation grader, group-normalised advantages, the clipped "
        "objective with a k3 KL to the frozen start policy. One process, or under torchrun for TP/PP/DP.",
    )
    add_config_arguments(grpo)
    grpo.set_defaults(func=run_grpo)


def run_grpo(args) -> int:
    from mathforge.config import load_config
    from training.cli import run_stage
    from training.rl.grpo import GRPOConfig, grpo

    return run_stage(grpo, load_config(GRPOConfig, args.config, args.overrides), "GRPO")
