"""The synthetic-task GRPO experiment on CPU: a tiny model is fine-tuned on chain-of-thought solutions
(a warm-up SFT, a `training.loop` stage with next-token loss on the response tokens), evaluated on a
held-out split, trained with GRPO, evaluated again. Used by the test, the benchmark and `just grpo-demo`.

GRPO needs a policy that is right sometimes but not always (all-wrong and all-right groups carry no
signal): 1,500 steps of 32 questions (digits one token each) give about 40% held-out greedy accuracy
(benchmarks/RESULTS.md). The warm-up is a second, minimal SFT loop (the `training.loop` stage with a
masked next-token loss on unpacked rows) rather than `training.sft`, whose pipeline (pretraining,
data build with sandboxed verification, packing) takes far longer than an RL test or benchmark can
spend; prompts are the evaluation's chat prompts, so SFT, GRPO and evaluation see the same text.
`train_synthetic_reward_model` trains an outcome or process RM from the warm-up model on correct and
corrupted solutions whose first wrong step is known (`training.rl.synthetic_steps`).
`evaluate_policy` reports greedy accuracy and, from K samples per question, Pass@K and Maj@K (the
evaluation package's exact estimators); the paper's finding is that RL lifts Maj@K more than Pass@K.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from evaluation.benchmarks import BenchmarkItem
from evaluation.metrics import summarize_samples
from evaluation.prompts import Style
from training import loop
from training.model import ModelConfig
from training.objectives import NextToken
from training.parallel import ParallelConfig
from training.rl.prompts import prompt_text, synthetic_items
from training.rl.rewards import RuleBasedReward
from training.rl.rollout import RolloutConfig, VLLMRolloutEngine
from training.step import OptimizerConfig
from training.tokenizer import load_tokenizer, train_bpe

TINY_MODEL = ModelConfig(num_layers=2, hidden_size=128, num_attention_heads=2, ffn_hidden_size=256,
                         vocab_size=512, seq_length=160)  # head_dim 64: vLLM's CPU kernels need it


@dataclass
class WarmupConfig:
    model: ModelConfig = field(default_factory=lambda: TINY_MODEL)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(weight_decay=0.0))
    train: loop.RunConfig = field(default_factory=loop.RunConfig)
    steps: int = 1500  # 300 left the policy right on 7% of held-out questions (digit tokens), 1500 on 42%
    batch_size: int = 32
    lr: float = 3e-3


def _sft_rows(items: Sequence[BenchmarkItem], solutions: dict[str, str], tokenizer, length: int
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, length] tokens (BOS + prompt + " " + solution + EOS, right-padded) and [N, length−1] label masks
    (1 on the solution and EOS labels)."""
    tokens = torch.full((len(items), length), tokenizer.eos_id, dtype=torch.long)
    mask = torch.zeros(len(items), length - 1)
    for row, item in enumerate(items):
        prompt = [tokenizer.bos_id] * (tokenizer.bos_id is not None) + tokenizer.encode(prompt_text(item, "cot"))
        answer = tokenizer.encode(" " + solutions[item.item_id]) + [tokenizer.eos_id]
        ids = (prompt + answer)[:length]
        tokens[row, : len(ids)] = torch.tensor(ids)
        mask[row, len(prompt) - 1 : len(ids) - 1] = 1.0
    return tokens, mask


def warm_up(folder: Path, train_count: int = 2000, seed: int = 0, langs: Sequence[str] = ("en",),
            cfg: WarmupConfig | None = None) -> Path:
    """Tokenizer + short SFT on the synthetic train split; returns the HF export folder."""
    from training.sft.synthetic import heldout_split

    cfg = cfg or WarmupConfig()
    folder = Path(folder)
    cfg.train.run_dir, cfg.train.save_every, cfg.train.seed = folder / "sft", 0, seed
    train, _ = heldout_split(train_count, 200, seed, langs)  # type: ignore[arg-type]
    items = synthetic_items(train_count, seed, 200, "train", langs)
    solutions = {i.item_id: i.solution("cot") for i in train}
    texts = [prompt_text(item, "cot") + " " + solutions[item.item_id] for item in items]
    tokenizer = train_bpe(texts, cfg.model.vocab_size, folder / "tokenizer")
    tokens, mask = _sft_rows(items, solutions, load_tokenizer(folder / "tokenizer"), cfg.model.seq_length + 1)

    def make_stage(run: loop.Run) -> loop.Stage:
        from megatron.core import parallel_state as ps

        dp, rank = ps.get_data_parallel_world_size(), ps.get_data_parallel_rank()

        def batches(step: int):
            rows = [(step * cfg.batch_size + j) % len(items) for j in range(rank, cfg.batch_size, dp)]
            return [{"tokens": tokens[rows], "loss_mask": mask[rows]}]

        return loop.Stage(name="sft-warmup", total_steps=cfg.steps, batches=batches, objective=NextToken(),
                          lr=lambda step: cfg.lr * (1 - step / cfg.steps) + 1e-4, tokenizer_dir=folder / "tokenizer")

    assert tokenizer.vocab_size <= cfg.model.vocab_size
    return Path(loop.run(cfg, make_stage)["hf"])


