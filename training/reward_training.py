"""`mathforge train rm`: train an outcome or process reward model with the one training loop.

Data: step-labelled solutions (`training.rl.step_labels`: our JSONL, PRM800K, Math-Shepherd). Each is
rendered as `question_prompt` of its question (the policy's CoT or PoT chat prompt, `data.prompt`) followed by " " + the steps joined by
`data.step_delimiter`, and tokenised; the scored positions are the last token of every step (process)
or of the last step only (outcome, target = the last step's label: "does the solution reach the gold
answer"). Pairwise training pairs each correct solution of a question with a wrong one of the same
question (round robin), dropping questions without both.

Batches: `train.global_batch` units (solutions, or pairs) per step, drawn from a fresh seeded
permutation each epoch; the step index alone fixes the data, so a resumed run sees what the
uninterrupted one would have. LR: linear warm-up to `train.lr`, then constant (the paper: 2e-5).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mathforge.config import ConfigError
from mathforge.log import get_logger
from training import checkpoint, loop
from training.model import ModelConfig
from training.parallel import ParallelConfig
from training.reward_model import (
    LossKind,
    RewardObjective,
    attach_scalar_head,
    collate,
    export_reward_model_hf,
)
from training.rl.step_labels import LabelledSolution, LoadReport, PromptStyle, question_prompt, read_labelled
from training.step import OptimizerConfig

log = get_logger(__name__)

Example = tuple[list[int], list[int], list[float]]  # token ids, scored positions, targets


@dataclass
class RewardDataConfig:
    tokenizer_dir: Path = Path("runs/tokenizer")
    train_files: list[Path] = field(default_factory=list)  # JSONL in any `step_labels` format
    step_delimiter: str = "\n"  # the paper's reasoning steps are lines
    neutral: Literal["positive", "negative"] = "positive"  # PRM800K rating 0
    prompt: PromptStyle = "cot"  # the policy's CoT / PoT chat prompt, or the bare question turn


@dataclass
class RewardTrainConfig(loop.RunConfig):
    run_dir: Path = Path("runs/rm")
    kind: Literal["outcome", "process"] = "outcome"
    loss: LossKind = "pointwise"  # pairwise: Bradley-Terry on (correct, wrong) pairs; outcome only
    epochs: float = 1.0
    global_batch: int = 32  # solutions (pointwise) or pairs (pairwise) per step
    micro_batch_size: int = 8
    lr: float = 2e-5
    warmup_steps: int = 0
    head_seed: int = 0
    init_from_reward_model: Path | None = None  # continue a reward model (a run or checkpoint folder)


@dataclass
class RewardModelConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    data: RewardDataConfig = field(default_factory=RewardDataConfig)
    train: RewardTrainConfig = field(default_factory=RewardTrainConfig)


def step_ends(offsets: list[tuple[int, int]], char_ends: list[int]) -> list[int]:
    """Index of the token holding the last character of each span: the last token starting before it."""
    out, token = [], 0
    for end in char_ends:
        while token + 1 < len(offsets) and offsets[token + 1][0] < end:
            token += 1
        out.append(token)
    return out


def encode(tokenizer, solution: LabelledSolution, delimiter: str, kind: str, prompt: str = "cot") -> Example:
    """`question_prompt` + " " + steps joined by `delimiter` -> (ids, scored positions, targets)."""
    bos = [tokenizer.bos_id] if tokenizer.bos_id is not None else []  # as SFT data and vLLM prompts
    prompt = bos + tokenizer.encode(question_prompt(solution.question, prompt))
    response = " " + delimiter.join(solution.steps)
    encoding = tokenizer.inner.encode(response, add_special_tokens=False)
    char_ends, position = [], 1
    for i, step in enumerate(solution.steps):
        position += len(step) + (len(delimiter) if i else 0)
        char_ends.append(position)
    ends = [len(prompt) + e for e in step_ends(encoding.offsets, char_ends)]
    ids = prompt + list(encoding.ids)
    if kind == "outcome":
        return ids, ends[-1:], [solution.labels[-1]]
    return ids, ends, list(solution.labels)


def outcome_pairs(solutions: list[LabelledSolution]) -> list[tuple[LabelledSolution, LabelledSolution]]:
    """(correct, wrong) pairs per question, each correct one paired with the next wrong one in turn."""
    by_question: dict[str, tuple[list, list]] = {}
    for s in solutions:
        by_question.setdefault(s.question, ([], []))[0 if s.labels[-1] >= 0.5 else 1].append(s)
    return [(good, bad[i % len(bad)]) for good, bad in by_question.values() if bad for i, good in enumerate(good)]


def encode_units(cfg: RewardModelConfig, tokenizer, solutions: list[LabelledSolution]) -> list[list[Example]]:
    """Training units: one example per solution (pointwise) or a (chosen, rejected) pair; units longer
    than model.seq_length are dropped and counted."""
    delim, kind, prompt = cfg.data.step_delimiter, cfg.train.kind, cfg.data.prompt
    if cfg.train.loss == "pairwise":
        if kind != "outcome":
            raise ConfigError("train.loss = 'pairwise' needs train.kind = 'outcome'")
        units = [[encode(tokenizer, a, delim, kind, prompt), encode(tokenizer, b, delim, kind, prompt)]
                 for a, b in outcome_pairs(solutions)]
    else:
        units = [[encode(tokenizer, s, delim, kind, prompt)] for s in solutions]
    kept = [u for u in units if all(len(ids) <= cfg.model.seq_length for ids, _, _ in u)]
    if len(kept) < len(units):
        log.warning("%d of %d training units are longer than model.seq_length %d: skipped",
                    len(units) - len(kept), len(units), cfg.model.seq_length)
    if not kept:
        raise ConfigError("data.train_files: no training unit fits model.seq_length")
    return kept


def unit_order(count: int, step: int, batch: int, seed: int) -> list[int]:
    """Unit indices of global step `step`: position p = step*batch + i is unit perm_e[p % count] of
    epoch e = p // count (each epoch its own seeded permutation)."""
    out = []
    for p in range(step * batch, (step + 1) * batch):
        epoch, i = divmod(p, count)
        out.append(_permutation(count, seed, epoch)[i])
    return out


