"""Reward-model reward sources: step ends found on response token ids, outcome and process rewards read
from a real transformers reward model, the weighted combination with the rule-based grader, and GRPO's
`[reward]` table that selects them."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

from evaluation.benchmarks import BenchmarkItem
from mathforge.config import ConfigError, from_dict, load_config, to_dict
from training.rl.model_rewards import (
    CombinedReward,
    RewardConfig,
    RewardModelSource,
    RewardModelSourceConfig,
    RewardScorer,
    Weighted,
    build_reward_source,
    response_step_ends,
    token_bytes,
)
from training.rl.rewards import FormatReward, Reward, Rollout, RuleBasedReward
from training.tokenizer import load_tokenizer, train_bpe

TEXTS = ["User: What is 3 * 4 + 2?\n\nAssistant: 3 * 4 = 12\n12 + 2 = 14\nThe answer is \\boxed{14}.",
         "计算 5 + 6 的值。\n5 + 6 = 11\n所以答案是 \\boxed{11}。"] * 20


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tok")
    train_bpe(TEXTS, 300, folder)
    return folder


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return load_tokenizer(tokenizer_dir)


@pytest.fixture(scope="module")
def reward_model_dir(tokenizer, tokenizer_dir, tmp_path_factory):
    """A random tiny LlamaForSequenceClassification (num_labels 1), the format `train rm` exports."""
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, num_labels=1, pad_token_id=tokenizer.eos_id)
    folder = tmp_path_factory.mktemp("rm")
    LlamaForSequenceClassification(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):  # an export carries its tokenizer
        shutil.copy(tokenizer_dir / name, folder / name)
    return folder


def _rollout(tokenizer, response: str, gold: str = "14", eos: bool = True) -> Rollout:
    ids = tokenizer.encode(response) + ([tokenizer.eos_id] if eos else [])
    return Rollout(item=BenchmarkItem("synthetic", "q", "What is 3 * 4 + 2?", gold), group=0, prompt="User: q",
                   response=response, prompt_ids=tuple(tokenizer.encode("User: q\n\nAssistant:")), response_ids=tuple(ids))


@pytest.mark.parametrize("text", [" 3 * 4 = 12\n12 + 2 = 14\nThe answer is \\boxed{14}.",
                                  "\n\n 5 + 6 = 11\n\n所以答案是 \\boxed{11}。\n", "no delimiter at all"])
def test_step_ends_are_the_last_token_of_each_step(tokenizer, text):
    ids = tokenizer.encode(text) + [tokenizer.eos_id]
    ends = response_step_ends(tokenizer, ids, "\n")
    steps = [s for s in text.split("\n") if s.strip()]
    assert len(ends) == len(steps)
    pieces = token_bytes(tokenizer, ids)
    assert b"".join(pieces).decode() == text
    for end, step in zip(ends, steps, strict=True):  # the text up to and including token `end` ends the step
        assert b"".join(pieces[: end + 1]).decode().rstrip("\n").endswith(step.rstrip("\n"))
        assert not b"".join(pieces[:end]).decode().endswith(step)


def test_outcome_and_process_rewards_read_the_reward_model(tokenizer, reward_model_dir):
    scorer = RewardScorer(reward_model_dir)
    rollouts = [_rollout(tokenizer, " 3 * 4 = 12\n12 + 2 = 14\nThe answer is \\boxed{14}."),
                _rollout(tokenizer, " 3 * 4 = 12\n12 + 2 = 15", eos=False)]
    outcome = RewardModelSource(RewardModelSourceConfig(kind="outcome", transform="logit"), tokenizer, scorer)
    process = RewardModelSource(RewardModelSourceConfig(kind="process"), tokenizer, scorer)
    for rollout, out, proc in zip(rollouts, outcome.score(rollouts), process.score(rollouts), strict=True):
        full = scorer.position_scores([rollout.prompt_ids + rollout.response_ids])[0]
        ends = response_step_ends(tokenizer, rollout.response_ids, "\n")
        offset = len(rollout.prompt_ids)
        assert out.value == pytest.approx(full[offset + ends[-1]].item(), abs=1e-5)
        assert [e for e, _ in proc.steps] == ends
        assert [v for _, v in proc.steps] == pytest.approx(torch.sigmoid(full[[offset + e for e in ends]]).tolist(), abs=1e-5)
    assert len(process.score(rollouts)[0].steps) == 3


def test_combined_reward_adds_outcome_to_the_last_step(tokenizer, reward_model_dir):
    rollouts = [_rollout(tokenizer, " 3 * 4 = 12\n12 + 2 = 14\nThe answer is \\boxed{14}."),
                _rollout(tokenizer, " 3 * 4 = 12\nThe answer is \\boxed{15}.")]
    scorer = RewardScorer(reward_model_dir)
    process = RewardModelSource(RewardModelSourceConfig(kind="process"), tokenizer, scorer)
    rule = RuleBasedReward()
    try:
        combined = CombinedReward([Weighted(rule, 2.0), Weighted(process, 0.5)]).score(rollouts)
        steps = process.score(rollouts)
        for reward, alone, outcome in zip(combined, steps, [2.0, 0.0], strict=True):
            expected = [0.5 * v for _, v in alone.steps]
            expected[-1] += outcome
            assert [e for e, _ in reward.steps] == [e for e, _ in alone.steps]
            assert [v for _, v in reward.steps] == pytest.approx(expected)
        only_outcome = CombinedReward([Weighted(rule, 1.0), Weighted(rule, 0.5)]).score(rollouts)
        assert only_outcome == [Reward(value=1.5), Reward(value=0.0)]
    finally:
        rule.close()


def _reward_config(*overrides: str) -> RewardConfig:
    from training.rl.grpo import GRPOConfig

    repo = Path(__file__).resolve().parents[2]
    return load_config(GRPOConfig, repo / "configs/tiny/grpo.toml", overrides).reward


def test_reward_table_round_trips_and_selects_the_weighted_sources(tokenizer, reward_model_dir):
    rollouts = [_rollout(tokenizer, " 3 * 4 = 12\n12 + 2 = 14\nThe answer is \\boxed{14}."),
                _rollout(tokenizer, " 3 * 4 = 12\nThe answer is \\boxed{15}.")]
    cfg = _reward_config("reward.rule.weight=2.0", "reward.process_rm.weight=0.5",
                         f'reward.process_rm.path="{reward_model_dir}"')
    assert from_dict(RewardConfig, to_dict(cfg), "round trip") == cfg
    rule = RuleBasedReward(cfg.rule)
    try:
        assert build_reward_source(_reward_config(), rule) is rule  # the default: the grader alone
        combined = build_reward_source(cfg, rule)
        assert isinstance(combined, CombinedReward) and [p.weight for p in combined.parts] == [2.0, 0.5]
        alone = RewardModelSource(cfg.process_rm, tokenizer, RewardScorer(reward_model_dir)).score(rollouts)
        for reward, steps, outcome in zip(combined.score(rollouts), alone, [2.0, 0.0], strict=True):
            expected = [0.5 * v for _, v in steps.steps]
            expected[-1] += outcome
            assert [v for _, v in reward.steps] == pytest.approx(expected, abs=1e-5)
        outcome_only = build_reward_source(_reward_config("reward.rule.weight=0", "reward.outcome_rm.weight=1",
                                                          f'reward.outcome_rm.path="{reward_model_dir}"'), rule)
        assert isinstance(outcome_only, RewardModelSource) and outcome_only.score(rollouts)[0].value is not None
        for overrides, match in ((["reward.rule.weight=0"], "every source has weight 0"),
                                 (["reward.outcome_rm.weight=1", 'reward.outcome_rm.path="/nonexistent"'],
                                  "reward.outcome_rm.path"),
                                 (["reward.process_rm.weight=1", f'reward.process_rm.path="{reward_model_dir}"',
                                   'reward.process_rm.kind="outcome"'], "reward.process_rm.kind")):
            with pytest.raises(ConfigError, match=match):
                build_reward_source(_reward_config(*overrides), rule)
    finally:
        rule.close()


def test_a_reward_model_scores_the_question_in_the_prompt_style_it_was_trained_on(tokenizer, reward_model_dir,
                                                                                  tmp_path):
    """An export's reading file (`train rm` writes it): the policy's prompt is replaced by the question in
    the RM's own prompt style (here the bare question turn); a different step delimiter is refused."""
    from training.reward_model import READING_FILE
    from training.rl.step_labels import question_prompt

    folder = tmp_path / "rm"
    shutil.copytree(reward_model_dir, folder)
    (folder / READING_FILE).write_text('{"kind": "outcome", "prompt": "plain", "step_delimiter": "\\n"}')
    scorer = RewardScorer(folder)
    rollout = _rollout(tokenizer, " 3 * 4 = 12\n12 + 2 = 14\nThe answer is \\boxed{14}.")
    cfg = RewardModelSourceConfig(kind="outcome", transform="logit", path=folder)
    value = RewardModelSource(cfg, tokenizer, scorer).score([rollout])[0].value
    prompt = tokenizer.encode(question_prompt(rollout.item.question, "plain"))
    prompt = ([tokenizer.bos_id] if tokenizer.bos_id is not None else []) + prompt
    full = scorer.position_scores([tuple(prompt) + rollout.response_ids])[0]
    ends = response_step_ends(tokenizer, rollout.response_ids, "\n")
    assert value == pytest.approx(full[len(prompt) + ends[-1]].item(), abs=1e-5)
    as_policy = scorer.position_scores([rollout.prompt_ids + rollout.response_ids])[0]
    assert value != pytest.approx(as_policy[len(rollout.prompt_ids) + ends[-1]].item(), abs=1e-5)
    with pytest.raises(ConfigError, match="step_delimiter"):
        RewardModelSource(RewardModelSourceConfig(kind="outcome", path=folder, step_delimiter="\n\n"), tokenizer, scorer)


