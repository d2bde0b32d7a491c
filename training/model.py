"""The Llama/DeepSeek-architecture GPT model, built with megatron-core from a small config.

DeepSeekMath-7B is a Llama-shaped decoder: RMSNorm, SwiGLU MLP, rotary position embeddings, no
biases, untied input/output embeddings. megatron-core's `GPTModel` expresses exactly that; this
module only turns `ModelConfig` into its arguments (local layer spec on CPU, Transformer Engine spec
where TE is installed and CUDA is present).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training import cpu_compat


@dataclass
class ModelConfig:
    """Architecture only; how it is parallelised and in which precision is decided by the run."""

    num_layers: int = 2
    hidden_size: int = 128
    num_attention_heads: int = 2
    num_query_groups: int | None = None  # None: multi-head attention (DeepSeekMath-7B); else GQA
    ffn_hidden_size: int = 344
    vocab_size: int = 512  # the tokenizer's; the embedding and output layer have `padded_vocab_size` rows
    vocab_multiple: int = 128  # pad the vocabulary to a multiple of this (any TP size that divides it works)
    seq_length: int = 128  # also the maximum position for RoPE
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        if self.num_attention_heads % self.query_groups:
            raise ValueError("num_attention_heads must be a multiple of num_query_groups")
        if self.vocab_multiple <= 0:
            raise ValueError("vocab_multiple must be positive")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def padded_vocab_size(self) -> int:
        """Rows of the embedding and output layer: the same for every TP size (so layouts give equal losses);
        the padding rows start at zero and are dropped by the HF export."""
        return -(-self.vocab_size // self.vocab_multiple) * self.vocab_multiple

    @property
    def query_groups(self) -> int:
        return self.num_query_groups or self.num_attention_heads

    def num_parameters(self) -> int:
        """Parameter count (embeddings and output layer included), for FLOP and MFU estimates."""
        h, f, v, hd = self.hidden_size, self.ffn_hidden_size, self.vocab_size, self.head_dim
        attn = h * (self.num_attention_heads * hd + 2 * self.query_groups * hd) + self.num_attention_heads * hd * h
        layer = attn + 3 * h * f + 2 * h
        return self.num_layers * layer + 2 * v * h + h


def flops_per_token(cfg: ModelConfig) -> float:
    """Training FLOPs per token: 6 N (matmuls, forward + backward) + 12 L h s (attention scores)."""
    non_embedding = cfg.num_parameters() - cfg.vocab_size * cfg.hidden_size
    return 6.0 * non_embedding + 12.0 * cfg.num_layers * cfg.hidden_size * cfg.seq_length


def use_transformer_engine() -> bool:
    if cpu_compat.cuda_absent():
        return False
    try:
        import transformer_engine  # noqa: F401
    except ImportError:
        return False
    return True


def transformer_config(cfg: ModelConfig, bf16: bool = False, tp: int = 1, pp: int = 1):
    """Parameters stay fp32 (they are the master weights); `bf16` runs the matmuls under autocast."""
    from megatron.core.transformer import TransformerConfig

    cpu = cpu_compat.cuda_absent()
    return TransformerConfig(
        num_layers=cfg.num_layers,
        hidden_size=cfg.hidden_size,
        num_attention_heads=cfg.num_attention_heads,
        num_query_groups=cfg.query_groups,
        ffn_hidden_size=cfg.ffn_hidden_size,
        kv_channels=cfg.head_dim,
        normalization="RMSNorm",
        layernorm_epsilon=cfg.norm_eps,
        gated_linear_unit=True,
        activation_func=torch.nn.functional.silu,
        add_bias_linear=False,
        add_qkv_bias=False,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        init_method_std=cfg.init_std,
        tensor_model_parallel_size=tp,
        pipeline_model_parallel_size=pp,
        params_dtype=torch.float32,
        pipeline_dtype=torch.bfloat16 if bf16 else torch.float32,
        enable_autocast=bf16,
        autocast_dtype=torch.bfloat16 if bf16 else None,
        use_cpu_initialization=cpu,
        # the fused kernels are CUDA-only; on GPU megatron picks them itself where TE provides them
        bias_activation_fusion=not cpu,
        masked_softmax_fusion=False,
        persist_layer_norm=False,
        bias_dropout_fusion=False,
        apply_rope_fusion=False,
        gradient_accumulation_fusion=False,
    )


def build_model(
    cfg: ModelConfig,
    bf16: bool = False,
    tp: int = 1,
    pp: int = 1,
    pre_process: bool = True,
    post_process: bool = True,
):
    """A `GPTModel` for this rank's pipeline stage (call after `parallel_state` is initialised)."""
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import (
        get_gpt_layer_local_spec,
        get_gpt_layer_with_transformer_engine_spec,
    )

    cpu_compat.apply()
    if use_transformer_engine():
        spec = get_gpt_layer_with_transformer_engine_spec()
    else:
        spec = get_gpt_layer_local_spec(normalization="RMSNorm")
    if cfg.padded_vocab_size % tp:
        raise ValueError(f"vocab_multiple {cfg.vocab_multiple} must be divisible by tensor parallel size {tp}")
    if cfg.num_layers % pp:
        raise ValueError(f"num_layers {cfg.num_layers} must be divisible by pipeline parallel size {pp}")
    model = GPTModel(
        config=transformer_config(cfg, bf16, tp, pp),
        transformer_layer_spec=spec,
        vocab_size=cfg.padded_vocab_size,
        max_sequence_length=cfg.seq_length,
        pre_process=pre_process,
        post_process=post_process,
        share_embeddings_and_output_weights=False,
        position_embedding_type="rope",
        rotary_base=cfg.rope_theta,  # a float: megatron computes base ** (2i / d)
    )
    _zero_vocab_padding(model, cfg)
    return model.to(cpu_compat.default_device())


def _zero_vocab_padding(model, cfg: ModelConfig) -> None:
    """Zero this rank's rows >= vocab_size of the embedding and output layer (vocab-parallel shards)."""
    from megatron.core import parallel_state as ps

    for name in ("embedding.word_embeddings.weight", "output_layer.weight"):
        weight = dict(model.named_parameters()).get(name)
        if weight is None:  # not on this pipeline stage
            continue
        first = ps.get_tensor_model_parallel_rank() * weight.shape[0]
        with torch.no_grad():
            weight[max(0, cfg.vocab_size - first):].zero_()


def causal_inputs(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Position ids [b, s] and the causal attention mask [1, 1, s, s] (True = may not attend).

    Passed explicitly: megatron's default mask is allocated on "cuda".
    """
    seq = tokens.shape[1]
    positions = torch.arange(seq, device=tokens.device).unsqueeze(0).expand(tokens.shape[0], -1)
    mask = torch.ones(seq, seq, dtype=torch.bool, device=tokens.device).triu(diagonal=1)
    return positions, mask.view(1, 1, seq, seq)
