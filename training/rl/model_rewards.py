"""Learned rewards for GRPO behind `training.rl.rewards.RewardSource`: outcome RM, process RM, and a
weighted combination of any sources (the rule-based grader included).

The reward model is the exported `LlamaForSequenceClassification` folder (`mathforge train rm`),
served by `RewardScorer` with transformers on a device of its own choosing (`device`: the trainer's,
or another accelerator), scoring every position in one forward pass: s_t = w · h_t, exactly what
megatron trained (tested to 1e-5).
- Outcome: the score at the response's last token (a trailing end-of-text token excluded).
- Process: the score at the last token of every step; steps are the response split at
  `step_delimiter` (empty steps merged into the next), found on the response's token ids through the
  byte-level BPE's bytes, so the step ends are positions in `response_ids` as GRPO needs them.
- Prompt: a reward model exported by `mathforge train rm` records how it read a solution
  (`reward_model_reading`); the response follows the question rendered in that prompt style, which may
  differ from the policy's (an RM trained on bare questions scoring a program-of-thought policy). Without
  that record the rollout's own prompt is scored.
`transform`: "sigmoid" gives σ(s) ∈ (0, 1) (the probability the RM was trained to output), "logit" s.

`RewardConfig` is GRPO's `[reward]` table: one sub-table per source (`rule`, `format`, `outcome_rm`,
`process_rm`), each with a `weight`; `build_reward_source` serves the sources whose weight is not 0,
alone or summed by `CombinedReward`. The reward models run in the trainer's (rank 0's) process.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from mathforge.config import ConfigError
from training.reward_model import reward_model_reading
from training.rl.rewards import (
    FormatReward,
    FormatRewardConfig,
    Reward,
    RewardSource,
    Rollout,
    RuleBasedReward,
    RuleRewardConfig,
)
from training.rl.step_labels import question_prompt


@dataclass
class RewardModelSourceConfig:
    weight: float = 1.0  # its share in a combined reward (`RewardConfig`); 0: unused
    path: Path = Path("runs/rm/hf")  # the exported reward model (`mathforge train rm` writes run_dir/hf)
    kind: Literal["outcome", "process"] = "outcome"
    step_delimiter: str = "\n"
    transform: Literal["sigmoid", "logit"] = "sigmoid"
    device: str = "cpu"
    batch_size: int = 16


class RewardScorer:
    """An exported reward model served by transformers: per-position scores of token sequences."""

    def __init__(self, path: str | Path, device: str = "cpu", batch_size: int = 16):
        from transformers import AutoModelForSequenceClassification

        self.model = AutoModelForSequenceClassification.from_pretrained(str(path), torch_dtype=torch.float32)
        self.model.to(device).eval()
        self.device, self.batch_size = device, batch_size

    @torch.no_grad()
    def position_scores(self, sequences: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        """One score per position of each sequence (right-padded batches, causal: padding is never seen)."""
        out: list[torch.Tensor] = []
        for i in range(0, len(sequences), self.batch_size):
            chunk = sequences[i:i + self.batch_size]
            length = max(len(s) for s in chunk)
            ids = torch.zeros(len(chunk), length, dtype=torch.long)
            mask = torch.zeros(len(chunk), length, dtype=torch.long)
            for row, seq in enumerate(chunk):
                ids[row, : len(seq)] = torch.tensor(list(seq))
                mask[row, : len(seq)] = 1
            hidden = self.model.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).last_hidden_state
            scores = self.model.score(hidden)[..., 0].float().cpu()
            out.extend(scores[row, : len(seq)] for row, seq in enumerate(chunk))
        return out

    def close(self) -> None:
        del self.model


@functools.lru_cache(maxsize=1)
def _unicode_to_byte() -> dict[str, int]:
    """Inverse of the byte-level BPE alphabet (GPT-2's bytes_to_unicode, which `tokenizers` uses)."""
    from tokenizers.pre_tokenizers import ByteLevel

    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]  # stand for themselves
    rest = [b for b in range(256) if b not in printable]  # the others: chr(256 + n) in byte order
    mapping = {chr(b): b for b in printable} | {chr(256 + n): b for n, b in enumerate(rest)}
    if set(mapping) != set(ByteLevel.alphabet()):
        raise RuntimeError("the byte-level alphabet of `tokenizers` is not GPT-2's")
    return mapping


