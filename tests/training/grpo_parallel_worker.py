"""A few GRPO updates of the tiny model on fixed rollouts under one parallel layout; rank 0 writes the
loss and metrics of every step as JSON. Imported by the test for the one-process reference and run by
it under torchrun for tensor parallel 2. With --sync-bucket-mb: rank 0 writes the HF buckets the weight
sync would send (`training.rl.weight_sync.hf_buckets`) instead."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from training import hf_checkpoint
from training.model import ModelConfig, build_model
from training.parallel import ParallelConfig, distributed
from training.rl.batches import Sample, micro_batches, step_length
from training.rl.grpo import forward_logprobs
from training.rl.objective import GRPOLossConfig, GRPOObjective
from training.step import OptimizerConfig, build_optimizer, train_step, wrap_model

CFG = ModelConfig(num_layers=2, hidden_size=128, num_attention_heads=2, ffn_hidden_size=256, vocab_size=250,
                  seq_length=32)  # an odd vocabulary: padded rows must be masked out of π


def fixed_samples(n: int = 8, seed: int = 0) -> list[Sample]:
    """Ragged prompt/response pairs with group-normalised advantages and made-up sampler log-probs."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        p, r = int(torch.randint(3, 9, (1,), generator=gen)), int(torch.randint(2, 16, (1,), generator=gen))
        ids = torch.randint(0, CFG.vocab_size, (p + r,), generator=gen).tolist()
        adv = (1.0 if i % 3 == 0 else -0.5,) * r
        out.append(Sample(tuple(ids[:p]), tuple(ids[p:]), adv, tuple((-torch.rand(r, generator=gen) * 5).tolist())))
    return out


def run_updates(full_state: dict[str, torch.Tensor], steps: int = 3, mu: int = 1) -> list[dict[str, float]]:
    """`steps` GRPO updates on the same exploration stage (μ = `mu`: old log-probs from the start policy)."""
    from megatron.core import parallel_state as ps

    layout = {"tp": ps.get_tensor_model_parallel_world_size(), "pp": ps.get_pipeline_model_parallel_world_size(),
              "pre_process": ps.is_pipeline_first_stage(), "post_process": ps.is_pipeline_last_stage()}
    policy, reference = build_model(CFG, **layout), build_model(CFG, **layout)
    hf_checkpoint.load_into_model(policy, full_state, CFG)
    gen = torch.Generator().manual_seed(1)
    ref_state = {k: v + 0.01 * torch.randn(v.shape, generator=gen) for k, v in full_state.items()}
    hf_checkpoint.load_into_model(reference, ref_state, CFG)
    objective = GRPOObjective(GRPOLossConfig(), CFG.vocab_size, temperature=0.9)
    samples = fixed_samples()
    batches = micro_batches(samples, 4, step_length(samples), pad_id=0)
    for batch, ref in zip(batches, forward_logprobs(reference, batches, objective), strict=True):
        batch["ref_logprobs"] = ref
    if mu > 1:
        for batch, old in zip(batches, forward_logprobs(policy, batches, objective), strict=True):
            batch["old_logprobs"] = old
    opt_cfg = OptimizerConfig(clip_grad=1.0, weight_decay=0.0)
    model = wrap_model(policy, opt_cfg)
    optimizer = build_optimizer(model, opt_cfg)
    results = []
    for _ in range(steps):
        result = train_step(model, optimizer, batches, lr=1e-3, objective=objective)
        results.append({"loss": result.loss, "grad_norm": result.grad_norm, **result.metrics})
    return results


def sync_buckets(full_state: dict[str, torch.Tensor], bucket_mb: float) -> list[dict[str, torch.Tensor]]:
    """The weight sync's HF buckets of a model holding `full_state` (rank 0; [] elsewhere)."""
    from megatron.core import parallel_state as ps

    from training.rl.weight_sync import hf_buckets

    model = build_model(CFG, tp=ps.get_tensor_model_parallel_world_size(), pp=ps.get_pipeline_model_parallel_world_size(),
                        pre_process=ps.is_pipeline_first_stage(), post_process=ps.is_pipeline_last_stage())
    hf_checkpoint.load_into_model(model, full_state, CFG)
    return [b for b in hf_buckets(model, CFG, bucket_mb, torch.float32) if b]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tp", type=int, default=1)
    parser.add_argument("--pp", type=int, default=1)
    parser.add_argument("--sync-bucket-mb", type=float, default=None)
    parser.add_argument("--mu", type=int, default=1)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with distributed(ParallelConfig(tensor=args.tp, pipeline=args.pp), seed=0):
        if args.sync_bucket_mb is not None:
            buckets = sync_buckets(torch.load(args.weights), args.sync_bucket_mb)
            if torch.distributed.get_rank() == 0:
                torch.save(buckets, args.out)
            return
        results = run_updates(torch.load(args.weights), mu=args.mu)
        if torch.distributed.get_rank() == 0:
            args.out.write_text(json.dumps(results))


if __name__ == "__main__":
    main()
