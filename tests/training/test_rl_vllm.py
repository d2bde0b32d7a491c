"""GRPO with the real vLLM CPU engine: in-memory weight sync in buckets (greedy output equals the
trainer's HF export's, and a one-bucket sync's; failures stop loudly) and a short GRPO run from a tiny Llama (metrics, resume, sync failure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

PROMPTS = ["User: Compute 3 + 4.\n\nAssistant:", "User: Solve for x: 2x = 10.\n\nAssistant:"]


def _hf_greedy(model_dir: Path, prompts: list[str], tokens: int) -> list[list[int]]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = []
    for prompt in prompts:  # plain argmax decoding, end-of-sequence included (as vLLM's ignore_eos does)
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        start = ids.shape[1]
        with torch.no_grad():
            for _ in range(tokens):
                ids = torch.cat([ids, model(ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        out.append(ids[0, start:].tolist())
    return out


@pytest.mark.timeout(300)
def test_weight_sync_reaches_the_engine_and_failures_stop_loudly(tiny_llama_dir, tmp_path):
    pytest.importorskip("vllm", reason="vLLM is not installed (install the `cpu` or `gpu` extra)")
    from training import hf_checkpoint
    from training.model import build_model
    from training.parallel import ParallelConfig, distributed
    from training.rl.rollout import RolloutConfig, VLLMRolloutEngine, WeightSyncError
    from training.rl.weight_sync import hf_buckets

    cfg, hf = hf_checkpoint.load_hf(tiny_llama_dir, seq_length=128)
    engine = VLLMRolloutEngine(RolloutConfig(max_model_len=128, sync_timeout_s=120), str(tiny_llama_dir))
    try:
        before = engine.greedy(PROMPTS, 12)
        with distributed(ParallelConfig(), seed=0):
            model = build_model(cfg)
            hf_checkpoint.load_into_model(model, hf_checkpoint.hf_to_megatron(hf, cfg), cfg)
            with torch.no_grad():  # an "update": every parameter moves
                for p in model.parameters():
                    p.add_(0.05 * torch.randn_like(p))
            updated = hf_checkpoint.megatron_to_hf(hf_checkpoint.gather_full_state(model, cfg), cfg)
            buckets = list(hf_buckets(model, cfg, 0.05, torch.float32))  # ~one unit per bucket
        assert len(buckets) >= 4
        report = engine.load_weights(buckets)
        export = hf_checkpoint.save_hf(tmp_path / "export", updated, cfg, tokenizer_dir=tiny_llama_dir)
        after = engine.greedy(PROMPTS, 12)
        assert after == _hf_greedy(export, PROMPTS, 12)
        assert after != before and report.seconds > 0
        whole = engine.load_weights([updated])  # the same weights in one bucket: same checksum and output
        assert whole.checksum == pytest.approx(report.checksum, rel=1e-9) and engine.greedy(PROMPTS, 12) == after
        missing = {k: v for k, v in updated.items() if k != "model.layers.1.mlp.down_proj.weight"}
        with pytest.raises(WeightSyncError, match="model.layers.1.mlp.down_proj.weight"):
            engine.load_weights([missing])
        with pytest.raises(WeightSyncError, match="rollout.sync_timeout_s"):
            engine.load_weights(buckets, timeout_s=1e-4)
    finally:
        engine.close()


def _grpo_overrides(model_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    config = json.loads((model_dir / "config.json").read_text())
    return [f'train.init_from_hf="{model_dir}"', f'train.run_dir="{run_dir}"', f"model.vocab_size={config['vocab_size']}",
            "model.seq_length=320", "train.outputs_per_step=8", "train.micro_batch_size=4", "rollout.group_size=4",
            "rollout.max_new_tokens=24", "train.save_every=1", "train.lr=1e-4", *extra]


@pytest.mark.timeout(400)
def test_grpo_runs_resumes_and_stops_on_a_failed_sync(tiny_llama_dir, tmp_path):
    pytest.importorskip("vllm", reason="vLLM is not installed (install the `cpu` or `gpu` extra)")
    from mathforge.config import load_config
    from training.rl.grpo import GRPOConfig, grpo
    from training.rl.rollout import WeightSyncError

    run_dir = tmp_path / "grpo"
    repo = Path(__file__).resolve().parents[2]
    cfg = load_config(GRPOConfig, repo / "configs/tiny/grpo.toml",
                      _grpo_overrides(tiny_llama_dir, run_dir, "train.total_steps=2"))
    summary = grpo(cfg)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1]
    for key in ("reward_mean", "reward_std", "zero_variance_fraction", "pg_loss", "kl", "clip_fraction", "entropy",
                "response_length", "rollout_tokens_per_s", "tokens_per_s", "sync_seconds", "logprob_gap"):
        assert all(key in r for r in records), key
    assert records[0]["kl"] == 0.0  # the policy is the reference before its first update
    assert all(r["ratio_deviation"] == 0.0 and r["clip_fraction"] == 0.0 for r in records)
    assert all(r["logprob_gap"] < 1e-3 for r in records)  # engine and trainer score the sampled tokens alike
    assert (Path(summary["hf"]) / "model.safetensors").is_file()
    # resume from step 2 with a sync that cannot finish in time: the run stops with the config key named
    cfg = load_config(GRPOConfig, repo / "configs/tiny/grpo.toml",
                      _grpo_overrides(tiny_llama_dir, run_dir, "train.total_steps=3", "rollout.sync_timeout_s=0.0001"))
    with pytest.raises(WeightSyncError, match="rollout.sync_timeout_s"):
        grpo(cfg)
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2


@pytest.mark.timeout(300)
def test_grpo_rewarded_by_a_process_reward_model_from_its_toml(tiny_llama_dir, tmp_path):
    """`[reward]` picks a process RM (weighted with the grader): per-step rewards reach the run's metrics."""
    pytest.importorskip("vllm", reason="vLLM is not installed (install the `cpu` or `gpu` extra)")
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    from mathforge.config import load_config
    from training.rl.grpo import GRPOConfig, grpo

    rm_dir = tmp_path / "prm"  # a random reward model with the policy's tokenizer, as `train rm` exports it
    config = LlamaConfig.from_pretrained(tiny_llama_dir, num_labels=1)
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).save_pretrained(rm_dir)
    AutoTokenizer.from_pretrained(tiny_llama_dir).save_pretrained(rm_dir)
    run_dir = tmp_path / "grpo"
    repo = Path(__file__).resolve().parents[2]
    cfg = load_config(GRPOConfig, repo / "configs/tiny/grpo.toml", _grpo_overrides(
        tiny_llama_dir, run_dir, "train.total_steps=1", "train.save_every=0", "reward.rule.weight=0.5",
        "reward.process_rm.weight=1.0", f'reward.process_rm.path="{rm_dir}"', 'reward.process_rm.step_delimiter=" "'))
    grpo(cfg)
    record = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
    # sigmoid step scores in (0, 1), the grader's 0.5 added to the last step: the random policy earns ~0
    assert 0.0 < record["reward_mean"] < 1.5 and record["reward_std"] > 0.0
    assert record["accuracy"] == 0.0 and record["zero_variance_fraction"] == 0.0
    assert record["pg_loss"] != 0.0 and record["kl"] == 0.0
