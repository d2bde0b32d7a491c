"""HF Llama import/export: same logits as transformers, bit-exact round trips, any TP/PP layout."""

from __future__ import annotations

import json

import pytest
import torch

from training import hf_checkpoint as hfc
from training.model import ModelConfig, build_model, causal_inputs


def _random_llama(cfg: ModelConfig, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    hf_cfg = {k: v for k, v in hfc.hf_config(cfg).items() if k not in ("architectures", "model_type", "torch_dtype")}
    model = LlamaForCausalLM(LlamaConfig(**hf_cfg)).eval()
    with torch.no_grad():  # random norm weights too, so a swapped norm would show
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("heads,groups,theta,vocab", [(2, None, 10000.0, 256), (2, 1, 10000.0, 256),
                                                      (8, 2, 500000.0, 251), (4, 2, 123456.5, 256)],
                         ids=["mha", "mqa", "gqa-theta-500k-odd-vocab", "gqa-fractional-theta"])
def test_imported_llama_gives_the_same_logits(megatron_world, tiny_cfg, tmp_path, heads, groups, theta, vocab):
    """Saved by the installed transformers (>= 5: theta only under `rope_parameters`); an odd vocabulary
    gets zero padding rows (their logits are 0, the others are the checkpoint's)."""
    cfg = ModelConfig(**{**tiny_cfg.__dict__, "num_query_groups": groups, "num_attention_heads": heads,
                         "rope_theta": theta, "vocab_size": vocab})
    llama = _random_llama(cfg)
    llama.save_pretrained(tmp_path, safe_serialization=True)
    loaded_cfg, hf = hfc.load_hf(tmp_path, seq_length=cfg.seq_length)
    assert loaded_cfg == cfg and isinstance(loaded_cfg.rope_theta, float)
    model = build_model(cfg).eval()
    hfc.load_into_model(model, hfc.hf_to_megatron(hf, cfg), cfg)
    tokens = torch.randint(0, cfg.vocab_size, (2, cfg.seq_length))
    with torch.no_grad():
        ours = model(tokens, *causal_inputs(tokens))
        theirs = llama(tokens).logits
    assert ours.shape[:-1] == theirs.shape[:-1] and ours.shape[-1] == cfg.padded_vocab_size == 256
    assert (ours[..., :vocab] - theirs).abs().max().item() < 1e-4
    assert not ours[..., vocab:].any()


@pytest.mark.parametrize("vocab", [256, 251])
def test_export_import_round_trips_bit_exactly(megatron_world, tiny_cfg, tmp_path, vocab):
    tiny_cfg = ModelConfig(**{**tiny_cfg.__dict__, "vocab_size": vocab})
    model = build_model(tiny_cfg)
    full = hfc.gather_full_state(model, tiny_cfg)
    hfc.save_hf(tmp_path / "hf", hfc.megatron_to_hf(full, tiny_cfg), tiny_cfg)
    cfg, hf = hfc.load_hf(tmp_path / "hf")
    assert cfg == tiny_cfg
    back = hfc.hf_to_megatron(hf, cfg)
    assert back.keys() == full.keys()
    assert all(torch.equal(back[k], full[k]) for k in full)
    other = build_model(cfg)
    hfc.load_into_model(other, back, cfg)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters(), strict=True))
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]


def test_export_loads_in_transformers_with_same_logits(megatron_world, tiny_cfg, tmp_path):
    from transformers import LlamaForCausalLM

    model = build_model(tiny_cfg).eval()
    hfc.save_hf(tmp_path, hfc.megatron_to_hf(hfc.gather_full_state(model, tiny_cfg), tiny_cfg), tiny_cfg)
    llama = LlamaForCausalLM.from_pretrained(tmp_path).eval()
    tokens = torch.randint(0, tiny_cfg.vocab_size, (1, 16))
    with torch.no_grad():
        ours = model(tokens, *causal_inputs(tokens))
        assert (ours - llama(tokens).logits).abs().max().item() < 1e-4


@pytest.mark.parametrize("tp,pp", [(2, 1), (1, 2), (2, 2)])
def test_shard_unshard_is_identity_and_splits_glu_per_rank(tiny_cfg, tp, pp):
    torch.manual_seed(0)
    llama = _random_llama(tiny_cfg)
    full = hfc.hf_to_megatron(dict(llama.state_dict()), tiny_cfg)
    shards = {(t, p): hfc.shard(full, tiny_cfg, t, tp, p, pp) for t in range(tp) for p in range(pp)}
    back = hfc.unshard(shards, tiny_cfg, tp, pp)
    assert back.keys() == full.keys() and all(torch.equal(back[k], full[k]) for k in full)
    fc1 = shards[(tp - 1, 0)]["decoder.layers.0.mlp.linear_fc1.weight"]
    gate, up = fc1.chunk(2)
    f = tiny_cfg.ffn_hidden_size // tp
    assert torch.equal(gate, full["decoder.layers.0.mlp.linear_fc1.weight"][(tp - 1) * f : tp * f])
    assert torch.equal(up, full["decoder.layers.0.mlp.linear_fc1.weight"][tiny_cfg.ffn_hidden_size + (tp - 1) * f :][:f])


def test_rejects_unsupported_configs():
    base = hfc.hf_config(ModelConfig())
    with pytest.raises(ValueError, match="tie_word_embeddings"):
        hfc.model_config_from_hf({**base, "tie_word_embeddings": True})
    with pytest.raises(ValueError, match="model_type"):
        hfc.model_config_from_hf({**base, "model_type": "gpt2"})


def test_reads_rope_theta_from_both_config_layouts():
    base = {k: v for k, v in hfc.hf_config(ModelConfig()).items() if k not in ("rope_theta", "rope_parameters")}
    legacy = {**base, "rope_theta": 500000}  # transformers < 5
    current = {**base, "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}}  # >= 5
    for config in (legacy, current):
        theta = hfc.model_config_from_hf(config).rope_theta
        assert theta == 500000.0 and isinstance(theta, float)
    assert hfc.model_config_from_hf(base).rope_theta == 10000.0


@pytest.mark.parametrize("config", [
    {"rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}},
    {"rope_scaling": {"type": "linear", "factor": 2.0}, "rope_theta": 10000.0},
    {"rope_scaling": {"rope_type": "llama3", "factor": 8.0}, "rope_theta": 500000.0},
], ids=["linear-v5", "linear-legacy", "llama3-legacy"])
def test_refuses_scaled_rope_instead_of_importing_plain_rope(config):
    base = {k: v for k, v in hfc.hf_config(ModelConfig()).items() if k not in ("rope_theta", "rope_parameters")}
    with pytest.raises(ValueError, match="RoPE scaling"):
        hfc.model_config_from_hf({**base, **config})
