"""One optimizer step of a megatron-core GPT, all of it megatron's: forward/backward through the
pipeline schedules, gradients in megatron's `DistributedDataParallel` buffers (reduced over the
data-parallel group by `finalize_model_grads`, which the schedules call; it also all-reduces the
embedding gradients shared between the first and last pipeline stages), and `get_megatron_optimizer`
(Adam with decoupled weight decay, global L2 gradient clipping across TP/PP ranks, optionally the
distributed optimizer that shards its states over data-parallel ranks).

One code path on CPU and GPU: on a CPU-only torch `training.cpu_compat` makes megatron's "cuda"
tensors CPU ones. The learning rate comes from our pure schedule (`training.schedule`), set on the
optimizer's parameter groups before each step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

from training import cpu_compat
from training.model import causal_inputs


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
    loss: float  # mean token cross-entropy over the global batch
    grad_norm: float  # global L2 norm before clipping


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient norm became NaN/inf; the step was not applied."""


def wrap_model(model: torch.nn.Module, cfg: OptimizerConfig):
    """megatron's DDP around `model`: contiguous fp32 gradient buffers, reduced over the data-parallel
    group after the last micro-batch (or bucket by bucket during its backward, with overlap)."""
    from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig

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


def _loss_func(output: torch.Tensor):
    loss = output.float().mean()
    return loss, {"loss": loss.detach().clone()}  # megatron scales `loss` in place


def _forward_step(data_iterator, model):
    sample = next(data_iterator)
    tokens, labels = sample[:, :-1], sample[:, 1:]
    positions, mask = causal_inputs(tokens)
    return model(tokens, positions, mask, labels=labels), _loss_func


def train_step(model, optimizer, micro_batches: Sequence[torch.Tensor], lr: float) -> StepResult:
    """One step on this rank's micro-batches ([micro_batch, seq+1] token ids each); `model` is the
    DDP-wrapped model and `optimizer` megatron's, from `wrap_model` / `build_optimizer`.

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
    device = cpu_compat.default_device()
    batches = [b.to(device) for b in micro_batches]
    seq = batches[0].shape[1] - 1
    losses = get_forward_backward_func()(
        forward_step_func=_forward_step,
        data_iterator=iter(batches),
        model=[model],
        num_microbatches=len(batches),
        seq_length=seq,
        micro_batch_size=batches[0].shape[0],
        decoder_seq_length=seq,
        forward_only=False,
    )
    loss = _global_mean_loss(losses)
    optimizer.prepare_grads()
    norm = float(optimizer.get_grad_norm())
    if not (math.isfinite(loss) and math.isfinite(norm)):
        raise NonFiniteLossError(f"loss {loss} / grad norm {norm} is not finite")
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.step()
    return StepResult(loss=loss, grad_norm=norm)


def _global_mean_loss(losses: list) -> float:
    """Mean micro-batch loss, from the last pipeline stage, averaged over data-parallel ranks."""
    from megatron.core import parallel_state as ps

    local = torch.stack([d["loss"] for d in losses]).mean() if losses else torch.zeros(())
    value = local.float().to(cpu_compat.default_device()).reshape(1)
    if ps.get_pipeline_model_parallel_world_size() > 1:  # only the last stage computed a loss
        dist.all_reduce(value, group=ps.get_pipeline_model_parallel_group())
    if ps.get_data_parallel_world_size() > 1:
        dist.all_reduce(value, group=ps.get_data_parallel_group())
        value /= ps.get_data_parallel_world_size()
    return value.item()
