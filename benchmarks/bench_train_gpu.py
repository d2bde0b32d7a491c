"""GPU throughput of our training step: tokens/s, TFLOP/s and MFU of a ~1B-parameter Llama-shaped
model in bf16 (autocast over fp32 master weights) on one accelerator (issue 4 target: MFU >= 40% on
an H100; Megatron-LM reports 41-47%). Prints one table row per micro-batch size.

    .venv/bin/python benchmarks/bench_train_gpu.py [--peak-tflops 989] [--micro 1 2 4]
    .venv/bin/python benchmarks/bench_train_gpu.py --small   # a few-second smoke run on CPU

MFU = (6 N_non-embedding + 12 L h s) x tokens/s / peak FLOP/s (training.model.flops_per_token).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import torch

from training.model import ModelConfig, build_model, flops_per_token
from training.parallel import ParallelConfig, distributed
from training.step import OptimizerConfig, build_optimizer, train_step, wrap_model

ONE_B = ModelConfig(num_layers=16, hidden_size=2048, num_attention_heads=16, ffn_hidden_size=5504,
                    vocab_size=32768, seq_length=4096)
SMALL = ModelConfig(num_layers=2, hidden_size=128, num_attention_heads=2, ffn_hidden_size=344, vocab_size=512,
                    seq_length=64)


def measure(cfg: ModelConfig, micro: int, accum: int, steps: int, bf16: bool) -> float:
    """Median seconds per optimizer step (after 2 warm-up steps); the model is freed before it returns."""
    model = wrap_model(build_model(cfg, bf16=bf16), OptimizerConfig())
    optimizer = build_optimizer(model, OptimizerConfig())
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, cfg.vocab_size, (micro, cfg.seq_length + 1), generator=gen) for _ in range(accum)]
    times = []
    for i in range(steps + 2):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        began = time.perf_counter()
        train_step(model, optimizer, batches, lr=1e-4)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - began)
    # The model sits in reference cycles (config.no_sync_func = model.no_sync, set by train_step; megatron
    # DDP's gradient hooks), so `del` alone frees nothing until the cyclic GC happens to run: run it.
    del model, optimizer
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100 SXM 989)")
    parser.add_argument("--micro", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--accum", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--small", action="store_true", help="tiny model, fp32: a CPU smoke run")
    args = parser.parse_args()
    cfg = SMALL if args.small else ONE_B
    bf16 = torch.cuda.is_available() and not args.small
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"{device}: {cfg.num_parameters() / 1e9:.2f}B parameters ({cfg.num_layers}x{cfg.hidden_size}, "
          f"seq {cfg.seq_length}), {'bf16 autocast' if bf16 else 'fp32'}, {args.accum} micro-batches/step")
    print(f"| {'micro':>5} | {'s/step':>7} | {'tokens/s':>9} | {'TFLOP/s':>8} | {'MFU':>6} | {'GiB left after free':>19} |")
    print(f"|{'-' * 7}|{'-' * 9}|{'-' * 11}|{'-' * 10}|{'-' * 8}|{'-' * 21}|")
    with distributed(ParallelConfig(), seed=0):
        for micro in args.micro:
            seconds = measure(cfg, micro, args.accum, args.steps, bf16)
            tokens = micro * args.accum * cfg.seq_length / seconds
            tflops = flops_per_token(cfg) * tokens / 1e12
            left = f"{torch.cuda.memory_allocated() / 2**30:.2f}" if torch.cuda.is_available() else "-"
            print(f"| {micro:>5} | {seconds:>7.3f} | {tokens:>9.0f} | {tflops:>8.1f} | "
                  f"{tflops / args.peak_tflops:>6.1%} | {left:>19} |")


if __name__ == "__main__":
    main()
