"""GRPO as an `Objective` of the one training step (`training.objectives`, `training.step`).

A GRPO micro-batch is a dict of [b, s+1] `tokens` (prompt + response, right-padded) and [b, s] per
label position t (label = tokens[:, t+1]): `loss_mask` (1 where the label is a response token),
`advantages` (Â of that token), `ref_logprobs` (log π_ref), `sampler_logprobs` (the rollout engine's
log-probability) and optionally `old_logprobs` (π_old, needed only with several updates per
exploration stage; absent, π_old = π_θ detached, so ρ ≡ 1 exactly).

The forward pass takes the logits (vocab-parallel under TP), divided by the sampling temperature so
that π is the distribution the engine sampled from, and returns per-token log π (megatron's
vocab-parallel cross-entropy, differentiable, exact under TP) and the entropy (a metric, no gradient)
on the last pipeline stage; earlier stages return their hidden states.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

from training.objectives import Batch, Metrics, model_inputs
from training.rl.losses import Aggregation, aggregate, grpo_token_loss


def vocab_parallel_entropy(logits: torch.Tensor) -> torch.Tensor:
    """H = log Σ_v e^{z_v} − Σ_v p_v z_v per position, from logits split over the tensor-parallel ranks'
    vocabulary shards (last dim); no gradient."""
    from megatron.core import parallel_state as ps

    group = ps.get_tensor_model_parallel_group()
    tp = ps.get_tensor_model_parallel_world_size()
    with torch.no_grad():
        z = logits.float()
        top = z.max(dim=-1, keepdim=True).values
        if tp > 1:
            dist.all_reduce(top, op=dist.ReduceOp.MAX, group=group)
        z = z - top
        exp = z.exp()
        parts = torch.stack([exp.sum(-1), (exp * z).sum(-1)])
        if tp > 1:
            dist.all_reduce(parts, group=group)
        total, weighted = parts[0], parts[1]
        return total.log() - weighted / total


def mask_padded_vocab(logits: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Logits of this tensor-parallel rank's vocabulary shard with the padding rows (ids >= vocab_size,
    which the tokenizer never produces and the rollout engine does not have) pushed to -1e9, so π is a
    distribution over the real vocabulary only, as the engine's is."""
    from megatron.core import parallel_state as ps

    shard = logits.shape[-1]
    first = ps.get_tensor_model_parallel_rank() * shard
    ids = torch.arange(first, first + shard, device=logits.device)
    return logits.masked_fill(ids >= vocab_size, -1e9)


@dataclass
class GRPOLossConfig:
    clip_eps: float = 0.2  # ε
    kl_coef: float = 0.04  # β, on the k3 estimator, in the loss
    aggregation: Aggregation = "sequence_mean"  # the paper's: mean over an output's tokens, then over outputs


class GRPOObjective:
    """The GRPO loss (training.rl.losses) with its per-step metrics: pg_loss and kl aggregated like the
    loss, clip_fraction, ratio_deviation = |ρ − 1|, entropy, logprob_gap = |log π_θ − log π_sampler| per response token."""

    def __init__(self, cfg: GRPOLossConfig, vocab_size: int, temperature: float = 1.0):
        self.cfg = cfg
        self.vocab_size = vocab_size
        self.temperature = temperature

    def forward(self, model, batch: Batch) -> torch.Tensor:
        from megatron.core import parallel_state as ps
        from megatron.core.tensor_parallel import vocab_parallel_cross_entropy

        inputs, labels, positions, mask = model_inputs(batch)
        output = model(inputs, positions, mask)
        if not ps.is_pipeline_last_stage():
            return output
        logits = mask_padded_vocab(output.float() / self.temperature, self.vocab_size)  # [b, s, v / tp]
        entropy = vocab_parallel_entropy(logits)
        nll = vocab_parallel_cross_entropy(logits.transpose(0, 1).contiguous(), labels.transpose(0, 1).contiguous())
        return torch.stack([-nll.transpose(0, 1), entropy])

    def loss(self, output: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, Metrics]:
        logp, entropy = output[0], output[1]
        mask = batch["loss_mask"].to(logp.dtype)
        old = batch.get("old_logprobs", logp.detach())
        terms = grpo_token_loss(logp, old, batch["ref_logprobs"], batch["advantages"], self.cfg.clip_eps,
                                self.cfg.kl_coef)
        if "old_logprobs" not in batch and bool((terms.clipped & (mask > 0)).any()):
            raise RuntimeError("π_old = π_θ (one update per exploration stage) but the clip fired: ρ is not 1")
        total, count = aggregate(terms.loss, mask, self.cfg.aggregation)
        tokens = mask.sum().detach()

        def pair(value: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
            return torch.stack([value.detach().double(), n.detach().double()])

        def token_mean(values: torch.Tensor) -> torch.Tensor:
            return pair((values.detach() * mask).sum(), tokens)

        metrics = {
            "loss": pair(total, count),
            "pg_loss": pair(aggregate(terms.pg, mask, self.cfg.aggregation)[0], count),
            "kl": pair(aggregate(terms.kl, mask, self.cfg.aggregation)[0], count),
            "clip_fraction": token_mean(terms.clipped.to(mask.dtype)),
            "entropy": token_mean(entropy),
            "logprob_gap": token_mean((logp.detach() - batch["sampler_logprobs"]).abs()),
            "ratio_deviation": token_mean((terms.ratio - 1).abs()),
        }
        return total, count.to(torch.int), metrics
