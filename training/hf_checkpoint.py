"""Hugging Face Llama checkpoints <-> our megatron-core GPT model, on in-memory state dicts.

Three steps, each a pure function over `{name: tensor}` dicts so that GRPO can later sync weights
without touching disk:
  HF Llama names  <->  full megatron names (one process, global layer numbers)  <->  one rank's shard
Layouts that differ (megatron side):
  linear_qkv = per query group g: [q heads of g; k_g; v_g] stacked on dim 0  (HF: separate q/k/v)
  linear_fc1 = [gate; up] on dim 0, and under tensor parallel each rank holds [gate_r; up_r]
Vocabulary: megatron's embedding and output layer have `cfg.padded_vocab_size` rows; the import
appends zero rows, the export drops them.
Tensor-parallel splits: embeddings, output layer, qkv and fc1 on dim 0; linear_proj and fc2 on dim 1;
norm weights are replicated. Pipeline stage p holds layers [p L/P, (p+1) L/P), renumbered from 0.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch

from mathforge.io import atomic_path, atomic_write_text
from training.model import ModelConfig

StateDict = dict[str, torch.Tensor]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")

_LAYER = re.compile(r"^decoder\.layers\.(\d+)\.(.+)$")
_TP_DIM = {  # megatron name suffix -> tensor-parallel split dim
    "embedding.word_embeddings.weight": 0,
    "output_layer.weight": 0,
    "self_attention.linear_qkv.weight": 0,
    "self_attention.linear_proj.weight": 1,
    "mlp.linear_fc1.weight": 0,
    "mlp.linear_fc2.weight": 1,
}
_TE_NAMES = {  # Transformer Engine spec fuses the norms into the following linear layer
    "input_layernorm.weight": "self_attention.linear_qkv.layer_norm_weight",
    "pre_mlp_layernorm.weight": "mlp.linear_fc1.layer_norm_weight",
}


def hf_config(cfg: ModelConfig, dtype: str = "float32", bos_token_id: int = 0, eos_token_id: int = 1) -> dict:
    """config.json of the equivalent `LlamaForCausalLM`."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.ffn_hidden_size,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.query_groups,
        "head_dim": cfg.head_dim,
        "vocab_size": cfg.vocab_size,
        "max_position_embeddings": cfg.seq_length,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,  # both layouts: transformers < 5 reads this one, >= 5 the next
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "attention_bias": False,
        "mlp_bias": False,
        "initializer_range": cfg.init_std,
        "torch_dtype": dtype,
        "bos_token_id": bos_token_id,
        "eos_token_id": eos_token_id,
    }


def model_config_from_hf(hf: dict, seq_length: int | None = None) -> ModelConfig:
    """Our `ModelConfig` from a Llama config.json (refuses what the mapping cannot express)."""
    if hf.get("model_type") not in ("llama", None):
        raise ValueError(f"model_type {hf.get('model_type')!r}: only Llama-architecture checkpoints are supported")
    for key in ("attention_bias", "mlp_bias", "tie_word_embeddings"):
        if hf.get(key):
            raise ValueError(f"config.json {key}=true is not supported (no biases, untied embeddings)")
    heads = hf["num_attention_heads"]
    head_dim = hf.get("head_dim") or hf["hidden_size"] // heads
    if head_dim * heads != hf["hidden_size"]:
        raise ValueError("config.json head_dim * num_attention_heads must equal hidden_size")
    kv = hf.get("num_key_value_heads", heads)
    return ModelConfig(
        num_layers=hf["num_hidden_layers"],
        hidden_size=hf["hidden_size"],
        num_attention_heads=heads,
        num_query_groups=None if kv == heads else kv,
        ffn_hidden_size=hf["intermediate_size"],
        vocab_size=hf["vocab_size"],
        seq_length=seq_length or hf["max_position_embeddings"],
        rope_theta=rope_theta_from_hf(hf),
        norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        init_std=float(hf.get("initializer_range", 0.02)),
    )


