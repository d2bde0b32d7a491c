"""The GRPO stage (DeepSeekMath §4.1) on the one training loop (`training.loop`).

Each step k (one exploration stage with the default μ = 1 policy update per stage):
1. weight sync: the policy's state, gathered over TP/PP in buckets (`training.rl.weight_sync`) -> HF
   names -> the vLLM engine, in memory, checksummed per bucket (`training.rl.rollout`); at step 0 and
   after a resume this also brings the engine to the restored policy;
2. rank 0 samples G outputs for each of the step's Q questions (`training.rl.prompts`), scores them
   with the `[reward]` sources (`training.rl.model_rewards.RewardConfig`: the rule-based grader, an
   outcome and/or a process reward model, weighted) and computes advantages (`training.rl.advantages`: outcome, or process when
   the rewards are per step), then broadcasts the scored outputs to every rank;
3. every rank builds its data-parallel share of micro-batches (`training.rl.batches`) and the frozen
   reference model (the policy at the start of the run) gives log π_ref in a forward-only pass; with
   μ > 1 the policy gives log π_old the same way, before the first of its μ updates;
4. the loop's `train_step` minimises the GRPO objective (`training.rl.objective`).
The engine lives in rank 0's process (its engine core and workers are vLLM's own processes): on a GPU
node it shares the devices with the trainer (`rollout.gpu_memory_utilization`); a split placement
would give the engine its own devices through CUDA_VISIBLE_DEVICES before it starts.

Step metrics (besides the loop's loss, lr, grad norm, training tokens/s): reward mean/std (outcome:
over outputs; process: over all step rewards), accuracy (the grader's verdicts, whatever the reward
source), zero_variance_fraction, response length, truncated fraction, rollout tokens/s, and the seconds of
sync / rollout / reward / reference log-probs; from the objective pg_loss, kl, clip_fraction,
ratio_deviation, entropy, logprob_gap (engine vs trainer log-probabilities of the sampled tokens).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from evaluation.grading import GradingConfig
from evaluation.sandbox import SandboxConfig
from mathforge.config import ConfigError
from mathforge.io import atomic_path
from mathforge.log import get_logger
from training import loop
from training.metrics import METRICS_NAME, read_metrics
from training.model import ModelConfig, build_model
from training.objectives import Batch
from training.parallel import ParallelConfig
from training.rl.advantages import StdMode, outcome_advantages, process_advantages, zero_variance_groups
from training.rl.batches import Sample, micro_batches, rank_samples, step_length
from training.rl.model_rewards import RewardConfig, build_reward_source
from training.rl.objective import GRPOLossConfig, GRPOObjective
from training.rl.prompts import PromptsConfig, load_items, prompt_text, step_items
from training.rl.rewards import Reward, RewardSource, Rollout, RuleBasedReward
from training.rl.rollout import RolloutConfig, VLLMRolloutEngine, engine_dtype
from training.rl.weight_sync import hf_buckets
from training.step import OptimizerConfig

log = get_logger(__name__)


@dataclass
class GRPOTrainConfig(loop.RunConfig):
    run_dir: Path = Path("runs/grpo")
    total_steps: int = 100
    lr: float = 1e-6  # constant, as in the paper
    outputs_per_step: int = 1024  # the paper's "batch size 1024", read as sampled outputs: Q = 1024 / G questions
    micro_batch_size: int = 4  # outputs per micro-batch
    updates_per_exploration: int = 1  # μ: policy updates on one exploration stage's outputs


@dataclass
class AdvantageConfig:
    std: StdMode = "unbiased"  # unbiased (n−1, as verl/TRL), population (n), or none (no std scaling)
    eps: float = 1e-6


@dataclass
class GRPOConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(weight_decay=0.0))
    train: GRPOTrainConfig = field(default_factory=GRPOTrainConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    loss: GRPOLossConfig = field(default_factory=GRPOLossConfig)
    advantage: AdvantageConfig = field(default_factory=AdvantageConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    grading: GradingConfig = field(default_factory=GradingConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)  # runs the programs of prompts.style = "pot"


def questions_per_step(cfg: GRPOConfig) -> int:
    q, rest = divmod(cfg.train.outputs_per_step, cfg.rollout.group_size)
    if rest or q == 0:
        raise ConfigError(f"train.outputs_per_step {cfg.train.outputs_per_step} must be a positive multiple of "
                          f"rollout.group_size {cfg.rollout.group_size}")
    return q


def token_advantages(rollouts: Sequence[Rollout], rewards: Sequence[Reward], group_size: int,
                     cfg: AdvantageConfig) -> tuple[list[list[float]], dict[str, float]]:
    """Per-token advantages of every rollout (grouped q·G + i) and reward statistics."""
    steps = [r.steps is not None for r in rewards]
    if any(steps) and not all(steps):
        raise ValueError("a step's rewards must be all outcome or all per-step")
    if all(steps):
        out, flat, flat_groups = [], [], []
        for first in range(0, len(rollouts), group_size):
            group = range(first, first + group_size)
            adv = process_advantages([[e for e, _ in rewards[i].steps] for i in group],
                                     [[v for _, v in rewards[i].steps] for i in group],
                                     [len(rollouts[i].response_ids) for i in group], cfg.std, cfg.eps)
            out += [adv[j, : len(rollouts[i].response_ids)].tolist() for j, i in enumerate(group)]
            values = [v for i in group for _, v in rewards[i].steps]
            flat += values
            flat_groups.append(all(v == values[0] for v in values))
        values = torch.tensor(flat, dtype=torch.float64)
        return out, {"reward_mean": values.mean().item(), "reward_std": values.std(correction=0).item(),
                     "zero_variance_fraction": sum(flat_groups) / len(flat_groups)}
    values = torch.tensor([r.value for r in rewards], dtype=torch.float64).view(-1, group_size)
    adv = outcome_advantages(values, cfg.std, cfg.eps).flatten().tolist()
    stats = {"reward_mean": values.mean().item(), "reward_std": values.std(correction=0).item(),
             "zero_variance_fraction": zero_variance_groups(values).double().mean().item()}
    return [[a] * len(r.response_ids) for a, r in zip(adv, rollouts, strict=True)], stats


def forward_logprobs(model, batches: list[Batch], objective: GRPOObjective) -> list[torch.Tensor | None]:
    """log π of each micro-batch's labels [b, s] in a forward-only pass (None off the last pipeline stage)."""
    from megatron.core.pipeline_parallel import get_forward_backward_func

    def forward_step(data_iterator, model):
        batch = next(data_iterator)
        output = objective.forward(model, batch)
        return output, lambda out: (out.sum() * 0, torch.ones((), dtype=torch.int), {"logp": out[0].detach()})

    seq = batches[0]["tokens"].shape[1] - 1
    with torch.no_grad():
        reported = get_forward_backward_func()(
            forward_step_func=forward_step, data_iterator=iter(batches), model=[model],
            num_microbatches=len(batches), seq_length=seq, micro_batch_size=batches[0]["tokens"].shape[0],
            decoder_seq_length=seq, forward_only=True,
        )
    return [r["logp"] for r in reported] if reported else [None] * len(batches)