@functools.lru_cache(maxsize=4)
def _permutation(count: int, seed: int, epoch: int) -> tuple[int, ...]:
    perm = list(range(count))
    random.Random(f"{seed}/{epoch}").shuffle(perm)
    return tuple(perm)


def _stage(cfg: RewardModelConfig, units: list[list[Example]], pad_id: int, run: loop.Run) -> loop.Stage:
    from megatron.core import parallel_state as ps

    train = cfg.train
    dp, rank = ps.get_data_parallel_world_size(), ps.get_data_parallel_rank()
    if train.global_batch % (dp * train.micro_batch_size):
        raise ConfigError(f"train.global_batch {train.global_batch} must be a multiple of data-parallel size "
                          f"{dp} x train.micro_batch_size {train.micro_batch_size}")
    total = max(1, int(train.epochs * len(units)) // train.global_batch)
    length = cfg.model.seq_length if cfg.parallel.pipeline > 1 else None  # pipelines need one shape

    def batches(step: int) -> list:
        mine = unit_order(len(units), step, train.global_batch, train.seed)[rank::dp]
        return [collate([ex for u in mine[i:i + train.micro_batch_size] for ex in units[u]], pad_id, length)
                for i in range(0, len(mine), train.micro_batch_size)]

    def lr(step: int) -> float:
        return train.lr * min(1.0, (step + 1) / train.warmup_steps) if train.warmup_steps else train.lr

    return loop.Stage(name=f"rm-{train.kind}", total_steps=total, batches=batches,
                      objective=RewardObjective(train.loss), lr=lr, tokenizer_dir=cfg.data.tokenizer_dir)


def load_solutions(cfg: RewardModelConfig) -> list[LabelledSolution]:
    if not cfg.data.train_files:
        raise ConfigError("data.train_files: no step-label file given")
    report = LoadReport()
    solutions = [s for path in cfg.data.train_files for s in read_labelled(path, neutral=cfg.data.neutral, report=report)]
    if report.skipped:
        log.info("step labels: %d read, skipped %s", report.read, report.skipped)
    return solutions


def train_reward_model(cfg: RewardModelConfig, solutions: list[LabelledSolution] | None = None) -> dict:
    """Train (or resume) the reward model on `solutions` (default: `data.train_files`); returns the loop's
    summary, with `hf` (a `LlamaForSequenceClassification` folder) when `train.export_hf`."""
    from training.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(cfg.data.tokenizer_dir)
    units = encode_units(cfg, tokenizer, solutions if solutions is not None else load_solutions(cfg))
    fresh = checkpoint.latest(cfg.train.run_dir) is None

    def adapt(model) -> None:
        attach_scalar_head(model, seed=cfg.train.head_seed)
        if fresh and cfg.train.init_from_reward_model is not None:
            loop.load_model_weights(cfg.train.init_from_reward_model, model)

    inner = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, export_hf=False))
    summary = loop.run(inner, lambda run: _stage(cfg, units, tokenizer.eos_id, run), adapt_model=adapt)
    if cfg.train.export_hf and "stopped_at" not in summary:
        if int(os.environ.get("RANK", "0")) == 0:  # the process groups are gone: one writer
            full = checkpoint.read_full_model(Path(summary["checkpoint"]), cfg.model)
            reading = {"kind": cfg.train.kind, "prompt": cfg.data.prompt, "step_delimiter": cfg.data.step_delimiter}
            summary["hf"] = str(export_reward_model_hf(full, cfg.model, cfg.train.run_dir / "hf", cfg.data.tokenizer_dir,
                                                       reading))
    return summary