def token_bytes(tokenizer, ids: Sequence[int]) -> list[bytes]:
    """The bytes each token stands for (special tokens: none), for a byte-level BPE tokenizer."""
    table = _unicode_to_byte()
    special = {tokenizer.eos_id, tokenizer.bos_id}
    out = []
    for token_id in ids:
        piece = tokenizer.inner.id_to_token(token_id)
        if token_id in special or piece is None:
            out.append(b"")
        elif not all(c in table for c in piece):
            raise ValueError(f"token {token_id} {piece!r} is not a byte-level BPE token")
        else:
            out.append(bytes(table[c] for c in piece))
    return out


def response_step_ends(tokenizer, response_ids: Sequence[int], delimiter: str) -> list[int]:
    """Index in `response_ids` of the last token of every non-empty step (the text between delimiters)."""
    pieces = token_bytes(tokenizer, response_ids)
    text = b"".join(pieces)
    delim = delimiter.encode()
    byte_ends, start = [], 0  # exclusive byte end of each non-empty step
    while start <= len(text):
        cut = text.find(delim, start)
        end = len(text) if cut < 0 else cut
        if text[start:end].strip():
            byte_ends.append(end)
        if cut < 0:
            break
        start = cut + len(delim)
    token_end, position, ends = [], 0, []
    for piece in pieces:
        position += len(piece)
        token_end.append(position)
    for end in byte_ends:  # the token holding byte end-1
        ends.append(next(i for i, e in enumerate(token_end) if e >= end and pieces[i]))
    return ends


class RewardModelSource:
    """Outcome or process rewards from a reward model (see the module docstring)."""

    def __init__(self, cfg: RewardModelSourceConfig, tokenizer, scorer: RewardScorer | None = None):
        self.cfg, self.tokenizer = cfg, tokenizer
        reading = reward_model_reading(cfg.path)
        delimiter = reading.get("step_delimiter", cfg.step_delimiter)
        if delimiter != cfg.step_delimiter:
            raise ConfigError(f"reward.{cfg.kind}_rm.step_delimiter is {cfg.step_delimiter!r}, but the reward model "
                              f"{cfg.path} was trained on steps split at {delimiter!r}")
        self.prompt_style, self._prompts = reading.get("prompt"), {}
        self.scorer = scorer or RewardScorer(cfg.path, cfg.device, cfg.batch_size)

    def _value(self, score: torch.Tensor) -> float:
        return float(torch.sigmoid(score)) if self.cfg.transform == "sigmoid" else float(score)

    def _prompt_ids(self, question: str) -> tuple[int, ...]:
        """The question in the reward model's own prompt style, as its training encoded it."""
        if question not in self._prompts:
            bos = (self.tokenizer.bos_id,) if self.tokenizer.bos_id is not None else ()
            self._prompts[question] = bos + tuple(self.tokenizer.encode(question_prompt(question, self.prompt_style)))
        return self._prompts[question]

    def score(self, rollouts: Sequence[Rollout]) -> list[Reward]:
        prompts = [self._prompt_ids(r.item.question) if self.prompt_style else tuple(r.prompt_ids) for r in rollouts]
        scores = self.scorer.position_scores([p + tuple(r.response_ids) for p, r in zip(prompts, rollouts, strict=True)])
        out = []
        for rollout, prompt, values in zip(rollouts, prompts, scores, strict=True):
            offset = len(prompt)
            ends = response_step_ends(self.tokenizer, rollout.response_ids, self.cfg.step_delimiter)
            if not ends:  # an empty response: score its last position as the outcome
                ends = [max(len(rollout.response_ids) - 1, 0)]
            if self.cfg.kind == "outcome":
                out.append(Reward(value=self._value(values[min(offset + ends[-1], len(values) - 1)])))
            else:
                out.append(Reward(steps=tuple((end, self._value(values[offset + end])) for end in ends)))
        return out

    def close(self) -> None:
        self.scorer.close()