class GRPOStage:
    """State of the stage across steps: the engine and reward source (rank 0), the reference model, the
    current exploration stage's micro-batches."""

    def __init__(self, cfg: GRPOConfig, run: loop.Run):
        from megatron.core import parallel_state as ps

        self.cfg, self.run = cfg, run
        self.rank0 = dist.get_rank() == 0
        self.per_step = questions_per_step(cfg)
        self.objective = GRPOObjective(cfg.loss, cfg.model.vocab_size, cfg.rollout.temperature)
        self.policy = run.model.module  # the GPTModel inside megatron's DDP
        self.reference = build_model(cfg.model, bf16=run.bf16, tp=cfg.parallel.tensor, pp=cfg.parallel.pipeline,
                                     pre_process=ps.is_pipeline_first_stage(), post_process=ps.is_pipeline_last_stage())
        self.reference.load_state_dict(self.policy.state_dict())
        self.reference.eval().requires_grad_(False)
        self.engine: VLLMRolloutEngine | None = None
        self.rewards: RewardSource | None = None
        self.grader: RuleBasedReward | None = None
        self.items = load_items(cfg.prompts) if self.rank0 else []
        self.current: tuple[int, list[Batch]] | None = None  # (exploration step, micro-batches)
        self.pad_id = 0
        if self.rank0:
            self.engine = VLLMRolloutEngine(cfg.rollout, str(self._engine_start_dir()))
            self.pad_id = self.engine.eos_id if self.engine.eos_id is not None else 0
            self.grader = RuleBasedReward(cfg.reward.rule, cfg.grading, cfg.prompts.style, cfg.sandbox)
            self.rewards = build_reward_source(cfg.reward, self.grader)
        holder = [self.pad_id]
        dist.broadcast_object_list(holder, src=0)
        self.pad_id = holder[0]

    def _engine_start_dir(self) -> Path:
        """The folder the engine loads first (its weights are replaced by the first sync anyway)."""
        if self.cfg.train.init_from_hf is not None:
            return Path(self.cfg.train.init_from_hf)
        raise ConfigError("train.init_from_hf: GRPO starts from an HF (SFT export) folder, which also gives the "
                          "rollout engine its tokenizer")

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        if self.rewards is not None:
            self.rewards.close()
        if self.grader is not None:
            self.grader.close()

    def before_step(self, step: int) -> dict[str, float]:
        mu = self.cfg.train.updates_per_exploration
        explore = step - step % mu
        if self.current is not None and self.current[0] == explore:
            return {}
        if step != explore:
            log.warning("step %d resumes inside exploration stage %d: its outputs are sampled again from the "
                        "restored policy", step, explore)
        metrics = self._sync()
        samples, explore_metrics = self._explore(explore)
        metrics |= explore_metrics
        began = time.perf_counter()
        batches = self._micro_batches(samples)
        for batch, ref in zip(batches, forward_logprobs(self.reference, batches, self.objective), strict=True):
            batch["ref_logprobs"] = ref if ref is not None else torch.zeros_like(batch["advantages"])
        if mu > 1:
            self.policy.eval()
            for batch, old in zip(batches, forward_logprobs(self.policy, batches, self.objective), strict=True):
                batch["old_logprobs"] = old if old is not None else torch.zeros_like(batch["advantages"])
        metrics["logprob_seconds"] = time.perf_counter() - began
        self.current = (explore, batches)
        return metrics

    def batches(self, step: int) -> list[Batch]:
        assert self.current is not None
        return self.current[1]

    def _sync(self) -> dict[str, float]:
        """The policy into the engine bucket by bucket (`training.rl.weight_sync`; a collective)."""
        began = time.perf_counter()
        dtype = getattr(torch, engine_dtype(self.cfg.rollout))
        buckets = hf_buckets(self.policy, self.cfg.model, self.cfg.rollout.sync_bucket_mb, dtype)
        if self.engine is not None:
            self.engine.load_weights(buckets)
        else:
            for _ in buckets:
                pass
        dist.barrier()
        return {"sync_seconds": time.perf_counter() - began}

    def _explore(self, step: int) -> tuple[list[Sample], dict[str, float]]:
        """Rank 0 samples and scores; every rank gets the scored outputs."""
        payload: list = [None]
        if self.engine is not None and self.rewards is not None:
            payload[0] = self._sample_and_score(step)
        dist.broadcast_object_list(payload, src=0)
        return payload[0]

    def _sample_and_score(self, step: int) -> tuple[list[Sample], dict[str, float]]:
        assert self.engine is not None and self.rewards is not None and self.grader is not None
        items = step_items(self.items, step, self.per_step, self.cfg.prompts.seed)
        began = time.perf_counter()
        rollouts = self.engine.generate(items, [prompt_text(i, self.cfg.prompts.style) for i in items], step)
        rollout_seconds = time.perf_counter() - began
        began = time.perf_counter()
        rewards = self.rewards.score(rollouts)
        reward_seconds = time.perf_counter() - began
        correct = self.grader.correct(rollouts)
        advantages, stats = token_advantages(rollouts, rewards, self.cfg.rollout.group_size, self.cfg.advantage)
        lengths = [len(r.response_ids) for r in rollouts]
        too_long = [r for r in rollouts if len(r.prompt_ids) + len(r.response_ids) > self.cfg.model.seq_length + 1]
        if too_long:
            raise ConfigError(f"a prompt + response of {len(too_long[0].prompt_ids) + len(too_long[0].response_ids)} "
                              f"tokens exceeds model.seq_length {self.cfg.model.seq_length}; lower "
                              "rollout.max_new_tokens or set rollout.max_model_len")
        samples = [Sample(r.prompt_ids, r.response_ids, tuple(a), r.sampler_logprobs)
                   for r, a in zip(rollouts, advantages, strict=True)]
        stats |= {"accuracy": sum(correct) / len(correct), "response_length": sum(lengths) / len(lengths),
                  "truncated_fraction": sum(r.truncated for r in rollouts) / len(rollouts),
                  "rollout_tokens_per_s": sum(lengths) / rollout_seconds,
                  "rollout_seconds": rollout_seconds, "reward_seconds": reward_seconds}
        return samples, stats

    def _micro_batches(self, samples: list[Sample]) -> list[Batch]:
        from megatron.core import parallel_state as ps

        dp = ps.get_data_parallel_world_size()
        mbs = self.cfg.train.micro_batch_size
        if len(samples) % (dp * mbs):
            raise ConfigError(f"train.outputs_per_step {len(samples)} must be a multiple of data-parallel size {dp} "
                              f"x train.micro_batch_size {mbs}")
        mine = rank_samples(samples, ps.get_data_parallel_rank(), dp)
        return micro_batches(mine, mbs, step_length(samples), self.pad_id)


