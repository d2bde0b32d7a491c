"""One optimizer step of a megatron-core GPT: forward/backward through megatron's pipeline schedules,
data-parallel gradient averaging, global gradient clipping, AdamW.

Why not megatron's DDP and `get_megatron_optimizer`: on a CPU-only torch both allocate on "cuda"
and assert `torch.cuda.FloatTensor` gradients (clip_grads.py); making them run needs a global
TorchFunctionMode that rewrites devices and tensor types. Plain `torch.optim.AdamW` over fp32 master
parameters plus an explicit gradient all-reduce gives the same maths on CPU and GPU, and keeps the
tensor/pipeline parallel parts (layers, schedules, parallel_state) megatron's own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
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
    weight_decay: float = 0.1  # not applied to norm weights (1-D parameters)
    clip_grad: float = 1.0  # max global L2 norm; 0 disables clipping


@dataclass(frozen=True)
class StepResult:
    loss: float  # mean token cross-entropy over the global batch
    grad_norm: float  # global L2 norm before clipping


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient norm became NaN/inf; the step was not applied."""


def build_optimizer(model: torch.nn.Module, cfg: OptimizerConfig) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=0.0, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)


def l2_norm_squared(grads: Iterable[torch.Tensor]) -> torch.Tensor:
    """sum_i ||g_i||_2^2 in fp32 (0 for no gradients)."""
    total = torch.zeros((), dtype=torch.float32)
    for g in grads:
        total = total + g.detach().float().pow(2).sum().cpu()
    return total


def clip_coefficient(norm: float, max_norm: float) -> float:
    """Scale for the gradients: min(1, max_norm / (norm + 1e-6)); 1 when clipping is off."""
    if max_norm <= 0:
        return 1.0
    return min(1.0, max_norm / (norm + 1e-6))


def _norm_grads(model: torch.nn.Module) -> list[torch.Tensor]:
    """Gradients that count once in the global norm: tensor-parallel replicas only on TP rank 0."""
    from megatron.core.tensor_parallel.layers import param_is_not_tensor_parallel_duplicate

    return [p.grad for p in model.parameters() if p.grad is not None and param_is_not_tensor_parallel_duplicate(p)]


def global_grad_norm(model: torch.nn.Module) -> float:
    """L2 norm of the whole model's gradient across the tensor- and pipeline-parallel ranks."""
    from megatron.core import parallel_state as ps

    sq = l2_norm_squared(_norm_grads(model)).to(cpu_compat.default_device())
    if ps.get_model_parallel_group().size() > 1:
        dist.all_reduce(sq, group=ps.get_model_parallel_group())
    return math.sqrt(sq.item())


def average_data_parallel_grads(model: torch.nn.Module) -> None:
    """All-reduce (mean) every gradient over the data-parallel group, in one flat buffer."""
    from megatron.core import parallel_state as ps

    group = ps.get_data_parallel_group()
    if group.size() == 1:
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, group=group)
    flat /= group.size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def _loss_func(output: torch.Tensor):
    loss = output.float().mean()
    return loss, {"loss": loss.detach().clone()}  # megatron scales `loss` in place


def _forward_step(data_iterator, model):
    sample = next(data_iterator)
    tokens, labels = sample[:, :-1], sample[:, 1:]
    positions, mask = causal_inputs(tokens)
    return model(tokens, positions, mask, labels=labels), _loss_func


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    micro_batches: Sequence[torch.Tensor],
    lr: float,
    clip_grad: float,
) -> StepResult:
    """One step on this rank's micro-batches ([micro_batch, seq+1] token ids each).

    The optimizer is only stepped when loss and gradient norm are finite (else NonFiniteLossError).
    """
    from megatron.core.pipeline_parallel import get_forward_backward_func

    model.train()
    optimizer.zero_grad(set_to_none=True)
    device = next(model.parameters()).device
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
    average_data_parallel_grads(model)
    norm = global_grad_norm(model)
    if not (math.isfinite(loss) and math.isfinite(norm)):
        optimizer.zero_grad(set_to_none=True)
        raise NonFiniteLossError(f"loss {loss} / grad norm {norm} is not finite")
    scale = clip_coefficient(norm, clip_grad)
    if scale < 1.0:
        for p in model.parameters():
            if p.grad is not None:
                p.grad.mul_(scale)
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
