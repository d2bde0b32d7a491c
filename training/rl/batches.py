"""Scored rollouts -> the GRPO micro-batches of one step (pure; see `training.rl.objective` for the keys).

A `Sample` is what rank 0 broadcasts per output: token ids, per-response-token advantages and the
sampler's log-probabilities. Every micro-batch of a step is padded to one length (the longest
prompt + response of the whole step, on every rank), as pipeline parallelism needs one shape.
Output j of the step goes to data-parallel rank j mod DP, in micro-batches of `micro_batch_size`.
Label position t predicts tokens[t+1], so response token r (at tokens[P + r]) sits at position P + r − 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from training.objectives import Batch


@dataclass(frozen=True)
class Sample:
    prompt_ids: tuple[int, ...]
    response_ids: tuple[int, ...]
    advantages: tuple[float, ...]  # one per response token
    sampler_logprobs: tuple[float, ...]  # one per response token


def step_length(samples: Sequence[Sample]) -> int:
    """Tokens per row of every micro-batch of the step (`tokens` is [b, length])."""
    return max(len(s.prompt_ids) + len(s.response_ids) for s in samples)


def rank_samples(samples: Sequence[Sample], dp_rank: int, dp: int) -> list[Sample]:
    return list(samples[dp_rank::dp])


def micro_batches(samples: Sequence[Sample], micro_batch_size: int, length: int, pad_id: int) -> list[Batch]:
    """Right-padded micro-batches: tokens [b, length]; loss_mask, advantages, sampler_logprobs [b, length−1]."""
    if len(samples) % micro_batch_size:
        raise ValueError(f"{len(samples)} outputs on this rank are not a multiple of micro_batch_size {micro_batch_size}")
    out = []
    for first in range(0, len(samples), micro_batch_size):
        group = samples[first : first + micro_batch_size]
        tokens = torch.full((len(group), length), pad_id, dtype=torch.long)
        shape = (len(group), length - 1)
        mask, adv, logp = torch.zeros(shape), torch.zeros(shape), torch.zeros(shape)
        for row, s in enumerate(group):
            p, r = len(s.prompt_ids), len(s.response_ids)
            if len(s.advantages) != r or len(s.sampler_logprobs) != r:
                raise ValueError("a sample needs one advantage and one sampler log-prob per response token")
            tokens[row, : p + r] = torch.tensor(s.prompt_ids + s.response_ids)
            mask[row, p - 1 : p - 1 + r] = 1.0
            adv[row, p - 1 : p - 1 + r] = torch.tensor(s.advantages)
            logp[row, p - 1 : p - 1 + r] = torch.tensor(s.sampler_logprobs)
        out.append({"tokens": tokens, "loss_mask": mask, "advantages": adv, "sampler_logprobs": logp})
    return out
