"""`mathforge demo`'s config (configs/tiny/demo.toml): which per-stage config each stage runs, plus overrides.

Why one file of pointers and overrides rather than numbers in code: every stage is the stage's own
command on its own tiny config (`configs/tiny/*.toml`), so the sizes, steps and learning rates a user
retunes live in TOML, and the demo's run shows the exact command to rerun any stage by hand.
The demo adds only the paths that chain the stages (run folder, tokenizer, checkpoints) and the SFT
model's shape to every stage after SFT (a reward model or policy must match the checkpoint it loads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

REPO = Path(__file__).resolve().parents[1]


@dataclass
class StageConfig:
    """One stage: its command's TOML config (relative paths: to the checkout) and `key.sub=value` overrides."""

    config: str = ""
    overrides: list[str] = field(default_factory=list)

    def path(self) -> Path:
        return resolve(self.config)


@dataclass
class PretrainDemoConfig(StageConfig):
    config: str = "configs/tiny/pretrain.toml"
    corpus_weight: float = 56.0  # the recall corpus in the mixture (the paper's 56% math share)
    # the mixture's second source, generated math: worked arithmetic documents, and worked word problems
    # (EN/ZH, stream `worked_problems_seed`, the evaluation questions left out). From the word problems a
    # tiny model learns to copy a question's numbers, which SFT needs (benchmarks/RESULTS.md, SFT round 3).
    arithmetic_documents: int = 2000
    worked_problems: int = 4000
    worked_problems_seed: int = 7
    arithmetic_weight: float = 44.0


@dataclass
class RewardDataDemoConfig:
    """Outcome-RM data: correct solutions of SFT training items and copies with one wrong step
    (`training.rl.synthetic_steps`), so the labels are known without sampling the policy."""

    items: int = 600
    wrong_per_item: int = 1
    seed: int = 0


@dataclass
class GRPODemoConfig(StageConfig):
    config: str = "configs/tiny/grpo.toml"
    outcome_rm_weight: float = 1.0  # weight of the demo's outcome RM in GRPO's reward (0: rule-based only)


@dataclass
class ProcessDemoConfig:
    """Process supervision: a PRM (`train rm` with train.kind = "process") on the same step-labelled data,
    then a second GRPO run from the SFT model rewarded per step by it. Both start from the outcome stages'
    overrides ([rm], [grpo]); these lists add to them."""

    enabled: bool = False
    rm_overrides: list[str] = field(default_factory=list)
    grpo_overrides: list[str] = field(default_factory=list)


@dataclass
class EvalDemoConfig:
    """Held-out synthetic split (never trained on): greedy accuracy per style, Pass@K / Maj@K from K samples."""

    questions: int = 100  # first N held-out items of the SFT source (both languages)
    styles: list[str] = field(default_factory=lambda: ["cot", "pot"])  # greedy
    sample_styles: list[str] = field(default_factory=lambda: ["cot"])  # K samples each
    samples: int = 8  # K
    temperature: float = 0.7
    max_new_tokens: int = 256
    backend: Literal["vllm", "hf"] = "vllm"
    seed: int = 0


@dataclass
class SlurmDemoConfig:
    """`executor = "slurm"`: corpus stages through datatrove's Slurm executor (their [executor] table),
    every other stage as an sbatch job of training/launch/pretrain.sbatch (srun + torchrun)."""

    sbatch_args: list[str] = field(default_factory=list)  # e.g. ["--partition=gpu", "--gpus-per-node=8"]
    processes_per_node: int = 1
    venv_activate: str = ".venv/bin/activate"  # for datatrove's Slurm jobs


@dataclass
class DemoConfig:
    executor: Literal["local", "slurm"] = "local"
    corpus: StageConfig = field(default_factory=lambda: StageConfig("configs/tiny/recall.toml"))
    pretrain: PretrainDemoConfig = field(default_factory=PretrainDemoConfig)
    sft: StageConfig = field(default_factory=lambda: StageConfig("configs/tiny/sft.toml"))
    rm_data: RewardDataDemoConfig = field(default_factory=RewardDataDemoConfig)
    rm: StageConfig = field(default_factory=lambda: StageConfig("configs/tiny/rm.toml"))
    grpo: GRPODemoConfig = field(default_factory=GRPODemoConfig)
    process: ProcessDemoConfig = field(default_factory=ProcessDemoConfig)
    eval: EvalDemoConfig = field(default_factory=EvalDemoConfig)
    slurm: SlurmDemoConfig = field(default_factory=SlurmDemoConfig)


def resolve(path: str | Path) -> Path:
    """A relative path as given when it exists from here, else relative to the checkout."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path.resolve()
    return REPO / path
