"""Rewards for GRPO: one interface for every source (rule-based grader here; learned outcome and
process reward models plug in behind the same `RewardSource`).

A `Rollout` is one sampled response to one question: the question's `BenchmarkItem` (gold answer and
how to grade it), the prompt and response as text and as token ids, the sampler's log-probabilities
of the response tokens, and the index of its group (the question) within the step's batch.

A `Reward` is either sequence-level (`value`, outcome supervision) or per step (`steps`: a list of
`(end, value)` where `end` is the index, in `response_ids`, of the last token of the reasoning step
the value scores; process supervision). GRPO turns outcome rewards into one advantage per output and
step rewards into per-token advantages (`training.rl.advantages`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from evaluation.answers import extract_answer
from evaluation.benchmarks import BenchmarkItem
from evaluation.grading import Grader, GradingConfig
from evaluation.programs import run_pot
from evaluation.prompts import Style
from evaluation.sandbox import SandboxConfig, SandboxPool
from mathforge.config import ConfigError


@dataclass(frozen=True)
class Rollout:
    item: BenchmarkItem  # question, gold answer, answer type
    group: int  # index of the question within the step's batch: GRPO normalises within a group
    prompt: str
    response: str  # the decoded response (stop string excluded)
    prompt_ids: tuple[int, ...]
    response_ids: tuple[int, ...]  # what the trainer scores, including the end-of-sequence token if sampled
    sampler_logprobs: tuple[float, ...] = ()  # the engine's log π(token) per response token
    truncated: bool = False  # stopped at the length limit, not at end-of-sequence or a stop string


@dataclass(frozen=True)
class Reward:
    """Outcome reward (`value`) or process rewards (`steps`: (end token index in the response, value),
    strictly increasing ends). Exactly one of the two is set."""

    value: float | None = None
    steps: tuple[tuple[int, float], ...] | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.steps is None):
            raise ValueError("a Reward has either a sequence value or per-step values, not both/neither")
        if self.steps is not None:
            ends = [end for end, _ in self.steps]
            if not ends or any(b <= a for a, b in zip(ends, ends[1:], strict=False)) or ends[0] < 0:
                raise ValueError(f"step ends must be non-negative and strictly increasing, got {ends}")


class RewardSource(Protocol):
    """Scores a batch of rollouts; one `Reward` per rollout, in order."""

    def score(self, rollouts: Sequence[Rollout]) -> list[Reward]: ...

    def close(self) -> None: ...


@dataclass
class RuleRewardConfig:
    """Outcome reward from the evaluation grader: the extracted final answer against the gold one."""

    weight: float = 1.0  # its share in GRPO's reward (`training.rl.model_rewards.RewardConfig`); 0: unused
    correct: float = 1.0
    wrong: float = 0.0
    truncated: float | None = None  # reward for a response cut at the length limit; None: grade it as usual


def response_answers(responses: Sequence[str], pool: SandboxPool | None = None,
                     choices: Sequence[bool] | None = None) -> list[str | None]:
    """Each response's final answer as evaluation reads it: with a sandbox `pool`, what the response's
    ```python program prints (program of thought; None when there is no program or it fails); else the
    chain-of-thought answer (`extract_answer`; `choices`: the item is multiple choice)."""
    if pool is not None:  # chat prompts: the program sits in a ```python block
        return [answer for answer, _ in run_pot(list(responses), pool, program_format="markdown")]
    choices = choices or [False] * len(responses)
    return [extract_answer(text, choices=c) for text, c in zip(responses, choices, strict=True)]


class RuleBasedReward:
    """`correct` when `evaluation.grading` finds the response's final answer equal to the gold answer, else
    `wrong`. The answer is read as evaluation reads it for the prompt style: chain of thought
    (`extract_answer`: last \\boxed{}, "The answer is", else the last number); program of thought, what
    the response's ```python program prints, run in the sandbox (`evaluation.programs.run_pot`; no
    program, or one that fails, is wrong). Tool-integrated prompts need a multi-turn rollout (generate,
    run, feed the output back) that GRPO's one-pass engine does not do: refused."""

    def __init__(self, cfg: RuleRewardConfig | None = None, grading: GradingConfig | None = None,
                 style: Style = "cot", sandbox: SandboxConfig | None = None):
        if style == "tool":
            raise ConfigError("prompts.style 'tool': GRPO's rollouts are one pass, without the tool loop; use "
                              "'cot' or 'pot'")
        self.cfg = cfg or RuleRewardConfig()
        self.grader = Grader(grading)
        self.pool = SandboxPool(sandbox or SandboxConfig()) if style == "pot" else None
        self._last: tuple[Sequence[Rollout], list[str | None], list[bool]] | None = None

    def answers(self, rollouts: Sequence[Rollout]) -> list[str | None]:
        return response_answers([r.response for r in rollouts], self.pool, [bool(r.item.choices) for r in rollouts])

    def grade(self, rollouts: Sequence[Rollout]) -> tuple[list[str | None], list[bool]]:
        """Each rollout's answer and verdict. The last batch's are kept: GRPO scores a batch and then
        measures its accuracy with the same grader, which must not run every program a second time."""
        if self._last is None or self._last[0] is not rollouts:
            answers = self.answers(rollouts)
            verdicts = self.grader.grade_many(list(zip(answers, [r.item for r in rollouts], strict=True)))
            self._last = (rollouts, answers, verdicts)
        return self._last[1], self._last[2]

    def correct(self, rollouts: Sequence[Rollout]) -> list[bool]:
        return self.grade(rollouts)[1]

    def score(self, rollouts: Sequence[Rollout]) -> list[Reward]:
        out = []
        for rollout, ok in zip(rollouts, self.correct(rollouts), strict=True):
            if rollout.truncated and self.cfg.truncated is not None:
                out.append(Reward(value=self.cfg.truncated))
            else:
                out.append(Reward(value=self.cfg.correct if ok else self.cfg.wrong))
        return out

    def close(self) -> None:
        self.grader.close()
        if self.pool is not None:
            self.pool.close()


@dataclass
class FormatRewardConfig:
    """A reward for the response's form alone, never its correctness: `answered` when the grader reads a
    final answer from it (program of thought: its program runs and prints) and it was not cut at the
    length limit, else `unanswered`. Learned reward models never saw a response cut short or a program
    that fails, and a policy rewarded by them alone learns to write such responses (benchmarks/RESULTS.md,
    reward models, round 5)."""

    weight: float = 0.0  # its share in GRPO's reward (`training.rl.model_rewards.RewardConfig`); 0: unused
    answered: float = 1.0
    unanswered: float = 0.0


class FormatReward:
    """`FormatRewardConfig`'s outcome reward, read with the caller's grader (its answers of the batch are
    cached, so the programs run once)."""

    def __init__(self, cfg: FormatRewardConfig, grader: RuleBasedReward):
        self.cfg, self.grader = cfg, grader

    def score(self, rollouts: Sequence[Rollout]) -> list[Reward]:
        answers, _ = self.grader.grade(rollouts)
        return [Reward(value=self.cfg.answered if answer is not None and not rollout.truncated else self.cfg.unanswered)
                for rollout, answer in zip(rollouts, answers, strict=True)]

    def close(self) -> None:
        """The grader is the caller's to close."""
