"""Tiny pretraining in one call: tokenizer -> tokenised corpus -> pretraining -> HF export (the tests' shared
pretrained model), and the generated worked arithmetic that `mathforge demo` mixes into its pretraining.

Runs in one CPU process in well under three minutes: trains a byte-level BPE on a corpus's Parquet
`text` column (or on generated arithmetic text when there is no corpus), pretrains the tiny config
(configs/tiny/pretrain.toml) and exports a Hugging Face checkpoint with the tokenizer.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from pathlib import Path

from mathforge.config import load_config, toml_string
from mathforge.io import write_parquet_texts
from mathforge.log import get_logger

log = get_logger(__name__)
TINY_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tiny" / "pretrain.toml"


def synthetic_math_texts(n: int, seed: int = 0) -> list[str]:
    """Short worked arithmetic problems: structured enough that a tiny model's loss falls fast."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        op, value = rng.choice([("+", a + b), ("-", a - b), ("\\times", a * b)])
        texts.append(
            f"Problem: compute ${a} {op} {b}$.\nSolution: we have ${a} {op} {b} = {value}$. "
            f"The answer is $\\boxed{{{value}}}$."
        )
    return texts


def worked_problem_texts(n: int, seed: int, exclude: Collection[str] = ()) -> list[str]:
    """`n` generated word problems (`training.sft.synthetic`, stream `seed`, EN and ZH) with their chain of
    thought, as plain pretraining text ("Question: ...\nAnswer: ..."): the math a pretraining corpus holds,
    from which a tiny model learns to copy a question's numbers into its working before any SFT
    (benchmarks/RESULTS.md, SFT round 3). Questions in `exclude` (an evaluation split) are skipped."""
    from training.sft.synthetic import draw_item

    texts: list[str] = []
    index = 0
    while len(texts) < n:
        item = draw_item(seed, index, ("en", "zh")[index % 2])
        index += 1
        if item.question in exclude:
            continue
        head = f"问题：{item.question}\n解答：" if item.lang == "zh" else f"Question: {item.question}\nAnswer: "
        texts.append(head + item.solution("cot"))
    return texts


def run_demo_stage(run_dir: Path, corpus_dir: Path | None, steps: int = 40) -> dict:
    """Tokenizer, pretraining and export under `run_dir`; returns losses (first, last) and the HF path."""
    from training.data import parquet_files, parquet_texts
    from training.metrics import read_metrics
    from training.pretrain import PretrainConfig, pretrain
    from training.tokenizer import train_bpe

    run_dir = Path(run_dir)
    if corpus_dir is None or not parquet_files([Path(corpus_dir)]):
        corpus_dir = run_dir / "corpus"
        write_parquet_texts(corpus_dir / "part0.parquet", synthetic_math_texts(2000))
        log.info("no corpus given: generated 2000 arithmetic documents in %s", corpus_dir)
    cfg = load_config(PretrainConfig, TINY_CONFIG, [
        f"data.tokenizer_dir={toml_string(run_dir / 'tokenizer')}",
        f"data.tokenized_dir={toml_string(run_dir / 'tokenized')}",
        f"train.run_dir={toml_string(run_dir / 'pretrain')}",
        f"train.total_tokens={steps * 4096}",
        "train.save_every=0",
    ])
    cfg.data.sources[0].paths = [Path(corpus_dir)]
    tokenizer = train_bpe(parquet_texts(parquet_files([Path(corpus_dir)])), cfg.model.vocab_size, cfg.data.tokenizer_dir)
    print(f"[train] tokenizer: byte-level BPE with {tokenizer.vocab_size} tokens -> {cfg.data.tokenizer_dir}")
    summary = pretrain(cfg)
    losses = [r["loss"] for r in read_metrics(Path(summary["run_dir"]) / "metrics.jsonl")]
    print(f"[train] pretrained {summary['steps']} steps: loss {losses[0]:.3f} -> {losses[-1]:.3f}; "
          f"plot {summary['plot']}; HF export {summary['hf']}")
    return {"loss_first": losses[0], "loss_last": losses[-1], "steps": summary["steps"],
            "hf_dir": summary["hf"], "tokenizer": str(cfg.data.tokenizer_dir), "plot": summary["plot"]}
