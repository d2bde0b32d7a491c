"""One optimizer step of a megatron-core GPT, all of it megatron's: forward/backward through the
pipeline schedules, gradients in megatron's `DistributedDataParallel` buffers (reduced over the
data-parallel group by `finalize_model_grads`, which the schedules call; it also all-reduces the
embedding gradients shared between the first and last pipeline stages), and `get_megatron_optimizer`
(Adam with decoupled weight decay, global L2 gradient clipping across TP/PP ranks, optionally the
distributed optimizer that shards its states over data-parallel ranks).

What is optimised is an `Objective` (`training.objectives`): every stage (pretraining, SFT, reward
models, GRPO) runs this same step with its own micro-batches and objective. The loss is megatron's
per-token form: the objective returns a sum and a count, and gradients are scaled by 1 / (global count)
in `finalize_model_grads`, so uneven micro-batches and data-parallel ranks weigh exactly.

One code path on CPU and GPU: on a CPU-only torch `training.cpu_compat` makes megatron's "cuda"
tensors CPU ones. The learning rate comes from our pure schedule (`training.schedule`), set on the
optimizer's parameter groups before each step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from training import cpu_compat
from training.objectives import Batch, NextToken, Objective


@dataclass
class OptimizerConfig:
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1  # megatron applies none to biases and norm weights (1-D parameters)
    clip_grad: float = 1.0  # max global L2 norm; 0 disables clipping
    use_distributed_optimizer: bool = False  # shard Adam states and fp32 grads over data-parallel ranks
    overlap_grad_reduce: bool = False  # start each gradient bucket's reduction during the backward pass


@dataclass(frozen=True)
class StepResult:
    loss: float  # the objective's loss over the global batch (global sum / global count)
    grad_norm: float  # global L2 norm before clipping
    metrics: dict[str, float] = field(default_factory=dict)  # every metric of the objective, global sum / count


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient norm became NaN/inf; the step was not applied."""


def wrap_model(model: torch.nn.Module, cfg: OptimizerConfig):
    """megatron's DDP around `model`: contiguous fp32 gradient buffers, reduced over the data-parallel
    group after the last micro-batch (or bucket by bucket during its backward, with overlap)."""
    from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig

    model.config.calculate_per_token_loss = True  # objectives return (sum, count); DDP reads this flag here
    ddp = DistributedDataParallelConfig(
        grad_reduce_in_fp32=True, overlap_grad_reduce=cfg.overlap_grad_reduce,
        use_distributed_optimizer=cfg.use_distributed_optimizer,
    )
    return DistributedDataParallel(config=model.config, ddp_config=ddp, module=model)


def build_optimizer(model, cfg: OptimizerConfig):
    """megatron's Adam(W) over the DDP-wrapped `model` (lr is set per step by `train_step`)."""
    from megatron.core.optimizer import OptimizerConfig as MegatronOptimizerConfig
    from megatron.core.optimizer import get_megatron_optimizer

    config = MegatronOptimizerConfig(
        optimizer="adam", lr=0.0, weight_decay=cfg.weight_decay, adam_beta1=cfg.beta1, adam_beta2=cfg.beta2,
        adam_eps=cfg.eps, clip_grad=cfg.clip_grad, use_distributed_optimizer=cfg.use_distributed_optimizer,
        bf16=False, fp16=False, params_dtype=torch.float32,
    )
    return get_megatron_optimizer(config, [model])


def _as_batch(micro_batch: Batch | torch.Tensor, device) -> Batch:
    """A micro-batch as a dict on `device` (a bare tensor is the `tokens` of next-token prediction)."""
    if isinstance(micro_batch, torch.Tensor):
        micro_batch = {"tokens": micro_batch}
    return {key: value.to(device) for key, value in micro_batch.items()}


def train_step(model, optimizer, micro_batches: Sequence[Batch | torch.Tensor], lr: float,
               objective: Objective | None = None) -> StepResult:
    """One step on this rank's micro-batches (dicts as `training.objectives` describes, or bare
    [micro_batch, seq+1] token tensors) under `objective` (default: next-token prediction); `model` is
    the DDP-wrapped model and `optimizer` megatron's, from `wrap_model` / `build_optimizer`.

    The optimizer is only stepped when loss and gradient norm are finite (else NonFiniteLossError).
    """
    from megatron.core.distributed import finalize_model_grads
    from megatron.core.pipeline_parallel import get_forward_backward_func

    model.train()
    model.zero_grad_buffer()
    optimizer.zero_grad()
    config = model.config
    config.finalize_model_grads_func = finalize_model_grads
    config.no_sync_func = model.no_sync
    objective = objective or NextToken()
    device = cpu_compat.default_device()
    batches = [_as_batch(b, device) for b in micro_batches]
    tokens = batches[0]["tokens"]
    seq = tokens.shape[1] - 1

    def forward_step(data_iterator, model):
        batch = next(data_iterator)
        return objective.forward(model, batch), lambda output: objective.loss(output, batch)

    reported = get_forward_backward_func()(
        forward_step_func=forward_step,
        data_iterator=iter(batches),
        model=[model],
        num_microbatches=len(batches),
        seq_length=seq,
        micro_batch_size=tokens.shape[0],
        decoder_seq_length=seq,
        forward_only=False,
    )
    metrics = _global_metrics(reported)
    loss = metrics.get("loss", math.nan)
    optimizer.prepare_grads()
    norm = float(optimizer.get_grad_norm())
    if not (math.isfinite(loss) and math.isfinite(norm)):
        raise NonFiniteLossError(f"loss {loss} / grad norm {norm} is not finite")
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.step()
    return StepResult(loss=loss, grad_norm=norm, metrics=metrics)


def _global_metrics(reported: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    """Each metric's global sum / count: summed over micro-batches on the last pipeline stage, then over
    the pipeline group (only the last stage has values; the key set is the objective's, on every rank)
    and the data-parallel group."""
    from megatron.core import parallel_state as ps

    device = cpu_compat.default_device()
    names = sorted(reported[0]) if reported else []
    if ps.get_pipeline_model_parallel_world_size() > 1:  # first stages have no metrics: learn the names
        gathered: list = [None] * ps.get_pipeline_model_parallel_world_size()
        dist.all_gather_object(gathered, names, group=ps.get_pipeline_model_parallel_group())
        names = max(gathered, key=len)
    totals = torch.zeros(len(names), 2, dtype=torch.float64, device=device)
    for record in reported:
        for i, name in enumerate(names):
            totals[i] += record[name].detach().to(device=device, dtype=torch.float64)
    if ps.get_pipeline_model_parallel_world_size() > 1:
        dist.all_reduce(totals, group=ps.get_pipeline_model_parallel_group())
    if ps.get_data_parallel_world_size() > 1:
        dist.all_reduce(totals, group=ps.get_data_parallel_group())
    return {name: (totals[i, 0] / totals[i, 1]).item() if totals[i, 1] > 0 else math.nan
            for i, name in enumerate(names)}
