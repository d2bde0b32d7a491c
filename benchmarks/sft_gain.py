"""Held-out synthetic accuracy before and after SFT (issue 11, generated data): the tiny recipe end to end.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sft_gain.py runs/sft-gain \\
        [--vocab 2048] [--pretrain-steps 400] [--sft-steps 600] [--lr 1e-3] [--items 4000] [--heldout 100]

1. `corpus/`: 2,000 generated arithmetic documents (`training.demo.synthetic_math_texts`) and `--problems`
   worked word problems in plain text (`training.demo.worked_problem_texts`, stream 7, held-out questions
   excluded): the math a pretraining corpus would hold;
2. `tokenizer/`: byte-level BPE of `--vocab` tokens on that corpus (digits one token each);
3. `pretrain/`: configs/tiny/pretrain.toml for `--pretrain-steps` steps of 4,096 tokens;
4. `sft-data/`: configs/tiny/sft.toml's build, `--items` items x cot/pot/tool, programs run in the sandbox;
5. `sft/`: configs/tiny/sft.toml from the pretraining checkpoint for `--sft-steps` at constant `--lr`;
6. both checkpoints evaluated the same way (`training.sft.heldout.evaluate_heldout`: chat prompts, greedy,
   the evaluation runner, sandbox for PoT) on the first `--heldout` items of each language of the
   held-out stream (seed 1, never trained on).
Every stage is skipped when its output exists (rerun to resume or re-print); prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from mathforge.config import load_config, toml_string
    from mathforge.io import write_parquet_texts
    from training.data import parquet_files, parquet_texts
    from training.demo import synthetic_math_texts, worked_problem_texts
    from training.pretrain import PretrainConfig, pretrain
    from training.sft.build import build_dataset
    from training.sft.heldout import evaluate_heldout
    from training.sft.stage import SFTConfig, sft
    from training.sft.synthetic import heldout_split
    from training.tokenizer import train_bpe

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--problems", type=int, default=4000)
    parser.add_argument("--pretrain-steps", type=int, default=400)
    parser.add_argument("--items", type=int, default=4000)
    parser.add_argument("--sft-steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--heldout", type=int, default=100, help="held-out items per language")
    args = parser.parse_args()
    out = args.out.resolve()
    _, test = heldout_split(0, 2 * args.heldout, seed=0)

    corpus = out / "corpus"
    if not (corpus / "part0.parquet").exists():
        texts = synthetic_math_texts(2000) + worked_problem_texts(args.problems, 7, {i.question for i in test})
        write_parquet_texts(corpus / "part0.parquet", texts)
    if not (out / "tokenizer" / "tokenizer.json").exists():
        train_bpe(parquet_texts(parquet_files([corpus])), args.vocab, out / "tokenizer")
    model = [f"model.vocab_size={args.vocab}", f"data.tokenizer_dir={toml_string(out / 'tokenizer')}"]
    if not (out / "pretrain" / "hf").exists():
        cfg = load_config(PretrainConfig, REPO / "configs/tiny/pretrain.toml", [
            *model, f"data.tokenized_dir={toml_string(out / 'tokenized')}", f"train.run_dir={toml_string(out / 'pretrain')}",
            f"train.total_tokens={args.pretrain_steps * 4096}", "train.save_every=100"])
        cfg.data.sources[0].paths = [corpus]
        pretrain(cfg)
    cfg = load_config(SFTConfig, REPO / "configs/tiny/sft.toml", [
        *model, f"data.dataset={toml_string(out / 'sft-data' / 'shards')}", f"build.out_dir={toml_string(out / 'sft-data')}",
        f"train.run_dir={toml_string(out / 'sft')}", f"train.init_from_checkpoint={toml_string(out / 'pretrain')}",
        f"train.steps={args.sft_steps}", f"train.lr={args.lr}", "train.save_every=100"])
    cfg.build.sources[0].count = args.items
    if not (out / "sft-data" / "summary.json").exists():
        build_dataset(cfg.build)

    def evaluated(slug: str, model_dir: Callable[[], Path]) -> dict[str, float]:
        """The held-out accuracies of one checkpoint, stored in `slug.json` (a rerun reads them back)."""
        stored = out / f"{slug}.json"
        if not stored.exists():
            stored.write_text(json.dumps(evaluate_heldout(model_dir(), test, out / f"eval-{slug}")))
        return json.loads(stored.read_text())

    results = {"pretrained": evaluated("pretrained", lambda: out / "pretrain" / "hf"),
               f"SFT {args.sft_steps} steps": evaluated(f"SFT_{args.sft_steps}_steps", lambda: Path(sft(cfg)["hf"]))}
    keys = ["synthetic_en/cot", "synthetic_zh/cot", "synthetic_en/pot", "synthetic_zh/pot"]
    print("| checkpoint | CoT EN | CoT ZH | PoT EN | PoT ZH |\n|---|---|---|---|---|")
    for name, acc in results.items():
        print(f"| {name} | " + " | ".join(f"{acc[k]:.2f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