@dataclass
class Weighted:
    source: RewardSource
    weight: float = 1.0


@dataclass
class CombinedReward:
    """Σ_i w_i · reward_i. Outcome rewards add up to one value; when any source gives step rewards the
    result is per step: each step's weighted process values, plus the weighted outcome values added to
    the final step (the one ending the response). Process sources must agree on the step ends."""

    parts: list[Weighted] = field(default_factory=list)

    def score(self, rollouts: Sequence[Rollout]) -> list[Reward]:
        per_source = [(p.weight, p.source.score(rollouts)) for p in self.parts]
        out = []
        for i in range(len(rollouts)):
            outcome, steps = 0.0, None
            for weight, rewards in per_source:
                reward = rewards[i]
                if reward.value is not None:
                    outcome += weight * reward.value
                    continue
                if steps is None:
                    steps = {end: 0.0 for end, _ in reward.steps}
                if set(steps) != {end for end, _ in reward.steps}:
                    raise ValueError(f"rollout {i}: process reward sources disagree on the step ends")
                for end, value in reward.steps:
                    steps[end] += weight * value
            if steps is None:
                out.append(Reward(value=outcome))
            else:
                last = max(steps)
                steps[last] += outcome
                out.append(Reward(steps=tuple(sorted(steps.items()))))
        return out

    def close(self) -> None:
        for part in self.parts:
            part.source.close()


@dataclass
class RewardConfig:
    """GRPO's `[reward]`: Σ weight · source over the sources whose weight is not 0 (rule-based grader by
    default; `reward.outcome_rm.weight = 1` with `reward.rule.weight = 0` is the paper's outcome RM)."""

    rule: RuleRewardConfig = field(default_factory=RuleRewardConfig)
    format: FormatRewardConfig = field(default_factory=FormatRewardConfig)
    outcome_rm: RewardModelSourceConfig = field(default_factory=lambda: RewardModelSourceConfig(weight=0.0))
    process_rm: RewardModelSourceConfig = field(
        default_factory=lambda: RewardModelSourceConfig(weight=0.0, kind="process"))


def build_reward_source(cfg: RewardConfig, rule: RuleBasedReward) -> RewardSource:
    """The configured reward; `rule` is the caller's grader (it also measures accuracy, so it is shared)."""
    from training.tokenizer import load_tokenizer

    parts: list[Weighted] = [Weighted(rule, cfg.rule.weight)] if cfg.rule.weight != 0 else []
    if cfg.format.weight != 0:
        parts.append(Weighted(FormatReward(cfg.format, rule), cfg.format.weight))
    for key, kind in (("outcome_rm", "outcome"), ("process_rm", "process")):
        source: RewardModelSourceConfig = getattr(cfg, key)
        if source.weight == 0:
            continue
        if source.kind != kind:
            raise ConfigError(f"reward.{key}.kind is {source.kind!r}; this table configures the {kind} reward model")
        if not (Path(source.path) / "config.json").is_file():
            raise ConfigError(f"reward.{key}.path {source.path}: no exported reward model (config.json) there")
        parts.append(Weighted(RewardModelSource(source, load_tokenizer(source.path)), source.weight))
    if not parts:
        raise ConfigError("reward: every source has weight 0 (reward.rule / format / outcome_rm / process_rm .weight)")
    return parts[0].source if len(parts) == 1 and parts[0].weight == 1 else CombinedReward(parts)
