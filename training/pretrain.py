"""Continued pretraining (stage 1): tokenised mixture -> megatron-core GPT, on the one loop (`training.loop`).

This module only supplies the stage: `data` tokenises the sources and builds megatron's blended
stream, `schedule` gives the paper's multi-step LR and the batch plan, the objective is plain
next-token prediction. Sample i of the stream is read for global sample index i, so the data
position is just the step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from mathforge.config import ConfigError
from mathforge.log import get_logger
from training import loop
from training.data import DataConfig, blend, build_gpt_dataset, sample_tokens, tokenize_sources
from training.loop import RunConfig, TrainingStopped
from training.model import ModelConfig
from training.objectives import NextToken
from training.parallel import ParallelConfig
from training.schedule import BatchPlan, ScheduleConfig, multi_step_lr, plan_batch
from training.step import OptimizerConfig

__all__ = ["PretrainConfig", "TrainConfig", "TrainingStopped", "micro_batches", "pretrain"]
log = get_logger(__name__)


@dataclass
class TrainConfig(RunConfig):
    run_dir: Path = Path("runs/pretrain")
    total_tokens: int = 1_000_000
    global_batch_tokens: int = 4096
    micro_batch_size: int = 4


@dataclass
class PretrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def micro_batches(dataset, plan: BatchPlan, step: int, dp_rank: int) -> list[torch.Tensor]:
    """This rank's micro-batches of `step`: global sample index = step*G + (m*DP + rank)*B + b."""
    base = step * plan.global_batch_sequences
    out = []
    for m in range(plan.num_microbatches):
        first = base + (m * plan.data_parallel + dp_rank) * plan.micro_batch_size
        out.append(torch.stack([sample_tokens(dataset, first + b) for b in range(plan.micro_batch_size)]))
    return out


def pretrain(cfg: PretrainConfig) -> dict:
    """Run (or resume) pretraining under torchrun or as one process. Returns a summary on every rank."""
    return loop.run(cfg, lambda run: pretrain_stage(cfg))


def pretrain_stage(cfg: PretrainConfig) -> loop.Stage:
    """Next-token prediction on the blended stream at the paper's multi-step LR (inside the process groups)."""
    from megatron.core import parallel_state as ps

    dataset, plan, total_steps = _prepare_data(cfg)
    dp_rank = ps.get_data_parallel_rank()
    return loop.Stage(
        name="pretrain", total_steps=total_steps,
        batches=lambda step: micro_batches(dataset, plan, step, dp_rank),
        objective=NextToken(),
        lr=lambda step: multi_step_lr(step, total_steps, cfg.schedule),
        checkpoint_meta=lambda done: {"consumed_samples": done * plan.global_batch_sequences},
        tokenizer_dir=cfg.data.tokenizer_dir,
    )


def _prepare_data(cfg: PretrainConfig):
    """Tokenise (rank 0 first, the others then find the files done) and build the blended stream."""
    from megatron.core import parallel_state as ps

    from training.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(cfg.data.tokenizer_dir)
    if tokenizer.vocab_size > cfg.model.vocab_size:
        raise ConfigError(
            f"tokenizer {cfg.data.tokenizer_dir} has {tokenizer.vocab_size} tokens, more than model.vocab_size "
            f"{cfg.model.vocab_size}"
        )
    if dist.get_rank() == 0:
        files = tokenize_sources(cfg.data)
    dist.barrier()
    if dist.get_rank() != 0:
        files = tokenize_sources(cfg.data)
    try:
        plan = plan_batch(cfg.train.global_batch_tokens, cfg.model.seq_length, cfg.train.micro_batch_size,
                          ps.get_data_parallel_world_size())
    except ValueError as exc:
        raise ConfigError(f"train.global_batch_tokens / train.micro_batch_size: {exc}") from exc
    total_steps = cfg.train.total_tokens // plan.global_batch_tokens
    if total_steps == 0:
        raise ConfigError(f"train.total_tokens {cfg.train.total_tokens} is less than one global batch")
    prefixes, weights = blend(files, {s.name: s.weight for s in cfg.data.sources})
    args = (prefixes, weights, cfg.model.seq_length, total_steps * plan.global_batch_sequences,
            tokenizer.vocab_size, tokenizer.eod, cfg.data.seed, cfg.data.tokenized_dir / "cache")
    if dist.get_rank() == 0:  # rank 0 writes megatron's index cache, the others read it
        dataset = build_gpt_dataset(*args)
    dist.barrier()
    if dist.get_rank() != 0:
        dataset = build_gpt_dataset(*args)
    log.info("batch: %d x %d micro-batches x %d DP = %d tokens/step; %d steps", plan.micro_batch_size,
             plan.num_microbatches, plan.data_parallel, plan.global_batch_tokens, total_steps)
    return dataset, plan, total_steps