def evaluate_policy(model_dir: Path, items: Sequence[BenchmarkItem], k: int = 8, temperature: float = 0.7,
                    max_new_tokens: int = 96, seed: int = 0, style: Style = "cot") -> dict[str, float | list[float]]:
    """Greedy accuracy, Pass@K and Maj@K (K samples per question at `temperature`) of an HF checkpoint,
    graded as GRPO's rule-based reward grades (`style`); per question too (greedy right, share of samples
    right), for paired comparisons of two models."""
    prompts = [prompt_text(item, style) for item in items]
    engine = VLLMRolloutEngine(RolloutConfig(group_size=k, max_new_tokens=max_new_tokens, temperature=temperature,
                                             seed=seed), str(model_dir))
    grader = RuleBasedReward(style=style)
    try:
        sampled = engine.generate(items, prompts, step=0)
        engine.cfg.group_size, engine.cfg.temperature = 1, 0.0
        greedy = engine.generate(items, prompts, step=0)
        flat, correct = grader.grade(sampled)
        greedy_correct = grader.correct(greedy)
    finally:
        grader.close()
        engine.close()
    answers = [flat[q * k : (q + 1) * k] for q in range(len(items))]
    verdicts = [correct[q * k : (q + 1) * k] for q in range(len(items))]
    summary = summarize_samples(answers, verdicts)
    return {"greedy_accuracy": sum(greedy_correct) / len(items), "sample_accuracy": sum(correct) / len(correct),
            f"pass@{k}": summary["pass_at_k"][k], f"maj@{k}": summary["maj_at_k"][k],
            "greedy_per_question": [float(c) for c in greedy_correct],
            "sampled_per_question": [sum(v) / k for v in verdicts]}


def train_synthetic_reward_model(folder: Path, sft_hf: Path, kind: Literal["outcome", "process"], seed: int = 0,
                                 train_count: int = 1500, model: ModelConfig = TINY_MODEL, lr: float = 1e-4,
                                 epochs: float = 2.0, fmt: Literal["cot", "pot"] = "cot",
                                 langs: Sequence[str] = ("en",)) -> Path:
    """An ORM or PRM (`mathforge train rm`'s stage) from an SFT export, `epochs` at `lr` on each training
    item's correct solution in format `fmt` plus one corrupted copy (`heldout_split`'s train stream in
    `langs`: never the held-out questions), read after the policy's prompt for `fmt`; returns its HF
    export folder."""
    from training.reward_training import (
        RewardDataConfig,
        RewardModelConfig,
        RewardTrainConfig,
        train_reward_model,
    )
    from training.rl.synthetic_steps import labelled_solutions
    from training.sft.synthetic import heldout_split

    train_items, _ = heldout_split(train_count, 200, seed, langs)  # type: ignore[arg-type]
    cfg = RewardModelConfig(model=model, data=RewardDataConfig(tokenizer_dir=sft_hf, prompt=fmt),
                            train=RewardTrainConfig(run_dir=Path(folder), kind=kind, epochs=epochs, global_batch=32,
                                                    micro_batch_size=32, lr=lr, warmup_steps=10, init_from_hf=sft_hf,
                                                    save_every=0, seed=seed))
    cfg.optimizer.weight_decay = 0.0
    return Path(train_reward_model(cfg, labelled_solutions(train_items, seed=seed, wrong_per_item=1, fmt=fmt))["hf"])