def rope_theta_from_hf(hf: dict) -> float:
    """The RoPE base of a Llama config.json in either layout: top-level `rope_theta` / `rope_scaling`
    (transformers < 5) or `rope_parameters` (transformers >= 5). Scaled RoPE (linear, dynamic, yarn,
    llama3, ...) is refused: the model here runs plain RoPE and would silently compute other logits."""
    params = hf.get("rope_parameters") or {}
    if any(isinstance(value, dict) for value in params.values()):
        raise ValueError(f"config.json rope_parameters per attention type {sorted(params)} is not supported")
    for where, scaling in (("rope_scaling", hf.get("rope_scaling") or {}), ("rope_parameters", params)):
        kind = scaling.get("rope_type", scaling.get("type", "default"))
        if kind != "default":
            raise ValueError(f"config.json {where} asks for {kind!r} RoPE scaling ({scaling}); only plain RoPE "
                             "(rope_type 'default') is supported")
    return float(params.get("rope_theta", hf.get("rope_theta", 10000.0)))


def hf_to_megatron(hf: StateDict, cfg: ModelConfig) -> StateDict:
    """HF Llama names -> full (unsharded) megatron state dict."""
    groups, hd, h = cfg.query_groups, cfg.head_dim, cfg.hidden_size
    per_group = cfg.num_attention_heads // groups
    out = {
        "embedding.word_embeddings.weight": _pad_vocab(_take(hf, "model.embed_tokens.weight"), cfg),
        "decoder.final_layernorm.weight": _take(hf, "model.norm.weight"),
        "output_layer.weight": _pad_vocab(_take(hf, "lm_head.weight"), cfg),
    }
    for i in range(cfg.num_layers):
        src, dst = f"model.layers.{i}.", f"decoder.layers.{i}."
        q = _take(hf, src + "self_attn.q_proj.weight").reshape(groups, per_group * hd, h)
        k = _take(hf, src + "self_attn.k_proj.weight").reshape(groups, hd, h)
        v = _take(hf, src + "self_attn.v_proj.weight").reshape(groups, hd, h)
        out[dst + "self_attention.linear_qkv.weight"] = torch.cat([q, k, v], dim=1).reshape(-1, h)
        out[dst + "self_attention.linear_proj.weight"] = _take(hf, src + "self_attn.o_proj.weight")
        gate, up = _take(hf, src + "mlp.gate_proj.weight"), _take(hf, src + "mlp.up_proj.weight")
        out[dst + "mlp.linear_fc1.weight"] = torch.cat([gate, up], dim=0)
        out[dst + "mlp.linear_fc2.weight"] = _take(hf, src + "mlp.down_proj.weight")
        out[dst + "input_layernorm.weight"] = _take(hf, src + "input_layernorm.weight")
        out[dst + "pre_mlp_layernorm.weight"] = _take(hf, src + "post_attention_layernorm.weight")
    return out


def megatron_to_hf(full: StateDict, cfg: ModelConfig) -> StateDict:
    """Full megatron state dict -> HF Llama names (inverse of `hf_to_megatron`)."""
    groups, hd, h = cfg.query_groups, cfg.head_dim, cfg.hidden_size
    per_group = cfg.num_attention_heads // groups
    out = {
        "model.embed_tokens.weight": _take(full, "embedding.word_embeddings.weight")[: cfg.vocab_size],
        "model.norm.weight": _take(full, "decoder.final_layernorm.weight"),
        "lm_head.weight": _take(full, "output_layer.weight")[: cfg.vocab_size],
    }
    for i in range(cfg.num_layers):
        src, dst = f"decoder.layers.{i}.", f"model.layers.{i}."
        qkv = _take(full, src + "self_attention.linear_qkv.weight").reshape(groups, (per_group + 2) * hd, h)
        q, k, v = torch.split(qkv, [per_group * hd, hd, hd], dim=1)
        out[dst + "self_attn.q_proj.weight"] = q.reshape(-1, h)
        out[dst + "self_attn.k_proj.weight"] = k.reshape(-1, h)
        out[dst + "self_attn.v_proj.weight"] = v.reshape(-1, h)
        out[dst + "self_attn.o_proj.weight"] = _take(full, src + "self_attention.linear_proj.weight")
        gate, up = torch.chunk(_take(full, src + "mlp.linear_fc1.weight"), 2, dim=0)
        out[dst + "mlp.gate_proj.weight"] = gate
        out[dst + "mlp.up_proj.weight"] = up
        out[dst + "mlp.down_proj.weight"] = _take(full, src + "mlp.linear_fc2.weight")
        out[dst + "input_layernorm.weight"] = _take(full, src + "input_layernorm.weight")
        out[dst + "post_attention_layernorm.weight"] = _take(full, src + "pre_mlp_layernorm.weight")
    return {k: v.contiguous() for k, v in out.items()}


