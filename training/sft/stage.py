"""Supervised fine-tuning (stage 2) on the one loop: packed SFT sequences, next-token loss on the
assistant tokens only (`NextToken` with the packing's loss mask), the paper's constant learning rate.

Starts from a training-core checkpoint (`train.init_from_checkpoint`, e.g. a pretraining run) or an
imported Hugging Face Llama checkpoint (`train.init_from_hf`); checkpoints, resume, metrics, HF export
and TP/PP/DP are the loop's (`training.loop`). `[build]` configures `mathforge train sft-data`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch.distributed as dist

from mathforge.config import ConfigError
from mathforge.log import get_logger
from training import loop
from training.loop import RunConfig
from training.model import ModelConfig, use_transformer_engine
from training.objectives import NextToken
from training.parallel import ParallelConfig
from training.schedule import plan_batch
from training.sft.build import BuildConfig
from training.sft.data import PackedSFTData, SFTDataConfig
from training.step import OptimizerConfig

log = get_logger(__name__)


@dataclass
class SFTTrainConfig(RunConfig):
    run_dir: Path = Path("runs/sft")
    steps: int = 500
    lr: float = 5e-5  # constant after the warmup (the paper: constant 5e-5)
    warmup_steps: int = 0
    global_batch_sequences: int = 256  # packed sequences of model.seq_length tokens per step
    micro_batch_size: int = 4


@dataclass
class SFTConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(weight_decay=0.0))
    data: SFTDataConfig = field(default_factory=SFTDataConfig)
    train: SFTTrainConfig = field(default_factory=SFTTrainConfig)
    build: BuildConfig = field(default_factory=BuildConfig)


def constant_lr(step: int, lr: float, warmup_steps: int) -> float:
    """lr(s) = lr * (s + 1) / W for s < W, then lr."""
    return lr * (step + 1) / warmup_steps if step < warmup_steps else lr


def sft(cfg: SFTConfig) -> dict:
    """Run (or resume) SFT under torchrun or as one process. Returns the loop's summary on every rank."""
    if cfg.data.document_aware and use_transformer_engine():
        raise ConfigError("data.document_aware needs the local layer spec: megatron's Transformer Engine attention "
                          "applies its own causal mask (packed THD sequences are not wired here); use plain packing")
    if cfg.train.init_from_hf is None and cfg.train.init_from_checkpoint is None:
        log.warning("SFT from randomly initialised weights: set train.init_from_checkpoint or train.init_from_hf")
    return loop.run(cfg, lambda run: sft_stage(cfg))


def sft_stage(cfg: SFTConfig) -> loop.Stage:
    """The SFT stage (inside the process groups): the data source, the masked next-token loss, the LR."""
    from megatron.core import parallel_state as ps

    dp = ps.get_data_parallel_world_size()
    if cfg.train.global_batch_sequences % (cfg.train.micro_batch_size * dp):
        raise ConfigError(f"train.global_batch_sequences {cfg.train.global_batch_sequences} is not a multiple of "
                          f"train.micro_batch_size {cfg.train.micro_batch_size} x data parallel {dp}")
    plan = plan_batch(cfg.train.global_batch_sequences * cfg.model.seq_length, cfg.model.seq_length,
                      cfg.train.micro_batch_size, dp)
    data = PackedSFTData(cfg.data, cfg.model.seq_length, plan)
    if data.vocab_size > cfg.model.vocab_size:
        raise ConfigError(f"tokenizer {cfg.data.tokenizer_dir} has {data.vocab_size} tokens, more than "
                          f"model.vocab_size {cfg.model.vocab_size}")
    if dist.get_rank() == 0:
        cfg.train.run_dir.mkdir(parents=True, exist_ok=True)
        data.write_summary(cfg.train.run_dir / "sft_data.json")
        log.info("SFT data: %s", data.summary())
    dp_rank = ps.get_data_parallel_rank()
    return loop.Stage(
        name="sft", total_steps=cfg.train.steps,
        batches=lambda step: data.micro_batches(step, dp_rank),
        objective=NextToken(),
        lr=lambda step: constant_lr(step, cfg.train.lr, cfg.train.warmup_steps),
        checkpoint_meta=lambda done: {"consumed_sequences": done * plan.global_batch_sequences},
        tokenizer_dir=cfg.data.tokenizer_dir,
    )
