"""The GRPO objective (DeepSeekMath eq. 3): pure tensor functions over per-token log-probabilities.

For output i of G, token t (π = π_θ, the policy being trained; π_old the sampler; π_ref frozen):
    ρ_{i,t}  = π(o_{i,t}) / π_old(o_{i,t})
    ℓ_{i,t}  = −min(ρ Â_{i,t}, clip(ρ, 1−ε, 1+ε) Â_{i,t}) + β · D_{i,t}
    D_{i,t}  = π_ref/π − log(π_ref/π) − 1          (the unbiased, always ≥ 0 "k3" KL estimator)
The KL is added to the loss, not to the reward. Aggregation ("sequence_mean", the paper's):
    L = (1/G) Σ_i (1/|o_i|) Σ_t ℓ_{i,t}
or "token_mean": L = Σ_{i,t} ℓ_{i,t} / Σ_i |o_i| (DAPO; long outputs weigh more). Both are returned as a
(sum, count) pair for the training step's global normalisation (`training.objectives`): the count is the
number of outputs for sequence_mean, the number of tokens for token_mean, so micro-batches and
data-parallel ranks combine exactly.
At π = π_old = π_θ (one policy update per exploration stage) ρ ≡ 1, the clip never fires and, for
sequence_mean, ∂L/∂log π_{i,t} = −(Â_{i,t} + β (π_ref/π − 1)) / (G |o_i|).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

Aggregation = Literal["sequence_mean", "token_mean"]


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token D = π_ref/π − log(π_ref/π) − 1 from log-probabilities (exactly 0 where π = π_ref)."""
    log_ratio = ref_logp - logp
    return torch.exp(log_ratio) - log_ratio - 1.0


@dataclass(frozen=True)
class TokenLoss:
    loss: torch.Tensor  # ℓ_{i,t} [b, s]
    pg: torch.Tensor  # −min(ρÂ, clip(ρ)Â) [b, s]
    kl: torch.Tensor  # D_{i,t} [b, s]
    ratio: torch.Tensor  # ρ [b, s]
    clipped: torch.Tensor  # [b, s] bool: the clipped term was the smaller one (its gradient is 0)


def grpo_token_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor, advantages: torch.Tensor,
                    clip_eps: float = 0.2, kl_coef: float = 0.04) -> TokenLoss:
    """Per-token terms of the GRPO objective (module docstring); all inputs [b, s]."""
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped_value = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    pg = -torch.minimum(unclipped, clipped_value)
    kl = k3_kl(logp, ref_logp)
    return TokenLoss(loss=pg + kl_coef * kl, pg=pg, kl=kl, ratio=ratio, clipped=clipped_value < unclipped)


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, mode: Aggregation = "sequence_mean"
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum, count) whose ratio is the aggregated loss: sequence_mean Σ_i mean_t ℓ over outputs with at
    least one token (count = their number); token_mean Σ ℓ over tokens (count = tokens). `mask` [b, s]
    is 1 on response tokens, 0 on prompt and padding."""
    mask = mask.to(per_token.dtype)
    tokens = mask.sum(dim=1)
    if mode == "token_mean":
        return (per_token * mask).sum(), tokens.sum()
    if mode != "sequence_mean":
        raise ValueError(f"unknown aggregation {mode!r}: sequence_mean or token_mean")
    has_tokens = tokens > 0
    per_output = (per_token * mask).sum(dim=1) / tokens.clamp(min=1)
    return per_output[has_tokens].sum(), has_tokens.sum().to(per_token.dtype)
