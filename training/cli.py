"""`mathforge train ...`: tokenizer training and pretraining (heavy imports happen inside the commands)."""

from __future__ import annotations

import argparse
import json
import os

from mathforge.config import add_config_arguments
from training.rl.commands import add_reward_commands
from training.rl.grpo_cli import add_grpo_command


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True)
    tok = commands.add_parser(
        "tokenizer", help="train a byte-level BPE on the data sources' Parquet text (data.tokenizer_dir)",
        description="Train a small byte-level BPE tokenizer on the `text` column of every data source "
        "and write it to data.tokenizer_dir (tokenizer.json + tokenizer_config.json).",
    )
    add_config_arguments(tok)
    tok.add_argument("--vocab-size", type=int, default=None, help="default: model.vocab_size")
    tok.set_defaults(func=run_tokenizer)
    pre = commands.add_parser(
        "pretrain", help="tokenise the mixture and pretrain the megatron-core GPT (resumes if checkpointed)",
        description="Continued pretraining. Run as one process, or under torchrun for tensor/pipeline/data "
        "parallel (parallel.tensor, parallel.pipeline; data parallel = world / (tensor x pipeline)).",
    )
    add_config_arguments(pre)
    pre.set_defaults(func=run_pretrain)
    exp = commands.add_parser(
        "export", help="write a Hugging Face Llama checkpoint (with tokenizer) from a training checkpoint",
        description="Offline, in one process: merge the checkpoint's TP/PP shards and write config.json, "
        "model.safetensors and the tokenizer files (loadable by transformers and vLLM).",
    )
    add_config_arguments(exp)
    exp.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the run's latest)")
    exp.add_argument("--out", default=None, help="output folder (default: <train.run_dir>/hf)")
    exp.add_argument("--stage", choices=["pretrain", "sft"], default="pretrain", help="which stage's config CONFIG is")
    exp.set_defaults(func=run_export)
    sft_data = commands.add_parser(
        "sft-data", help="build the SFT dataset: convert, decontaminate, execute and verify (resumable)",
        description="Convert the [build] sources to SFT examples, drop benchmark-contaminated ones, run PoT and "
        "tool programs in the evaluation sandbox (tool outputs from the real run), grade against the gold "
        "answers, and write Parquet shards + summary.json to build.out_dir. A rerun skips finished shards.",
    )
    add_config_arguments(sft_data)
    sft_data.set_defaults(func=run_sft_data)
    sft = commands.add_parser(
        "sft", help="supervised fine-tuning on the built SFT data (resumes if checkpointed)",
        description="Packed SFT with the loss on assistant tokens only, from train.init_from_checkpoint or "
        "train.init_from_hf. One process, or under torchrun for tensor/pipeline/data parallel.",
    )
    add_config_arguments(sft)
    sft.set_defaults(func=run_sft)
    add_reward_commands(commands)  # rm, prm-label, grpo-iterative (training/rl/commands.py)
    add_grpo_command(commands)  # grpo (training/rl/grpo_cli.py)


def _load(args):
    from mathforge.config import load_config
    from training.pretrain import PretrainConfig

    return load_config(PretrainConfig, args.config, args.overrides)


def run_tokenizer(args) -> int:
    from training.data import parquet_files, parquet_texts
    from training.tokenizer import train_bpe

    cfg = _load(args)
    texts = (t for s in cfg.data.sources for t in parquet_texts(parquet_files(s.paths), s.text_column))
    tok = train_bpe(texts, args.vocab_size or cfg.model.vocab_size, cfg.data.tokenizer_dir)
    print(f"tokenizer with {tok.vocab_size} tokens written to {cfg.data.tokenizer_dir}")
    return 0


def run_pretrain(args) -> int:
    from training.pretrain import pretrain

    return run_stage(pretrain, _load(args))


def run_stage(stage, cfg, what: str = "training") -> int:
    """Run a training stage from a command: a stop (non-finite loss, failed weight sync: `TrainingStopped`)
    is one line and exit status 1; rank 0 prints the summary."""
    from training.loop import TrainingStopped

    try:
        summary = stage(cfg)
    except TrainingStopped as exc:
        print(f"mathforge: {what} stopped: {exc}")
        return 1
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(summary, indent=2))
    return 0


def run_export(args) -> int:
    from pathlib import Path

    from mathforge.config import ConfigError
    from training import checkpoint, hf_checkpoint

    cfg = _load_sft(args) if args.stage == "sft" else _load(args)
    folder = Path(args.checkpoint) if args.checkpoint else checkpoint.latest(cfg.train.run_dir)
    if folder is None:
        raise ConfigError(f"train.run_dir {cfg.train.run_dir}: no checkpoint to export")
    full = checkpoint.read_full_model(folder, cfg.model)
    out = Path(args.out) if args.out else cfg.train.run_dir / "hf"
    hf_checkpoint.save_hf(out, hf_checkpoint.megatron_to_hf(full, cfg.model), cfg.model, cfg.data.tokenizer_dir)
    print(f"exported {folder} -> {out}")
    return 0


def _load_sft(args):
    from mathforge.config import load_config
    from training.sft.stage import SFTConfig

    return load_config(SFTConfig, args.config, args.overrides)


def run_sft_data(args) -> int:
    from training.sft.build import build_dataset

    summary = build_dataset(_load_sft(args).build)
    print(json.dumps(summary["total"], indent=2))
    return 0


def run_sft(args) -> int:
    from training.sft.stage import sft

    return run_stage(sft, _load_sft(args))


def main(argv: list[str] | None = None) -> int:
    """`python -m training.cli pretrain CONFIG ...`: the `train` group alone, for torchrun and sbatch,
    so that every worker process skips importing the other packages' command groups."""
    import sys

    from mathforge.config import ConfigError
    from mathforge.log import setup_logging

    parser = argparse.ArgumentParser(prog="python -m training.cli", description="mathforge train, standalone")
    add_commands(parser)
    args = parser.parse_args(argv)
    setup_logging()
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"mathforge: config error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
