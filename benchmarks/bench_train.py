"""Our training step (training.step.train_step: megatron schedules, megatron DDP + finalize_model_grads,
megatron's optimizer with grad-norm and clipping; on CPU through training/cpu_compat's CPU-as-CUDA
TorchFunctionMode) vs a bare megatron-core GPT forward/backward + torch AdamW loop on the same tiny
GPT, side by side (target: < 10%).

    .venv/bin/python benchmarks/bench_train.py [--steps 30] [--micro 16] [--accum 4] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from training.model import ModelConfig, build_model, causal_inputs
from training.parallel import ParallelConfig, distributed
from training.step import OptimizerConfig, build_optimizer, train_step, wrap_model


def bare_step(model, optimizer, batches) -> float:
    """The reference: plain loop over micro-batches, mean loss, backward, AdamW."""
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for batch in batches:
        tokens, labels = batch[:, :-1], batch[:, 1:]
        loss = model(tokens, *causal_inputs(tokens), labels=labels).mean() / len(batches)
        loss.backward()
        total += loss.item()
    optimizer.step()
    return total


def time_interleaved(fns: dict, steps: int, warmup: int = 3) -> dict[str, list[float]]:
    """Alternate the variants step by step, so that load from other processes hits both alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(warmup + steps):
        for name, fn in fns.items():
            began = time.perf_counter()
            fn()
            if i >= warmup:
                times[name].append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--micro", type=int, default=16)
    parser.add_argument("--accum", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = ModelConfig(num_layers=2, hidden_size=128, num_attention_heads=2, ffn_hidden_size=344, vocab_size=512,
                      seq_length=64)
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, cfg.vocab_size, (args.micro, cfg.seq_length + 1), generator=gen)
               for _ in range(args.accum)]
    tokens = args.micro * args.accum * cfg.seq_length
    with distributed(ParallelConfig(), seed=0):
        variants = {}
        for name in ("bare megatron-core loop", "mathforge train_step"):
            model = build_model(cfg)
            if name.startswith("bare"):
                optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
                variants[name] = lambda m=model, o=optimizer: bare_step(m, o, batches)
            else:
                model = wrap_model(model, OptimizerConfig())
                optimizer = build_optimizer(model, OptimizerConfig())
                variants[name] = lambda m=model, o=optimizer: train_step(m, o, batches, 1e-3)
        results = time_interleaved(variants, args.steps)
    base = statistics.median(results["bare megatron-core loop"])
    print(f"tiny GPT ({cfg.num_layers}x{cfg.hidden_size}, seq {cfg.seq_length}), {tokens} tokens/step, "
          f"{args.steps} steps, torch threads {torch.get_num_threads()}")
    print(f"| {'variant':<24} | {'median ms/step':>14} | {'tokens/s':>9} | {'overhead':>8} |")
    print(f"|{'-' * 26}|{'-' * 16}|{'-' * 11}|{'-' * 10}|")
    for name, times in results.items():
        med = statistics.median(times)
        print(f"| {name:<24} | {med * 1e3:>14.1f} | {tokens / med:>9.0f} | {(med / base - 1) * 100:>7.1f}% |")


if __name__ == "__main__":
    main()