def _pad_vocab(weight: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    if weight.shape[0] != cfg.vocab_size:
        raise ValueError(f"vocabulary tensor has {weight.shape[0]} rows, config.json vocab_size {cfg.vocab_size}")
    return torch.cat([weight, weight.new_zeros(cfg.padded_vocab_size - cfg.vocab_size, weight.shape[1])])


def shard(full: StateDict, cfg: ModelConfig, tp_rank: int, tp: int, pp_rank: int, pp: int) -> StateDict:
    """The part of a full megatron state dict that rank (tp_rank, pp_rank) holds."""
    per_stage = cfg.num_layers // pp
    first, last = pp_rank * per_stage, (pp_rank + 1) * per_stage
    out: StateDict = {}
    for name, tensor in full.items():
        match = _LAYER.match(name)
        if match:
            layer, suffix = int(match[1]), match[2]
            if not first <= layer < last:
                continue
            local = f"decoder.layers.{layer - first}.{suffix}"
        else:
            suffix = local = name
            if name.startswith("embedding.") and pp_rank != 0:
                continue
            if not name.startswith("embedding.") and pp_rank != pp - 1:
                continue
        out[local] = _split(tensor, suffix, tp_rank, tp).clone()
    return out


def unshard(shards: dict[tuple[int, int], StateDict], cfg: ModelConfig, tp: int, pp: int) -> StateDict:
    """Inverse of `shard`: `shards[(tp_rank, pp_rank)]` -> the full megatron state dict."""
    per_stage = cfg.num_layers // pp
    full: StateDict = {}
    for pp_rank in range(pp):
        for local in shards[(0, pp_rank)]:
            match = _LAYER.match(local)
            suffix = match[2] if match else local
            name = f"decoder.layers.{int(match[1]) + pp_rank * per_stage}.{suffix}" if match else local
            parts = [shards[(r, pp_rank)][local] for r in range(tp)]
            full[name] = _merge(parts, suffix)
    return full


def _split(tensor: torch.Tensor, suffix: str, rank: int, tp: int) -> torch.Tensor:
    dim = _TP_DIM.get(suffix)
    if dim is None or tp == 1:
        return tensor
    if suffix == "mlp.linear_fc1.weight":
        gate, up = torch.chunk(tensor, 2, dim=0)
        return torch.cat([torch.chunk(gate, tp, dim=0)[rank], torch.chunk(up, tp, dim=0)[rank]], dim=0)
    return torch.chunk(tensor, tp, dim=dim)[rank]


def _merge(parts: list[torch.Tensor], suffix: str) -> torch.Tensor:
    dim = _TP_DIM.get(suffix)
    if dim is None or len(parts) == 1:
        return parts[0]
    if suffix == "mlp.linear_fc1.weight":
        halves = [torch.chunk(p, 2, dim=0) for p in parts]
        return torch.cat([h[0] for h in halves] + [h[1] for h in halves], dim=0)
    return torch.cat(parts, dim=dim)


def _take(sd: StateDict, key: str) -> torch.Tensor:
    if key not in sd:
        raise KeyError(f"checkpoint has no tensor {key!r}")
    return sd[key]


def load_into_model(model: torch.nn.Module, full: StateDict, cfg: ModelConfig) -> None:
    """Copy this rank's shard of a full megatron state dict into `model` (any TP/PP layout)."""
    from megatron.core import parallel_state as ps

    local = shard(
        full, cfg, ps.get_tensor_model_parallel_rank(), ps.get_tensor_model_parallel_world_size(),
        ps.get_pipeline_model_parallel_rank(), ps.get_pipeline_model_parallel_world_size(),
    )
    params = dict(model.named_parameters())
    for name, tensor in local.items():
        target = params.get(name, params.get(_te_name(name)))
        if target is None:
            raise KeyError(f"model has no parameter for {name!r}")
        if target.shape != tensor.shape:
            raise ValueError(f"{name}: checkpoint shape {tuple(tensor.shape)} != model {tuple(target.shape)}")
        with torch.no_grad():
            target.copy_(tensor)
    missing = {plain_name(n) for n in params} - set(local)
    if missing:
        raise KeyError(f"checkpoint lacks parameters {sorted(missing)[:5]}")


def local_state(model: torch.nn.Module) -> StateDict:
    """This rank's parameters under local-spec names (TE names mapped back), detached on CPU."""
    return {plain_name(n): p.detach().to("cpu", copy=True) for n, p in model.named_parameters()}


def gather_full_state(model: torch.nn.Module, cfg: ModelConfig) -> StateDict:
    """All ranks of the model-parallel group -> the full megatron state dict, in memory on every rank.

    For small models and in-memory weight sync (GRPO rollouts); large exports go through the
    checkpoint shards on disk instead (`checkpoint.read_full_model`).
    """
    import torch.distributed as dist
    from megatron.core import parallel_state as ps

    tp, pp = ps.get_tensor_model_parallel_world_size(), ps.get_pipeline_model_parallel_world_size()
    key = (ps.get_tensor_model_parallel_rank(), ps.get_pipeline_model_parallel_rank())
    gathered: list = [None] * (tp * pp)
    group = ps.get_model_parallel_group()
    if tp * pp == 1:
        gathered = [(key, local_state(model))]
    else:
        dist.all_gather_object(gathered, (key, local_state(model)), group=group)
    return unshard(dict(gathered), cfg, tp, pp)


def _te_name(name: str) -> str:
    for plain, te in _TE_NAMES.items():
        if name.endswith(plain):
            return name[: -len(plain)] + te
    return name


def plain_name(name: str) -> str:
    for plain, te in _TE_NAMES.items():
        if name.endswith(te):
            return name[: -len(te)] + plain
    return name


def save_hf(folder: str | Path, hf: StateDict, cfg: ModelConfig, tokenizer_dir: str | Path | None = None) -> Path:
    """Write config.json + model.safetensors (+ tokenizer files) loadable by transformers and vLLM."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dtype = str(next(iter(hf.values())).dtype).removeprefix("torch.")
    bos, eos = 0, 1
    if tokenizer_dir is not None:
        for name in TOKENIZER_FILES:
            src = Path(tokenizer_dir) / name
            if src.is_file():
                with atomic_path(folder / name) as tmp:
                    shutil.copyfile(src, tmp)
        bos, eos = _special_ids(Path(tokenizer_dir))
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file({k: v.contiguous() for k, v in hf.items()}, str(tmp), metadata={"format": "pt"})
    config = hf_config(cfg, dtype, bos, eos)
    atomic_write_text(folder / "config.json", json.dumps(config, indent=2) + "\n")
    return folder


def load_hf(folder: str | Path, seq_length: int | None = None) -> tuple[ModelConfig, StateDict]:
    """Read a Llama checkpoint folder (config.json + one or more *.safetensors)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder}: no config.json")
    cfg = model_config_from_hf(json.loads(config_path.read_text()), seq_length)
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{folder}: no *.safetensors files")
    hf: StateDict = {}
    for path in files:
        hf.update(load_file(str(path)))
    return cfg, hf


def _special_ids(tokenizer_dir: Path) -> tuple[int, int]:
    """bos/eos ids from the tokenizer's config (defaults 0/1 when it names none)."""
    from training.tokenizer import load_tokenizer

    tok = load_tokenizer(tokenizer_dir)
    return tok.bos_id, tok.eos_id
