"""Iterative RL (DeepSeekMath §4.2): rounds of GRPO -> sample from the new policy -> retrain the reward
model on the new samples plus a replay of historical data -> reset the reference -> continue.

Round r (folder `run_dir/round_{r}/`) runs three phases, each finished before the next starts:
1. `grpo/`: a GRPO run (`training.rl.grpo`) from the current policy (the SFT start in round 0, else
   round r-1's `grpo/hf`), rewarded by the current reward model (the initial one in round 0, else round
   r-1's `rm/hf`). A GRPO run's frozen reference is the policy it starts from: starting each round's
   run from the previous round's policy *is* the reference reset.
2. `samples.jsonl`: `iterative.samples_per_question` outputs of the new policy for
   `iterative.questions` training questions (vLLM), labelled for the reward model's kind: outcome
   labels from the rule-based grader (every step carries the final verdict; an outcome RM reads the
   last), process labels Math-Shepherd style (`training.rl.math_shepherd`) with the new policy as
   the completer.
3. `rm/`: the reward model trained from the current one on `rm_data.jsonl` = the new samples plus a
   random `iterative.replay_fraction` of all historical reward-model data (the initial data and every
   earlier round's new samples; the paper: 10%), drawn with a seed per round.
`state.json` records finished phases (written atomically after each): a rerun skips them, and the
GRPO and reward-model runs resume from their own checkpoints inside a phase.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from evaluation.backends import BackendConfig
from mathforge.config import ConfigError
from mathforge.io import atomic_write_text
from mathforge.log import get_logger
from training.reward_training import RewardModelConfig, train_reward_model
from training.rl.grpo import GRPOConfig, grpo
from training.rl.math_shepherd import ShepherdConfig
from training.rl.model_rewards import RewardConfig, RewardModelSourceConfig
from training.rl.step_labels import LabelledSolution, read_labelled, write_labelled

log = get_logger(__name__)
PHASES = ("grpo", "samples", "rm")


@dataclass
class IterativeConfig:
    run_dir: Path = Path("runs/grpo-iterative")
    rounds: int = 2
    grpo_steps_per_round: int = 10
    initial_reward_model: Path = Path("runs/rm")  # a `train rm` run folder (its hf/ serves, its checkpoints continue)
    initial_data: list[Path] = field(default_factory=list)  # the initial RM's training data: the first replay pool
    questions: int = 64  # training questions sampled per round for new reward-model data
    samples_per_question: int = 4
    replay_fraction: float = 0.1  # share of all historical reward-model data replayed each round
    seed: int = 0
    reward_kind: Literal["outcome", "process"] = "outcome"
    reward_transform: Literal["sigmoid", "logit"] = "sigmoid"
    rule_weight: float = 0.0  # > 0 adds the rule-based grader's reward (weighted) to the reward model's
    shepherd: ShepherdConfig = field(default_factory=ShepherdConfig)  # process labels for new samples
    backend: BackendConfig = field(default_factory=lambda: BackendConfig(kind="vllm"))  # the completer


@dataclass
class IterativeRLConfig:
    iterative: IterativeConfig = field(default_factory=IterativeConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)  # train.init_from_hf: the SFT start
    rm: RewardModelConfig = field(default_factory=RewardModelConfig)  # how each round retrains the RM


class RoundState:
    """`state.json`: the finished phases of every round."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "state.json"
        self.done: dict[str, list[str]] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def finished(self, r: int, phase: str) -> bool:
        return phase in self.done.get(str(r), [])

    def mark(self, r: int, phase: str) -> None:
        self.done.setdefault(str(r), []).append(phase)
        atomic_write_text(self.path, json.dumps(self.done, indent=2) + "\n")


def replay_sample(history: list[LabelledSolution], fraction: float, seed: int) -> list[LabelledSolution]:
    """round(fraction · |history|) historical solutions drawn without replacement (seeded)."""
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"iterative.replay_fraction {fraction} must lie in [0, 1]")
    return random.Random(seed).sample(history, round(fraction * len(history)))


def round_dir(cfg: IterativeRLConfig, r: int) -> Path:
    return cfg.iterative.run_dir / f"round_{r}"


def policy_dir(cfg: IterativeRLConfig, r: int) -> Path:
    """The HF folder of the policy round r starts from."""
    return Path(cfg.grpo.train.init_from_hf) if r == 0 else round_dir(cfg, r - 1) / "grpo" / "hf"


def reward_model_dir(cfg: IterativeRLConfig, r: int) -> Path:
    """The reward-model run folder round r's GRPO is rewarded by."""
    return cfg.iterative.initial_reward_model if r == 0 else round_dir(cfg, r - 1) / "rm"