def grpo(cfg: GRPOConfig) -> dict:
    """Run (or resume) GRPO under torchrun or as one process; the summary on every rank."""
    questions_per_step(cfg)
    if cfg.train.updates_per_exploration < 1:
        raise ConfigError("train.updates_per_exploration must be >= 1")
    if cfg.rollout.max_model_len == 0:
        cfg.rollout.max_model_len = cfg.model.seq_length
    stages: list[GRPOStage] = []

    def make_stage(run: loop.Run) -> loop.Stage:
        stage = GRPOStage(cfg, run)
        stages.append(stage)
        return loop.Stage(name="grpo", total_steps=cfg.train.total_steps, batches=stage.batches,
                          objective=stage.objective, lr=lambda step: cfg.train.lr, before_step=stage.before_step,
                          tokenizer_dir=cfg.train.init_from_hf)

    try:
        summary = loop.run(cfg, make_stage)
    finally:
        for stage in stages:
            stage.close()
    if "plot" in summary:  # rank 0 of a complete run
        summary["grpo_plot"] = str(plot_grpo(cfg.train.run_dir / METRICS_NAME, cfg.train.run_dir / "grpo.png"))
    return summary


PLOTTED = ("reward_mean", "zero_variance_fraction", "kl", "entropy", "response_length", "logprob_gap")


def plot_grpo(metrics_path: Path, png_path: Path) -> Path:
    """The run's reward, zero-variance share, KL, entropy, response length and log-prob gap per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    fig, axes = plt.subplots(2, 3, figsize=(12, 6))
    for ax, key in zip(axes.flat, PLOTTED, strict=True):
        ax.plot([r["step"] for r in records if key in r], [r[key] for r in records if key in r])
        ax.set_title(key)
        ax.set_xlabel("step")
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return png_path