def test_format_reward_counts_an_answer_not_its_correctness(tokenizer, reward_model_dir):
    """The format source reads answers with the caller's grader (programs run once per batch) and gives
    `answered` to a right and a wrong answer alike; a failing program, no program or a cut response gets
    `unanswered`. Combined with a PRM it lands on the last step, as any outcome value does."""
    responses = ["```python\nprint(3 * 4 + 2)\n```", "```python\nprint(3 * 4 + 3)\n```",
                 "```python\nprint(total)\n```", "3 * 4 + 2 = 14", "```python\nprint(3 * 4 + 2)\n```"]
    rollouts = [_rollout(tokenizer, text) for text in responses]
    rollouts[-1] = dataclasses.replace(rollouts[-1], truncated=True)
    cfg = _reward_config("reward.rule.weight=0", "reward.format.weight=1", "reward.format.unanswered=-1",
                         "reward.process_rm.weight=1", f'reward.process_rm.path="{reward_model_dir}"')
    rule = RuleBasedReward(cfg.rule, style="pot")
    try:
        assert [r.value for r in FormatReward(cfg.format, rule).score(rollouts)] == [1.0, 1.0, -1.0, -1.0, -1.0]
        assert rule.correct(rollouts) == [True, False, False, False, True]
        combined = build_reward_source(cfg, rule)
        assert [type(p.source) for p in combined.parts] == [FormatReward, RewardModelSource]
        process = combined.parts[1].source.score(rollouts)
        for reward, alone, outcome in zip(combined.score(rollouts), process, [1, 1, -1, -1, -1], strict=True):
            expected = [v for _, v in alone.steps]
            expected[-1] += outcome
            assert [v for _, v in reward.steps] == pytest.approx(expected, abs=1e-6)
    finally:
        rule.close()
