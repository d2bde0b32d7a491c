"""What a training stage optimises: how a micro-batch goes through the model and becomes a loss.

The training step (`training.step.train_step`) is one loop for every stage; a stage differs only in
its data source and its `Objective`: next-token prediction for pretraining, the same with a loss mask
for SFT, a reward-model loss, the GRPO loss. An objective's `loss` returns a *sum* and the number of
units that sum averages over (tokens for next-token prediction, outputs for GRPO's per-output mean);
the step divides the global sum by the global count (megatron's `calculate_per_token_loss` path, so
micro-batches and data-parallel ranks with different counts are weighted exactly).

A micro-batch is a dict of tensors with at least `tokens` [b, s+1] (inputs are `tokens[:, :-1]`,
labels `tokens[:, 1:]`). Optional keys read here: `loss_mask` [b, s] (1 = the label counts),
`position_ids` [b, s] and `attention_mask` [b or 1, 1, s, s] (True = may not attend; document-aware
packing resets positions and blocks attention across samples).
"""

from __future__ import annotations

from typing import Protocol

import torch

from training.model import causal_inputs

Batch = dict[str, torch.Tensor]
Metrics = dict[str, torch.Tensor]  # name -> tensor([sum, count]); the step reports global sum / count


class Objective(Protocol):
    def forward(self, model, batch: Batch) -> torch.Tensor:
        """The model's output on this pipeline stage (on the last stage, what `loss` reads)."""

    def loss(self, output: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, Metrics]:
        """(loss sum, count of units it averages over as an int tensor, metrics as [sum, count])."""


def model_inputs(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input ids, labels, position ids, attention mask) of a micro-batch; causal defaults."""
    tokens = batch["tokens"]
    inputs, labels = tokens[:, :-1], tokens[:, 1:]
    positions, mask = causal_inputs(inputs)
    return inputs, labels, batch.get("position_ids", positions), batch.get("attention_mask", mask)


def label_nll(model, batch: Batch) -> torch.Tensor:
    """Per-token negative log-likelihood of the labels [b, s] (megatron's vocab-parallel cross-entropy,
    so it is exact under tensor parallelism; hidden states on non-last pipeline stages)."""
    inputs, labels, positions, mask = model_inputs(batch)
    return model(inputs, positions, mask, labels=labels)


class NextToken:
    """Mean next-token cross-entropy over the labels that count:
    L = Σ_t m_t · nll_t / Σ_t m_t, with m = `loss_mask` (all ones when absent)."""

    def forward(self, model, batch: Batch) -> torch.Tensor:
        return label_nll(model, batch)

    def loss(self, output: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, Metrics]:
        nll = output.float()
        mask = batch.get("loss_mask")
        mask = torch.ones_like(nll) if mask is None else mask.to(nll.dtype)
        total = (nll * mask).sum()
        count = mask.sum().to(torch.int)
        return total, count, {"loss": torch.stack([total.detach(), count.detach().to(total.dtype)])}
