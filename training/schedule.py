"""The paper's learning-rate schedule and the batch arithmetic, as pure functions.

DeepSeekMath pretraining: linear warmup over 2,000 steps to the peak, the peak until 80% of the
training tokens, 31.6% of the peak until 90%, 10% of the peak to the end. With a constant global
batch, the fraction of tokens consumed before step s is s / total_steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ScheduleConfig:
    peak_lr: float = 4.2e-4
    warmup_steps: int = 2000
    boundaries: list[float] = field(default_factory=lambda: [0.8, 0.9])  # fractions of the tokens
    factors: list[float] = field(default_factory=lambda: [0.316, 0.1])  # of the peak, after each boundary

    def __post_init__(self) -> None:
        if len(self.boundaries) != len(self.factors):
            raise ValueError("boundaries and factors must have the same length")
        if sorted(self.boundaries) != list(self.boundaries) or not all(0 < b <= 1 for b in self.boundaries):
            raise ValueError("boundaries must be increasing fractions in (0, 1]")


def multi_step_lr(step: int, total_steps: int, cfg: ScheduleConfig) -> float:
    """Learning rate for 0-based `step` of `total_steps`.

    lr(s) = peak * (s + 1) / W                       for s < W (warmup; step W-1 reaches the peak)
          = peak * factor_k, k = #{b_i : s / T >= b_i}  afterwards (factor_0 = 1)
    """
    if step < 0 or total_steps <= 0:
        raise ValueError(f"step {step} / total_steps {total_steps} out of range")
    if step < cfg.warmup_steps:
        return cfg.peak_lr * (step + 1) / cfg.warmup_steps
    factor = 1.0
    for boundary, f in zip(cfg.boundaries, cfg.factors, strict=True):
        if step / total_steps >= boundary:
            factor = f
    return cfg.peak_lr * factor


@dataclass(frozen=True)
class BatchPlan:
    micro_batch_size: int  # sequences per forward pass per data-parallel rank
    num_microbatches: int  # gradient-accumulation steps
    data_parallel: int
    seq_length: int

    @property
    def global_batch_sequences(self) -> int:
        return self.micro_batch_size * self.num_microbatches * self.data_parallel

    @property
    def global_batch_tokens(self) -> int:
        return self.global_batch_sequences * self.seq_length


def plan_batch(global_batch_tokens: int, seq_length: int, micro_batch_size: int, data_parallel: int) -> BatchPlan:
    """Global batch in tokens -> micro-batches x accumulation steps x data-parallel ranks.

    sequences = floor(tokens / seq_length), rounded down to a multiple of micro_batch_size x DP
    (the paper's "10M tokens" at 4K context is 2441.4 sequences); at least one micro-batch per rank.
    """
    if min(global_batch_tokens, seq_length, micro_batch_size, data_parallel) <= 0:
        raise ValueError("batch sizes must be positive")
    per_step = micro_batch_size * data_parallel
    accumulation = (global_batch_tokens // seq_length) // per_step
    if accumulation == 0:
        raise ValueError(
            f"global batch of {global_batch_tokens} tokens is smaller than one micro-batch on every rank "
            f"({per_step} sequences x {seq_length} tokens)"
        )
    return BatchPlan(micro_batch_size, accumulation, data_parallel, seq_length)
