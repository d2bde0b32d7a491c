"""Runs a few training steps of the tiny model under one parallel layout, from given weights or
from a checkpoint.

Imported by the tests for the single-process reference and launched by them under torchrun for
tensor/pipeline parallel 2; rank 0 writes the losses as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from training import checkpoint, hf_checkpoint
from training.model import ModelConfig, build_model
from training.parallel import ParallelConfig, distributed
from training.step import OptimizerConfig, build_optimizer, train_step, wrap_model

CFG = ModelConfig(num_layers=2, hidden_size=128, num_attention_heads=2, ffn_hidden_size=256, vocab_size=256, seq_length=32)
# grouped-query attention (8 heads, 2 KV heads), a non-default RoPE base and an odd vocabulary (padded to 256)
GQA_CFG = ModelConfig(num_layers=2, hidden_size=128, num_attention_heads=8, num_query_groups=2, ffn_hidden_size=256,
                      vocab_size=251, seq_length=32, rope_theta=500000.0)
CONFIGS = {"mha": CFG, "gqa": GQA_CFG}
MICRO, ACCUM = 2, 2


def pattern_batches(step: int, dp_rank: int, dp: int, cfg: ModelConfig = CFG) -> list[torch.Tensor]:
    """Learnable sequences x[t+1] = (5 x[t] + 3) mod V from random starts, fixed by (step, micro-batch);
    data-parallel rank r of dp gets rows [r B/dp, (r+1) B/dp) of each global micro-batch."""
    out = []
    per_rank = MICRO // dp
    for m in range(ACCUM):
        gen = torch.Generator().manual_seed(10_000 * step + m)
        seq = [torch.randint(0, cfg.vocab_size, (MICRO, 1), generator=gen)]
        for _ in range(cfg.seq_length):
            seq.append((seq[-1] * 5 + 3) % cfg.vocab_size)
        out.append(torch.cat(seq, dim=1)[dp_rank * per_rank : (dp_rank + 1) * per_rank])
    return out


def run_steps(full_state: dict[str, torch.Tensor] | None, steps: int, lr: float = 3e-3,
              distributed_optimizer: bool = False, overlap: bool = False, run_dir: Path | None = None,
              save_at: int | None = None, cfg: ModelConfig = CFG) -> list[list[float]]:
    """Train from `full_state` (or, when it is None, resume from `run_dir`'s latest checkpoint) under
    the current parallel_state layout; [loss, grad norm] per step (the norm is above clip_grad=1 here,
    so clipping acts and a wrong TP/PP norm would change the losses). With `save_at`, a checkpoint
    is written to `run_dir` after that many steps."""
    from megatron.core import parallel_state as ps

    model = build_model(
        cfg,
        tp=ps.get_tensor_model_parallel_world_size(),
        pp=ps.get_pipeline_model_parallel_world_size(),
        pre_process=ps.is_pipeline_first_stage(),
        post_process=ps.is_pipeline_last_stage(),
    )
    if full_state is not None:
        hf_checkpoint.load_into_model(model, full_state, cfg)
    opt_cfg = OptimizerConfig(clip_grad=1.0, use_distributed_optimizer=distributed_optimizer, overlap_grad_reduce=overlap)
    model = wrap_model(model, opt_cfg)
    optimizer = build_optimizer(model, opt_cfg)
    start = 0 if full_state is not None else checkpoint.load(checkpoint.latest(run_dir), model, optimizer)["step"]
    dp_rank, dp = ps.get_data_parallel_rank(), ps.get_data_parallel_world_size()
    results = []
    for step in range(start, start + steps):
        results.append(train_step(model, optimizer, pattern_batches(step, dp_rank, dp, cfg), lr=lr))
        if step + 1 == save_at:
            checkpoint.save(run_dir, step + 1, model, optimizer, {})
    return [[r.loss, r.grad_norm] for r in results]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tp", type=int, default=1)
    parser.add_argument("--pp", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--model", choices=sorted(CONFIGS), default="mha")
    parser.add_argument("--distributed-optimizer", action="store_true")
    parser.add_argument("--overlap-grad-reduce", action="store_true")
    parser.add_argument("--weights", type=Path, help="initial full state dict (else --resume)")
    parser.add_argument("--resume", type=Path, help="run folder whose latest checkpoint to continue from")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    full_state = torch.load(args.weights) if args.weights else None
    with distributed(ParallelConfig(tensor=args.tp, pipeline=args.pp), seed=0):
        losses = run_steps(full_state, args.steps, distributed_optimizer=args.distributed_optimizer,
                           overlap=args.overlap_grad_reduce, run_dir=args.resume, cfg=CONFIGS[args.model])
        if torch.distributed.get_rank() == 0:
            args.out.write_text(json.dumps(losses))


if __name__ == "__main__":
    main()
