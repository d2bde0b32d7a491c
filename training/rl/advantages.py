"""Group-relative advantages (DeepSeekMath §4.1.2-4.1.3): pure tensor functions.

Outcome supervision: each output i of a group of G gets one reward r_i, normalised within its group,
    Â_i = (r_i − mean(r)) / (std(r) + eps),
and every token of output i shares Â_i. Process supervision: output i gets rewards r_i^j for its steps
j (step j ends at token index(j) of the response); all steps of the group are normalised together,
    r̃_i^j = (r_i^j − mean(R)) / (std(R) + eps),   R = every step reward of every output in the group,
and a token's advantage is the sum of the normalised rewards of the steps ending at or after it,
    Â_{i,t} = Σ_{j : index(j) ≥ t} r̃_i^j.

Choices the paper leaves open, as arguments (pinned in `GRPOConfig`): `std` is "unbiased" (n − 1,
torch.std's default, as verl and TRL use), "population" (n) or "none" (no scaling: Â = r − mean, the
Dr. GRPO variant). A group whose rewards are all equal carries no signal: its advantages are exactly 0
(not 0/eps noise), and `zero_variance_groups` reports which groups they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

StdMode = Literal["unbiased", "population", "none"]


def _scale(values: torch.Tensor, mode: StdMode, eps: float) -> torch.Tensor:
    if mode == "none":
        return torch.ones((), dtype=values.dtype)
    return values.std(correction=1 if mode == "unbiased" else 0) + eps


def zero_variance_groups(rewards: torch.Tensor) -> torch.Tensor:
    """[Q] bool: groups (rows of `rewards` [Q, G]) whose rewards are all equal."""
    return (rewards == rewards[:, :1]).all(dim=1)


def outcome_advantages(rewards: torch.Tensor, std: StdMode = "unbiased", eps: float = 1e-6) -> torch.Tensor:
    """[Q, G] rewards (Q questions, G outputs each) -> [Q, G] advantages Â_i = (r_i − mean) / (std + eps)."""
    rewards = rewards.to(torch.float64)
    mean = rewards.mean(dim=1, keepdim=True)
    if std == "none":
        scale = torch.ones_like(mean)
    else:
        scale = rewards.std(dim=1, keepdim=True, correction=1 if std == "unbiased" else 0) + eps
    advantages = (rewards - mean) / scale
    return advantages.masked_fill(zero_variance_groups(rewards).unsqueeze(1), 0.0)


def process_advantages(step_ends: Sequence[Sequence[int]], step_rewards: Sequence[Sequence[float]],
                       lengths: Sequence[int], std: StdMode = "unbiased", eps: float = 1e-6) -> torch.Tensor:
    """One group's per-token advantages [G, max(lengths)] from ragged step rewards.

    Output i has steps ending at token indices `step_ends[i]` (strictly increasing, < lengths[i]) with
    rewards `step_rewards[i]`. Â_{i,t} = Σ_{j: end_ij ≥ t} r̃_ij with r̃ normalised over every step of the
    group; tokens after an output's last step end, and padding, get 0.
    """
    if len(step_ends) != len(lengths) or any(len(e) != len(r) for e, r in zip(step_ends, step_rewards, strict=True)):
        raise ValueError("step_ends, step_rewards and lengths must describe the same outputs and steps")
    flat = torch.tensor([r for rs in step_rewards for r in rs], dtype=torch.float64)
    width = max(lengths, default=0)
    out = torch.zeros(len(lengths), width, dtype=torch.float64)
    if flat.numel() == 0 or bool((flat == flat[0]).all()):
        return out  # no step rewards, or all equal: no signal
    normalised = (flat - flat.mean()) / _scale(flat, std, eps)
    position = 0
    for i, ends in enumerate(step_ends):
        for end in ends:
            if not 0 <= end < lengths[i]:
                raise ValueError(f"output {i}: step end {end} outside its {lengths[i]} response tokens")
            out[i, end] += normalised[position]
            position += 1
    # reverse cumulative sum along t: Â_t = Σ_{end ≥ t} r̃
    return out.flip(1).cumsum(1).flip(1)
