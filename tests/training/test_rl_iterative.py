"""Iterative RL: the replay draw, resumable round state, and the reward-model phase of two rounds on
real megatron training (the new samples + the replayed share of all historical data, continuing the
previous round's reward model). The full loop with GRPO and vLLM runs in `test_two_rounds_end_to_end`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mathforge.config import ConfigError
from training.model import ModelConfig
from training.reward_model import reward_model_reading
from training.reward_training import (
    RewardDataConfig,
    RewardModelConfig,
    RewardTrainConfig,
    train_reward_model,
)
from training.rl.iterative import (
    IterativeConfig,
    IterativeRLConfig,
    RoundState,
    replay_sample,
    round_dir,
    run_rm_phase,
)
from training.rl.step_labels import LabelledSolution, read_labelled, write_labelled
from training.rl.synthetic_steps import labelled_solutions
from training.sft.synthetic import draw_items
from training.tokenizer import train_bpe

TINY = ModelConfig(num_layers=1, hidden_size=64, num_attention_heads=1, ffn_hidden_size=128, vocab_size=384,
                   seq_length=160)  # digits are one token each


def _solutions(n: int, seed: int, tag: str) -> list[LabelledSolution]:
    out = labelled_solutions(draw_items(n, seed, ("en",)), seed=seed)
    return [LabelledSolution(s.question, s.steps, s.labels, s.answer, f"{tag}/{i}") for i, s in enumerate(out)]


def test_replay_draws_the_configured_share():
    history = _solutions(30, 0, "h")
    replay = replay_sample(history, 0.1, seed=3)
    assert len(replay) == round(0.1 * len(history)) and len({s.source for s in replay}) == len(replay)
    assert replay == replay_sample(history, 0.1, seed=3) and replay != replay_sample(history, 0.1, seed=4)
    assert replay_sample(history, 0.0, 0) == [] and len(replay_sample(history, 1.0, 0)) == len(history)
    with pytest.raises(ConfigError, match="replay_fraction"):
        replay_sample(history, 1.5, 0)


def test_round_state_survives_a_restart(tmp_path):
    state = RoundState(tmp_path)
    state.mark(0, "grpo")
    state.mark(0, "samples")
    again = RoundState(tmp_path)
    assert again.finished(0, "grpo") and again.finished(0, "samples") and not again.finished(0, "rm")
    assert not again.finished(1, "grpo")


def _rm_config(root: Path, tokenizer_dir: Path) -> RewardModelConfig:
    return RewardModelConfig(model=TINY, data=RewardDataConfig(tokenizer_dir=tokenizer_dir),
                             train=RewardTrainConfig(run_dir=root / "rm0", epochs=0.5, global_batch=8,
                                                     micro_batch_size=8, lr=1e-3, save_every=0))


def test_two_reward_model_rounds_replay_history(tmp_path):
    initial = _solutions(40, 0, "initial")
    texts = [" ".join((s.question, *s.steps)) for s in initial]
    tokenizer_dir = tmp_path / "tok"
    train_bpe(texts * 3, 380, tokenizer_dir)
    write_labelled(tmp_path / "initial.jsonl", initial)
    rm = _rm_config(tmp_path, tokenizer_dir)
    train_reward_model(rm, initial)  # the initial reward model
    cfg = IterativeRLConfig(iterative=IterativeConfig(run_dir=tmp_path / "it", initial_reward_model=tmp_path / "rm0",
                                                      initial_data=[tmp_path / "initial.jsonl"], replay_fraction=0.1),
                            rm=rm)
    for r in range(2):  # the samples of each round's new policy: generated solutions stand in here
        write_labelled(round_dir(cfg, r) / "samples.jsonl", _solutions(12, 10 + r, f"round{r}"))
        run_rm_phase(cfg, r)
    for r, history in ((0, len(initial)), (1, len(initial) + len(read_labelled(round_dir(cfg, 0) / "samples.jsonl")))):
        manifest = json.loads((round_dir(cfg, r) / "rm_data.json").read_text())
        new = read_labelled(round_dir(cfg, r) / "samples.jsonl")
        assert manifest["new"] == len(new) and manifest["history"] == history
        assert manifest["replayed"] == round(0.1 * history) > 0
        data = read_labelled(round_dir(cfg, r) / "rm_data.jsonl")
        assert data[: len(new)] == new and len(data) == len(new) + manifest["replayed"]
        assert all(not s.source.startswith(f"round{r}") for s in data[len(new):])  # replay: history only
        assert (round_dir(cfg, r) / "rm" / "hf" / "model.safetensors").is_file()
        assert reward_model_reading(round_dir(cfg, r) / "rm" / "hf") == {"kind": "outcome", "prompt": "cot",
                                                                          "step_delimiter": "\n"}
    resolved = json.loads((round_dir(cfg, 1) / "rm" / "config.json").read_text())
    assert resolved["train"]["init_from_reward_model"] == str(round_dir(cfg, 0) / "rm")


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.timeout(1800)
def test_two_rounds_end_to_end(tmp_path):
    """Two full rounds from a short SFT warm-up: GRPO rewarded by the outcome RM (vLLM rollouts), the new
    policy sampled, the RM retrained with the 10% replay; then a rerun finds everything done."""
    pytest.importorskip("vllm", reason="vLLM is not installed (install the `cpu` or `gpu` extra)")
    from mathforge.config import load_config
    from training.rl.experiment import TINY_MODEL, WarmupConfig, warm_up
    from training.rl.iterative import iterative_rl

    sft = warm_up(tmp_path / "warmup", train_count=200, cfg=WarmupConfig(steps=20))
    initial = _solutions(40, 0, "initial")
    write_labelled(tmp_path / "initial.jsonl", initial)
    rm = RewardModelConfig(model=TINY_MODEL, data=RewardDataConfig(tokenizer_dir=sft),
                           train=RewardTrainConfig(run_dir=tmp_path / "rm0", init_from_hf=sft, epochs=0.4,
                                                   global_batch=8, micro_batch_size=8, save_every=0))
    train_reward_model(rm, initial)
    cfg = load_config(IterativeRLConfig, Path(__file__).resolve().parents[2] / "configs/tiny/grpo_iterative.toml", [
        f'iterative.run_dir="{tmp_path / "it"}"', f'iterative.initial_reward_model="{tmp_path / "rm0"}"',
        f'iterative.initial_data=["{tmp_path / "initial.jsonl"}"]', "iterative.grpo_steps_per_round=1",
        "iterative.questions=4", "iterative.samples_per_question=2", f'grpo.train.init_from_hf="{sft}"',
        "grpo.train.outputs_per_step=8", "grpo.train.micro_batch_size=4", "grpo.rollout.group_size=4",
        "grpo.rollout.max_new_tokens=48", f'rm.data.tokenizer_dir="{sft}"', "rm.train.epochs=0.5",
        "rm.train.global_batch=8", "rm.train.micro_batch_size=8"])
    summary = iterative_rl(cfg)
    assert [r["round"] for r in summary["rounds"]] == [0, 1]
    assert summary["rounds"][0]["history"] == len(initial)
    assert summary["rounds"][1]["history"] == len(initial) + summary["rounds"][0]["new"]
    for r in summary["rounds"]:
        assert r["replayed"] == round(0.1 * r["history"]) and r["new"] > 0
        assert Path(r["policy"], "model.safetensors").is_file() and Path(r["reward_model"], "model.safetensors").is_file()
    second = json.loads((round_dir(cfg, 1) / "grpo" / "config.json").read_text())["train"]
    assert second["init_from_hf"] == str(round_dir(cfg, 0) / "grpo" / "hf")  # the reference reset
    assert iterative_rl(cfg) == summary  # a rerun: every phase is done


def test_process_labels_must_read_answers_as_the_policy_writes_them(tmp_path):
    from mathforge.config import load_config
    from training.rl.iterative import iterative_rl

    cfg = load_config(IterativeRLConfig, Path(__file__).resolve().parents[2] / "configs/tiny/grpo_iterative.toml", [
        f'iterative.run_dir="{tmp_path / "it"}"', f'grpo.train.init_from_hf="{tmp_path}"', 'grpo.prompts.style="pot"',
        'iterative.reward_kind="process"', 'rm.train.kind="process"'])
    with pytest.raises(ConfigError, match="iterative.shepherd.style"):
        iterative_rl(cfg)
    assert not (tmp_path / "it").exists()


def test_each_round_is_rewarded_by_the_previous_rounds_reward_model(tmp_path):
    """Round 0 reads the initial RM, round r the RM retrained in round r-1, of `reward_kind`; the rule
    weight comes from `iterative.rule_weight` and the format reward from `grpo.reward.format`."""
    from mathforge.config import load_config
    from training.rl.iterative import reward_model_dir, round_reward

    cfg = load_config(IterativeRLConfig, Path(__file__).resolve().parents[2] / "configs/tiny/grpo_iterative.toml", [
        f'iterative.run_dir="{tmp_path}"', 'iterative.reward_kind="process"', "iterative.rule_weight=0.5",
        "grpo.reward.format.weight=1", "grpo.reward.format.unanswered=-1"])
    assert reward_model_dir(cfg, 0) == cfg.iterative.initial_reward_model
    assert reward_model_dir(cfg, 2) == round_dir(cfg, 1) / "rm"
    reward = round_reward(cfg, reward_model_dir(cfg, 2))
    assert (reward.rule.weight, reward.format.weight, reward.format.unanswered) == (0.5, 1.0, -1.0)
    assert (reward.process_rm.weight, reward.process_rm.path, reward.outcome_rm.weight) == (1.0, round_dir(cfg, 1) / "rm" / "hf", 0.0)