def round_reward(cfg: IterativeRLConfig, rm_run: Path) -> RewardConfig:
    """Round r's GRPO `[reward]`: its reward model (of `iterative.reward_kind`), plus the rule-based
    grader weighted by `iterative.rule_weight` (0: the reward model alone) and the format reward as
    `grpo.reward.format` sets it."""
    it = cfg.iterative
    model = RewardModelSourceConfig(path=rm_run / "hf", kind=it.reward_kind, transform=it.reward_transform,
                                    step_delimiter=cfg.rm.data.step_delimiter)
    unused = RewardModelSourceConfig(weight=0.0)
    return RewardConfig(rule=dataclasses.replace(cfg.grpo.reward.rule, weight=it.rule_weight), format=cfg.grpo.reward.format,
                        outcome_rm=model if it.reward_kind == "outcome" else unused,
                        process_rm=model if it.reward_kind == "process" else dataclasses.replace(unused, kind="process"))


def run_grpo_phase(cfg: IterativeRLConfig, r: int) -> None:
    train = dataclasses.replace(cfg.grpo.train, run_dir=round_dir(cfg, r) / "grpo", init_from_hf=policy_dir(cfg, r),
                                init_from_checkpoint=None, total_steps=cfg.iterative.grpo_steps_per_round,
                                export_hf=True, seed=cfg.grpo.train.seed + r)
    grpo(dataclasses.replace(cfg.grpo, train=train, reward=round_reward(cfg, reward_model_dir(cfg, r))))


def run_rm_phase(cfg: IterativeRLConfig, r: int) -> dict:
    """Round r's reward model: from the current one, on the new samples + the replayed history."""
    it, folder = cfg.iterative, round_dir(cfg, r)
    history = [s for path in it.initial_data for s in read_labelled(path)]
    history += [s for k in range(r) for s in read_labelled(round_dir(cfg, k) / "samples.jsonl")]
    new = read_labelled(folder / "samples.jsonl")
    replay = replay_sample(history, it.replay_fraction, it.seed * 1000 + r)
    write_labelled(folder / "rm_data.jsonl", new + replay)
    manifest = {"new": len(new), "history": len(history), "replayed": len(replay),
                "replay_fraction": it.replay_fraction, "replayed_sources": sorted({s.source for s in replay})}
    atomic_write_text(folder / "rm_data.json", json.dumps(manifest, indent=2) + "\n")
    train = dataclasses.replace(cfg.rm.train, run_dir=folder / "rm", init_from_reward_model=reward_model_dir(cfg, r),
                                init_from_hf=None, init_from_checkpoint=None, export_hf=True)
    data = dataclasses.replace(cfg.rm.data, train_files=[folder / "rm_data.jsonl"])
    return train_reward_model(dataclasses.replace(cfg.rm, train=train, data=data), new + replay)


def iterative_rl(cfg: IterativeRLConfig, sample_phase: Callable[[IterativeRLConfig, int], list[LabelledSolution]]
                 | None = None) -> dict:
    """Run (or resume) every round; returns the rounds' folders and data counts."""
    from training.rl.iterative_samples import sample_new_policy

    if cfg.grpo.train.init_from_hf is None:
        raise ConfigError("grpo.train.init_from_hf: the SFT start (an HF folder) is required")
    if cfg.rm.train.kind != cfg.iterative.reward_kind:
        raise ConfigError(f"rm.train.kind {cfg.rm.train.kind!r} differs from iterative.reward_kind "
                          f"{cfg.iterative.reward_kind!r}")
    style, shepherd = cfg.grpo.prompts.style, cfg.iterative.shepherd
    if cfg.iterative.reward_kind == "process" and shepherd.style != style:
        raise ConfigError(f"iterative.shepherd.style {shepherd.style!r}: the policy writes grpo.prompts.style "
                          f"{style!r} solutions, and their answers must be read that way")
    sample_phase = sample_phase or sample_new_policy
    state = RoundState(cfg.iterative.run_dir)
    cfg.iterative.run_dir.mkdir(parents=True, exist_ok=True)
    summary = []
    for r in range(cfg.iterative.rounds):
        folder = round_dir(cfg, r)
        if not state.finished(r, "grpo"):
            run_grpo_phase(cfg, r)
            state.mark(r, "grpo")
        if not state.finished(r, "samples"):
            write_labelled(folder / "samples.jsonl", sample_phase(cfg, r))
            state.mark(r, "samples")
        if not state.finished(r, "rm"):
            run_rm_phase(cfg, r)
            state.mark(r, "rm")
        summary.append({"round": r, "policy": str(folder / "grpo" / "hf"), "reward_model": str(folder / "rm" / "hf"),
                        **json.loads((folder / "rm_data.json").read_text())})
    return {"run_dir": str(cfg.iterative.run_dir), "rounds": summary}
