"""Reward models on the megatron GPT: the language-model head swapped for a scalar head.

The backbone is the policy's architecture, started from an SFT or pretrained checkpoint (the paper:
lr 2e-5); `ScalarHead` maps the final hidden state at every position to one score, s_t = w · h_t.
What is read off, and trained, is the score at chosen positions (`score_index`):
- outcome RM: one position, the last token of the solution (HF `LlamaForSequenceClassification` pools
  the last non-pad token, so the export scores exactly what we trained);
- process RM: the last token of every reasoning step (steps joined by a configurable delimiter); the
  model is causal, so step k's score sees only the question and steps 1..k.

Losses (`RewardObjective`), both per-unit sums for the training step:
- pointwise (default, Math-Shepherd / the paper's RMs): binary cross-entropy of σ(s) against the label
  y ∈ [0, 1] (hard 0/1 or soft Monte-Carlo labels), L = Σ_i m_i · BCE(s_i, y_i) / Σ_i m_i over scored
  positions;
- pairwise (Bradley-Terry, InstructGPT / TRL's RewardTrainer): rows 2j and 2j+1 of a micro-batch are
  a (chosen, rejected) pair of solutions to one question, L = -Σ_j log σ(s_2j − s_2j+1) / #pairs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from training.objectives import Batch, Metrics, model_inputs

LossKind = Literal["pointwise", "pairwise"]


class ScalarHead(torch.nn.Module):
    """Takes `GPTModel.output_layer`'s place: hidden [s, b, h] -> (scores [s, b, 1], None).

    Its weight keeps the name `output_layer.weight` (megatron's checkpointing expects that key) with
    shape [1, h]; it is replicated on every tensor-parallel rank (the final hidden states are whole on
    every rank), so its gradient is already complete there and megatron counts it once in the norm."""

    def __init__(self, hidden_size: int, std: float | None = None, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)  # identical on every rank without a broadcast
        std = std if std is not None else 1.0 / (hidden_size + 1) ** 0.5
        self.weight = torch.nn.Parameter(torch.randn(1, hidden_size, generator=generator) * std)

    def forward(self, hidden: torch.Tensor, weight=None, runtime_gather_output=None):
        return F.linear(hidden, self.weight.to(hidden.dtype)), None


def attach_scalar_head(model, std: float | None = None, seed: int = 0) -> None:
    """Replace the LM head of an (unwrapped) megatron `GPTModel` by a `ScalarHead`, on the last pipeline
    stage (other stages have no head). Call before DDP wraps the model (`training.loop.run(adapt_model=)`)."""
    if getattr(model, "post_process", False):
        device = next(model.parameters()).device
        model.output_layer = ScalarHead(model.config.hidden_size, std, seed).to(device)


def scores_at(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values [b, s] (one score per position), index [b, k] -> the scores at those positions [b, k]."""
    return torch.gather(values, 1, index)


def bce_sum(scores: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ m · BCE(σ(s), y): -(y log σ(s) + (1-y) log(1-σ(s))), numerically stable in the logits."""
    return (F.binary_cross_entropy_with_logits(scores, targets, reduction="none") * mask).sum()


def bradley_terry_sum(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Σ_j -log σ(s_chosen_j − s_rejected_j)."""
    return -F.logsigmoid(chosen - rejected).sum()


class RewardObjective:
    """The reward-model `Objective` (`training.objectives`). Micro-batch keys besides `tokens`
    [b, s+1]: `score_index` [b, k] (positions in the input, 0..s-1), `score_mask` [b, k] (1 = a real
    position) and, for pointwise, `score_target` [b, k] in [0, 1]."""

    def __init__(self, loss: LossKind = "pointwise"):
        if loss not in ("pointwise", "pairwise"):
            raise ValueError(f"reward-model loss {loss!r}: expected 'pointwise' or 'pairwise'")
        self.kind = loss

    def forward(self, model, batch: Batch) -> torch.Tensor:
        inputs, _, positions, mask = model_inputs(batch)
        return model(inputs, positions, mask)  # last stage: [b, s, 1]; others: hidden states

    def loss(self, output: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, Metrics]:
        scores = scores_at(output[..., 0].float(), batch["score_index"])
        mask = batch["score_mask"].float()
        if self.kind == "pointwise":
            targets = batch["score_target"].float()
            total = bce_sum(scores, targets, mask)
            count = mask.sum()
            right = (((scores > 0).float() == (targets > 0.5).float()).float() * mask).sum()
        else:
            chosen, rejected = scores[0::2, 0], scores[1::2, 0]
            total = bradley_terry_sum(chosen, rejected)
            count = torch.tensor(float(chosen.numel()), device=scores.device)
            right = (chosen > rejected).float().sum()
        metrics = {"loss": torch.stack([total.detach(), count]), "accuracy": torch.stack([right.detach(), count])}
        return total, count.to(torch.int), metrics


def collate(examples: Sequence[tuple[Sequence[int], Sequence[int], Sequence[float]]], pad_id: int,
            length: int | None = None) -> Batch:
    """(token ids, scored positions, targets) per row -> a micro-batch: `tokens` padded on the right to
    `length` + 1 (default: the longest row + 1; the last column is never an input), positions and targets
    padded with masked zeros."""
    seq = length or max(len(ids) for ids, _, _ in examples)
    k = max(len(ends) for _, ends, _ in examples)
    tokens = torch.full((len(examples), seq + 1), pad_id, dtype=torch.long)
    index = torch.zeros(len(examples), k, dtype=torch.long)
    target = torch.zeros(len(examples), k)
    mask = torch.zeros(len(examples), k)
    for row, (ids, ends, targets) in enumerate(examples):
        if len(ids) > seq:
            raise ValueError(f"row {row}: {len(ids)} tokens, longer than {seq}")
        tokens[row, : len(ids)] = torch.tensor(ids)
        index[row, : len(ends)] = torch.tensor(ends)
        target[row, : len(targets)] = torch.tensor(targets, dtype=torch.float)
        mask[row, : len(ends)] = 1.0
    return {"tokens": tokens, "score_index": index, "score_target": target, "score_mask": mask}


@torch.no_grad()
def score_batches(model, batches: Sequence[Batch]) -> list[torch.Tensor]:
    """Forward only, through megatron's schedule (any TP/PP layout): the scores at `score_index` of each
    micro-batch, [b, k] per batch, on every rank (broadcast from the last pipeline stage)."""
    import torch.distributed as dist
    from megatron.core import parallel_state as ps
    from megatron.core.pipeline_parallel import get_forward_backward_func

    from training import cpu_compat

    device = cpu_compat.default_device()
    batches = [{key: value.to(device) for key, value in b.items()} for b in batches]
    objective = RewardObjective()

    def forward_step(data_iterator, model):
        batch = next(data_iterator)
        return objective.forward(model, batch), lambda out, non_loss_data=True: scores_at(
            out[..., 0].float(), batch["score_index"])

    was_training = model.training
    model.eval()
    try:
        results = get_forward_backward_func()(
            forward_step_func=forward_step, data_iterator=iter(batches), model=[model],
            num_microbatches=len(batches), seq_length=batches[0]["tokens"].shape[1] - 1,
            micro_batch_size=batches[0]["tokens"].shape[0], forward_only=True, collect_non_loss_data=True,
        )
    finally:
        model.train(was_training)
    if ps.get_pipeline_model_parallel_world_size() > 1:
        shapes = [b["score_index"].shape for b in batches]
        results = list(results) if ps.is_pipeline_last_stage() else [torch.empty(s, device=device) for s in shapes]
        last = ps.get_pipeline_model_parallel_last_rank()
        for tensor in results:
            dist.broadcast(tensor, last, group=ps.get_pipeline_model_parallel_group())
    return [r.cpu() for r in results]


READING_FILE = "mathforge_reward.json"  # beside the HF export: how the reward model reads a solution


def export_reward_model_hf(full: dict[str, torch.Tensor], cfg, folder: str | Path,
                           tokenizer_dir: str | Path | None = None, reading: dict | None = None) -> Path:
    """A full megatron reward-model state dict -> a Hugging Face `LlamaForSequenceClassification`
    folder (num_labels 1, `score.weight` = our head; pad = end-of-text, so HF pools the last real token).
    `reading` ({"kind", "prompt", "step_delimiter"}: how training rendered a solution) goes to
    `READING_FILE`, so that whoever serves the model renders solutions the same way."""
    from mathforge.io import atomic_write_text
    from training import hf_checkpoint

    head = full["output_layer.weight"]
    if head.shape[0] != 1:
        raise ValueError(f"output_layer.weight has shape {tuple(head.shape)}: not a reward model's scalar head")
    hf = hf_checkpoint.megatron_to_hf(full, cfg)  # the head comes back as lm_head.weight
    hf["score.weight"] = hf.pop("lm_head.weight")
    folder = hf_checkpoint.save_hf(folder, hf, cfg, tokenizer_dir)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config.update(architectures=["LlamaForSequenceClassification"], num_labels=1,
                  id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0}, pad_token_id=config["eos_token_id"])
    atomic_write_text(folder / "config.json", json.dumps(config, indent=2) + "\n")
    if reading is not None:
        atomic_write_text(folder / READING_FILE, json.dumps(reading, indent=2) + "\n")
    return folder


def reward_model_reading(folder: str | Path) -> dict:
    """The `reading` an export was written with ({} for a folder without one, e.g. a third-party RM)."""
    path = Path(folder) / READING_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
