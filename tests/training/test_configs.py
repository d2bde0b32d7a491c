"""The shipped training configs load, and the 7B one has the paper's shape and hyperparameters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mathforge.config import ConfigError, load_config
from training.model import ModelConfig, flops_per_token
from training.pretrain import PretrainConfig, pretrain

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*/pretrain*.toml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_loads(path):
    cfg = load_config(PretrainConfig, path)
    assert cfg.data.sources and cfg.model.hidden_size % cfg.model.num_attention_heads == 0


def test_deepseekmath_7b_shape_and_recipe():
    cfg = load_config(PretrainConfig, CONFIGS / "deepseekmath-7b" / "pretrain.toml")
    assert 6.90e9 < cfg.model.num_parameters() < 6.92e9  # DeepSeekMath-7B: 6.91B parameters
    assert cfg.model.head_dim == 128
    assert {s.name: s.weight for s in cfg.data.sources} == {
        "deepseekmath_corpus": 56, "github_code": 20, "arxiv": 10, "algebraic_stack": 4, "natural_language": 10}
    assert (cfg.optimizer.beta1, cfg.optimizer.beta2, cfg.optimizer.weight_decay) == (0.9, 0.95, 0.1)
    assert (cfg.schedule.peak_lr, cfg.schedule.warmup_steps) == (4.2e-4, 2000)


def test_tiny_model_is_servable_by_vllm_cpu():
    cfg = load_config(PretrainConfig, CONFIGS / "tiny" / "pretrain.toml")
    assert cfg.model.head_dim == 64  # the CPU attention kernels refuse head_dim 16


def test_flops_per_token_counts_matmuls_and_attention():
    cfg = ModelConfig(num_layers=1, hidden_size=8, num_attention_heads=2, ffn_hidden_size=16, vocab_size=10,
                      seq_length=4)
    # weights: qkv 3*8*8 + proj 8*8 + mlp 3*8*16 + norms 2*8 = 656 per layer, + final norm 8, output 80
    assert flops_per_token(cfg) == 6 * (656 + 8 + 80) + 12 * 1 * 8 * 4


def test_bad_model_table_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nhidden_size = 100\nnum_attention_heads = 3\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_config(PretrainConfig, bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal of bf16")
def test_bf16_on_cpu_is_refused_not_silently_fp32():
    cfg = load_config(PretrainConfig, CONFIGS / "tiny" / "pretrain.toml", ["train.precision=\"bf16\""])
    with pytest.raises(ConfigError, match="train.precision"):
        pretrain(cfg)
