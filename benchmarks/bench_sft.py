"""SFT performance, side by side with the reference:
  step     the SFT step (packed sequences: loss mask; optionally document-aware attention masks) against
           the pretraining step on the same tokens (training.step.train_step, one process, tiny GPT);
  packing  non-pad share of the token slots, random packing (the paper's) against one sample per
           padded sequence, on generated and (when ../shared is present) real SFT data;
  build    data-build throughput (examples/s, programs executed in the sandbox, graded), against
           conversion alone; with --real also the real train splits with decontamination counts.

    .venv/bin/python benchmarks/bench_sft.py step [--steps 20] [--threads 1]
    .venv/bin/python benchmarks/bench_sft.py packing [--seq 4096]
    .venv/bin/python benchmarks/bench_sft.py build [--items 300] [--real]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_train import time_interleaved

from training.sft import converters
from training.sft.synthetic import draw_items

SHARED = Path(os.environ.get("MATHFORGE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
TRAIN = SHARED / "data" / "train"
REAL = {"gsm8k": "gsm8k/train.jsonl", "math": "math/train", "tora": "tora/examples.jsonl",
        "ape210k": "ape210k/valid.ape.json"}


def real_examples() -> dict[str, list]:
    if not TRAIN.is_dir():
        print(f"(real data not found at {TRAIN}: generated data only)")
        return {}
    return {kind: converters.convert(kind, converters.local_records(kind, TRAIN / path)).examples
            for kind, path in REAL.items()}


def _sft_batches(tokenizer, seq: int, micro: int, accum: int, document_aware: bool):
    from training.sft.encode import encode_conversation
    from training.sft.packing import collate, pack_random, pack_row

    examples = converters.synthetic_examples(draw_items(400, seed=0))
    samples = [encode_conversation(e.messages, tokenizer) for e in examples]
    samples = [s for s in samples if len(s) <= seq + 1]
    bins = pack_random([len(s) for s in samples], seq + 1, seed=0)
    rows = [pack_row([samples[i] for i in b], seq, tokenizer.eos_id) for b in bins[: micro * accum]]
    return [collate(rows[m * micro:(m + 1) * micro], document_aware) for m in range(accum)]


def bench_step(args) -> None:
    from training.model import ModelConfig, build_model
    from training.parallel import ParallelConfig, distributed
    from training.step import OptimizerConfig, build_optimizer, train_step, wrap_model
    from training.tokenizer import train_bpe

    cfg = ModelConfig(num_layers=2, hidden_size=128, num_attention_heads=2, ffn_hidden_size=344, vocab_size=512,
                      seq_length=args.seq)
    texts = [e.solution for e in converters.synthetic_examples(draw_items(200, seed=1))]
    tokenizer = train_bpe(texts, 512, Path(tempfile.mkdtemp()) / "tok")
    plain = _sft_batches(tokenizer, args.seq, args.micro, args.accum, document_aware=False)
    aware = _sft_batches(tokenizer, args.seq, args.micro, args.accum, document_aware=True)
    variants = {"pretraining step (tokens only)": [{"tokens": b["tokens"]} for b in plain],
                "SFT step (loss mask)": plain, "SFT step (mask + document-aware)": aware}
    with distributed(ParallelConfig(), seed=0):
        fns = {}
        for name, batches in variants.items():
            model = wrap_model(build_model(cfg), OptimizerConfig())
            optimizer = build_optimizer(model, OptimizerConfig())
            fns[name] = lambda m=model, o=optimizer, b=batches: train_step(m, o, b, 1e-4)
        times = time_interleaved(fns, args.steps)
    tokens = args.micro * args.accum * args.seq
    base = statistics.median(times["pretraining step (tokens only)"])
    print(f"tiny GPT 2x128, seq {args.seq}, {tokens} tokens/step, {args.steps} steps, threads {torch.get_num_threads()}")
    print(f"| {'variant':<34} | {'median ms/step':>14} | {'tokens/s':>9} | {'overhead':>8} |")
    print(f"|{'-' * 36}|{'-' * 16}|{'-' * 11}|{'-' * 10}|")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"| {name:<34} | {med * 1e3:>14.1f} | {tokens / med:>9.0f} | {(med / base - 1) * 100:>7.1f}% |")


def bench_packing(args) -> None:
    from evaluation.chat_template import chat_prompt
    from training.sft.encode import encode_conversation
    from training.sft.packing import pack_random, packing_efficiency
    from training.tokenizer import train_bpe

    sets = {"generated (synthetic, 3 formats)": converters.synthetic_examples(draw_items(2000, seed=0))}
    for kind, examples in real_examples().items():
        sets[f"real {kind}"] = examples
    texts = [chat_prompt(e.messages, add_generation_prompt=False) for examples in sets.values() for e in examples]
    tokenizer = train_bpe(texts, args.vocab, Path(tempfile.mkdtemp()) / "tok")
    print(f"byte-level BPE with {args.vocab} tokens trained on these texts; sequences of {args.seq} tokens; "
          f"dynamic padding: batches of {args.micro * args.accum} samples in random order, padded to their longest")
    print(f"| {'data':<34} | {'samples':>7} | {'mean tokens':>11} | {'padded to max':>13} | {'dynamic padding':>15} |"
          f" {'packed':>7} | {'sequences padded/packed':>23} |")
    print(f"|{'-' * 36}|{'-' * 9}|{'-' * 13}|{'-' * 15}|{'-' * 17}|{'-' * 9}|{'-' * 25}|")
    for name, examples in sets.items():
        lengths = [min(len(encode_conversation(e.messages, tokenizer)), args.seq + 1) for e in examples]
        eff = packing_efficiency(lengths, pack_random(lengths, args.seq + 1, seed=0), args.seq)
        dynamic = _dynamic_padding(lengths, args.micro * args.accum)
        print(f"| {name:<34} | {len(lengths):>7} | {statistics.mean(lengths):>11.0f} | {eff['padded']:>13.1%} | "
              f"{dynamic:>15.1%} | {eff['packed']:>7.1%} | {eff['sequences_padded']:>11} / {eff['sequences_packed']:<9} |")


def _dynamic_padding(lengths: list[int], batch: int) -> float:
    """Non-pad share when random batches of `batch` samples are padded to their longest sample."""
    order = np.random.default_rng(0).permutation(len(lengths))
    batches = [[lengths[i] for i in order[k:k + batch]] for k in range(0, len(order), batch)]
    return sum(lengths) / sum(len(b) * max(b) for b in batches)


def bench_build(args) -> None:
    from corpus.config import DecontamConfig
    from evaluation.sandbox import SandboxConfig
    from training.sft.build import BuildConfig, SourceConfig, build_dataset, source_examples

    sources = [SourceConfig("synthetic", "synthetic", count=args.items, seed=0)]
    decontam = DecontamConfig(enabled=False)
    if args.real and TRAIN.is_dir():
        sources += [SourceConfig(kind, kind, str(TRAIN / path)) for kind, path in REAL.items()]
        decontam = DecontamConfig(enabled=True, benchmarks_root=str(SHARED / "data" / "benchmarks"))
    cfg = BuildConfig(out_dir=Path(tempfile.mkdtemp()) / "sft", sources=sources, decontam=decontam,
                      sandbox=SandboxConfig(workers=args.workers))
    began = time.perf_counter()
    converted = {s.name: len(source_examples(s).examples) for s in sources}
    convert_s = time.perf_counter() - began
    began = time.perf_counter()
    summary = build_dataset(cfg)
    build_s = time.perf_counter() - began
    total = sum(converted.values())
    print(f"sandbox workers {args.workers}; decontamination {'on (every benchmark)' if decontam.enabled else 'off'}")
    print(f"| {'step':<40} | {'examples':>8} | {'seconds':>8} | {'examples/s':>10} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 10}|{'-' * 12}|")
    print(f"| {'conversion only (reference)':<40} | {total:>8} | {convert_s:>8.1f} | {total / convert_s:>10.0f} |")
    print(f"| {'build: decontaminate + execute + grade':<40} | {total:>8} | {build_s:>8.1f} | {total / build_s:>10.1f} |")
    print()
    print(f"| {'source':<10} | counts |")
    print(f"|{'-' * 12}|--------|")
    for name, counts in summary["sources"].items():
        print(f"| {name:<10} | {counts} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["step", "packing", "build"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--micro", type=int, default=4)
    parser.add_argument("--accum", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--real", action="store_true", help="also build the real train splits (../shared)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    {"step": bench_step, "packing": bench_packing, "build": bench_build}[args.what](args)


if __name__ == "__main__":
    main()
