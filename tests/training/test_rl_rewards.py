"""The reward interface and the rule-based outcome reward (real grader, symbolic stage included)."""

from __future__ import annotations

import pytest

from evaluation.benchmarks import BenchmarkItem
from mathforge.config import ConfigError
from training.rl.rewards import Reward, Rollout, RuleBasedReward, RuleRewardConfig


def _rollout(response: str, answer: str, truncated: bool = False) -> Rollout:
    item = BenchmarkItem("synthetic", "q0", "What is it?", answer)
    return Rollout(item=item, group=0, prompt="User: q\n\nAssistant:", response=response, prompt_ids=(1, 2),
                   response_ids=(3, 4, 5), truncated=truncated)


def test_reward_is_either_outcome_or_process():
    assert Reward(value=1.0).steps is None
    assert Reward(steps=((2, 0.5), (7, -1.0))).value is None
    for bad in ({}, {"value": 1.0, "steps": ((1, 1.0),)}, {"steps": ((3, 1.0), (3, 0.0))}, {"steps": ()}):
        with pytest.raises(ValueError):
            Reward(**bad)


def test_rule_based_reward_grades_final_answers():
    rollouts = [
        _rollout("3 + 4 = 7, so the answer is \\boxed{7}.", "7"),
        _rollout("The answer is 8.", "7"),
        _rollout("We get \\boxed{\\frac{1}{2}}", "0.5"),
        _rollout("So \\boxed{\\sqrt{4}+1}", "3"),  # only the symbolic stage (math-verify) settles this
        _rollout("no answer at all", "7"),
    ]
    source = RuleBasedReward()
    try:
        assert [r.value for r in source.score(rollouts)] == [1.0, 0.0, 1.0, 1.0, 0.0]
    finally:
        source.close()


def test_truncated_responses_can_get_their_own_reward():
    source = RuleBasedReward(RuleRewardConfig(correct=1.0, wrong=-1.0, truncated=-0.5))
    try:
        rewards = source.score([_rollout("\\boxed{7}", "7", truncated=True), _rollout("\\boxed{6}", "7")])
    finally:
        source.close()
    assert [r.value for r in rewards] == [-0.5, -1.0]


def test_program_of_thought_responses_are_graded_by_what_their_program_prints():
    """Style "pot": the sandbox runs the ```python block, as evaluation does; the text's numbers do not count."""
    program = "```python\nprint({})\n```"
    rollouts = [
        _rollout(program.format("3 + 4"), "7"),
        _rollout(program.format("3 + 5") + "\nThe answer is 7.", "7"),  # the program prints 8
        _rollout(program.format("1 / 0"), "7"),  # fails: no answer
        _rollout("The answer is \\boxed{7}.", "7"),  # no program
        _rollout(program.format("'7'") + " and more", "7"),
    ]
    source = RuleBasedReward(style="pot")
    try:
        assert source.answers(rollouts)[:4] == ["7", "8", None, None]
        runs = []
        run_many = source.pool.run_many
        source.pool.run_many = lambda codes: runs.append(len(codes)) or run_many(codes)
        assert [r.value for r in source.score(rollouts)] == [1.0, 0.0, 0.0, 0.0, 1.0]
        assert source.correct(rollouts) == [True, False, False, False, True]
        assert runs == [4]  # GRPO's accuracy metric on the batch it just scored: no second sandbox run
    finally:
        source.close()
    source.close()  # GRPO closes a rule-only reward twice: as its reward source and as its grader
    with pytest.raises(ConfigError, match="prompts.style 'tool'"):
        RuleBasedReward(style="tool")
