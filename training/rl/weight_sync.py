"""The policy's weights for the rollout engine in buckets: gathered over TP/PP, mapped to HF names and
cast one bucket at a time, so neither the trainer nor the engine ever holds a second full copy.

A bucket is a run of consecutive *units* in model order: the embedding, each decoder layer (a layer
is never split: vLLM fuses q/k/v and gate/up within it), the final norm, the output layer. Buckets
are filled greedily up to `rollout.sync_bucket_mb` of engine-dtype bytes; a unit larger than that is
a bucket of its own; 0 puts the whole model in one bucket. Every rank of the model-parallel group that
holds rank 0 sends its share of the bucket's units to rank 0 (`gather_object`), which merges the TP
parts and renumbers the PP stages' layers (`hf_checkpoint.unshard`) and maps the names to HF
(`hf_checkpoint.megatron_to_hf`, the export mapping). Peak extra memory on rank 0: about one bucket
(plus its serialised copy on the way to the engine); the other data-parallel replicas send nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import torch

from training import hf_checkpoint
from training.model import ModelConfig

StateDict = dict[str, torch.Tensor]
_LAYER = re.compile(r"^decoder\.layers\.(\d+)\.")
# the non-layer tensors in model order, and the unit each forms
_EMBEDDING, _FINAL_NORM, _OUTPUT = "embedding.word_embeddings.weight", "decoder.final_layernorm.weight", "output_layer.weight"


def unit_of(name: str) -> str:
    """The unit of a full (global) megatron tensor name: `layer.{i}` or the tensor's own name."""
    match = _LAYER.match(name)
    return f"layer.{int(match[1])}" if match else name


def model_units(cfg: ModelConfig) -> list[str]:
    """Every unit in model order (the order the engine receives them)."""
    return [_EMBEDDING, *(f"layer.{i}" for i in range(cfg.num_layers)), _FINAL_NORM, _OUTPUT]


def plan_buckets(unit_bytes: list[tuple[str, int]], bucket_bytes: int) -> list[list[str]]:
    """Consecutive units, each bucket filled while it stays within `bucket_bytes` (a unit larger than
    that alone; `bucket_bytes` <= 0: one bucket). Units of 0 bytes are dropped."""
    buckets: list[list[str]] = []
    size = 0
    for unit, nbytes in unit_bytes:
        if nbytes == 0:
            continue
        if not buckets or (bucket_bytes > 0 and size + nbytes > bucket_bytes):
            buckets.append([])
            size = 0
        buckets[-1].append(unit)
        size += nbytes
    return buckets


def bucket_to_hf(part: StateDict, cfg: ModelConfig) -> StateDict:
    """HF-named tensors of a bucket of full megatron tensors (whole layers and/or non-layer tensors).

    `megatron_to_hf` maps a whole model, so the bucket is presented as one: its layers renumbered from 0
    in a config with that many layers, absent non-layer tensors as zero-size stand-ins (sliced, never
    copied), and the names mapped back to the global layer numbers."""
    layers = sorted({int(m[1]) for name in part if (m := _LAYER.match(name))})
    local = {layer: j for j, layer in enumerate(layers)}
    renamed = {}
    for name, tensor in part.items():
        match = _LAYER.match(name)
        renamed[f"decoder.layers.{local[int(match[1])]}." + name[match.end():] if match else name] = tensor
    stand_ins = {name: torch.empty(0, cfg.hidden_size) for name in (_EMBEDDING, _FINAL_NORM, _OUTPUT) if name not in part}
    hf = hf_checkpoint.megatron_to_hf(renamed | stand_ins, dataclasses.replace(cfg, num_layers=len(layers)))
    dropped = {"model.embed_tokens.weight": _EMBEDDING, "model.norm.weight": _FINAL_NORM, "lm_head.weight": _OUTPUT}
    out = {}
    for name, tensor in hf.items():
        if dropped.get(name) in stand_ins:
            continue
        match = re.match(r"^model\.layers\.(\d+)\.", name)
        out[f"model.layers.{layers[int(match[1])]}." + name[match.end():] if match else name] = tensor
    return out


def _local_params(model: torch.nn.Module, cfg: ModelConfig) -> dict[str, list[tuple[str, torch.nn.Parameter]]]:
    """This rank's parameters by unit: (local plain name, parameter); layers numbered globally for units."""
    from megatron.core import parallel_state as ps

    offset = ps.get_pipeline_model_parallel_rank() * (cfg.num_layers // ps.get_pipeline_model_parallel_world_size())
    units: dict[str, list[tuple[str, torch.nn.Parameter]]] = {}
    for name, param in model.named_parameters():
        local = hf_checkpoint.plain_name(name)
        match = _LAYER.match(local)
        unit = f"layer.{int(match[1]) + offset}" if match else local
        units.setdefault(unit, []).append((local, param))
    return units


def hf_buckets(model: torch.nn.Module, cfg: ModelConfig, bucket_mb: float, dtype: torch.dtype
               ) -> Iterator[StateDict]:
    """The model's HF-named tensors, one bucket per item, in `dtype` on CPU. A collective: every rank
    of the model-parallel groups iterates it to the end; rank 0 gets the tensors, the others {}."""
    import torch.distributed as dist
    from megatron.core import parallel_state as ps

    group = ps.get_model_parallel_group()
    tp, pp = ps.get_tensor_model_parallel_world_size(), ps.get_pipeline_model_parallel_world_size()
    size = tp * pp
    sending = ps.get_data_parallel_rank() == 0  # the model-parallel group of global rank 0
    mine = _local_params(model, cfg)
    element = torch.empty((), dtype=dtype).element_size()
    local_bytes = {unit: sum(p.numel() for _, p in params) * element for unit, params in mine.items()}
    every: list = [local_bytes]
    if size > 1:
        every = [None] * size
        dist.all_gather_object(every, local_bytes, group=group)
    unit_bytes = [(unit, sum(d.get(unit, 0) for d in every)) for unit in model_units(cfg)]
    key = (ps.get_tensor_model_parallel_rank(), ps.get_pipeline_model_parallel_rank())
    for bucket in plan_buckets(unit_bytes, int(bucket_mb * 2**20)):
        if not sending:
            yield {}
            continue
        piece = {name: p.detach().to("cpu", dtype, copy=True) for unit in bucket for name, p in mine.get(unit, [])}
        pieces: list | None = [(key, piece)]
        if size > 1:
            pieces = [None] * size if dist.get_rank() == 0 else None
            dist.gather_object((key, piece), pieces, dst=0, group=group)
        if pieces is None:
            yield {}
            continue
        yield bucket_to_hf(hf_checkpoint.unshard(dict(pieces), cfg, tp, pp), cfg)
