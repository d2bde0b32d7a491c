"""Training checkpoints through megatron's `dist_checkpointing`: model, optimizer, data position,
schedule step and RNG, saved atomically and loadable under another TP/PP/DP layout.

Layout: `run_dir/checkpoints/step_00000042/` holds `model_optim/` (a `dist_checkpointing` folder:
the model's and the optimizer's sharded state dicts, each rank writing its own shards),
`rng_rank{r}.pt` (every rank) and `meta.json` (step, data position, the layout that saved it).
All ranks write into a hidden temporary folder; rank 0 renames it into place and then points
`checkpoints/latest` at it, so a run killed at any moment leaves the previous checkpoint usable.
Resuming under a different layout restores model and optimizer exactly (megatron reshards them;
with the distributed optimizer only the data-parallel size may change, see `_OPTIM_METADATA`);
the per-rank RNG streams are then not restored (logged), as they belong to the old ranks.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from mathforge.config import ConfigError
from mathforge.io import atomic_path, atomic_write_text
from mathforge.log import get_logger
from training.preemption import SIGNALS

log = get_logger(__name__)
MODEL_OPTIM = "model_optim"
# megatron 0.16 on a torch optimizer (no TE/Apex) loads the distributed optimizer only from its
# per-bucket format, which reshards over data-parallel ranks but not over TP/PP ("fully_reshardable"
# fails at distrib_optimizer.py:940, KeyError 'step'; "fully_sharded_model_space" is refused on save)
_OPTIM_METADATA = {"distrib_optim_sharding_type": "dp_reshardable"}


def _is_distributed(optimizer) -> bool:
    from megatron.core.optimizer.distrib_optimizer import DistributedOptimizer

    return any(isinstance(o, DistributedOptimizer) for o in getattr(optimizer, "chained_optimizers", [optimizer]))


def _check_compatible(folder: Path, meta: dict[str, Any], optimizer) -> None:
    """Refuse, with the reason, the resumes megatron cannot load (instead of its assertion deep inside)."""
    saved, now = meta.get("distributed_optimizer", False), _is_distributed(optimizer)
    if saved != now:
        raise ConfigError(f"{folder} was saved with optimizer.use_distributed_optimizer={str(saved).lower()}, "
                         f"this run has {str(now).lower()}; resume with the same setting")
    layout = _layout()
    if now and {k: meta["layout"][k] for k in ("tensor", "pipeline")} != {k: layout[k] for k in ("tensor", "pipeline")}:
        raise ConfigError(f"{folder}: a distributed-optimizer checkpoint saved under {meta['layout']} resumes only "
                         f"with the same parallel.tensor/pipeline (this run: {layout}); data parallel may change")


def _layout() -> dict[str, int]:
    from megatron.core import parallel_state as ps

    return {"tensor": ps.get_tensor_model_parallel_world_size(), "pipeline": ps.get_pipeline_model_parallel_world_size(),
            "data": ps.get_data_parallel_world_size()}


def _rng_state() -> dict[str, Any]:
    from megatron.core.tensor_parallel.random import get_cuda_rng_tracker

    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
             "tracker": get_cuda_rng_tracker().get_states()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    from megatron.core.tensor_parallel.random import get_cuda_rng_tracker

    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    get_cuda_rng_tracker().set_states(state["tracker"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"])


def _create_adam_states(optimizer) -> None:
    """torch's AdamW creates its states (and their step count) at its first step, and megatron's
    distributed optimizer without TE/Apex needs them to build the state dict that a checkpoint is
    loaded into (distrib_optimizer.py:642, `assert len(steps) == 1`). One inner step with zero
    gradients at learning rate 0 creates them and leaves every parameter bit-identical; the load
    then overwrites them."""
    from megatron.core.optimizer.distrib_optimizer import HAVE_APEX_OR_TE, DistributedOptimizer

    for opt in getattr(optimizer, "chained_optimizers", [optimizer]):
        inner = opt.optimizer
        if HAVE_APEX_OR_TE or not isinstance(opt, DistributedOptimizer) or inner.state:
            continue
        lrs = [group["lr"] for group in inner.param_groups]
        for group in inner.param_groups:
            group["lr"] = 0.0
            for param in group["params"]:
                param.grad = torch.zeros_like(param)
        inner.step()
        inner.zero_grad(set_to_none=True)
        for group, lr in zip(inner.param_groups, lrs, strict=True):
            group["lr"] = lr


def _restore_adam_step(optimizer, loaded: dict[str, Any]) -> None:
    """megatron 0.16's distributed optimizer saves torch AdamW's step count only in its param groups,
    and on load copies the per-parameter `step` of the state it loads into over the restored one
    (distrib_optimizer.py:940): put the saved count back (it sets Adam's bias correction)."""
    from megatron.core.optimizer.distrib_optimizer import HAVE_APEX_OR_TE, DistributedOptimizer

    chain = getattr(optimizer, "chained_optimizers", [optimizer])
    if HAVE_APEX_OR_TE or len(chain) != 1 or not isinstance(chain[0], DistributedOptimizer):
        return  # one dense distributed optimizer is what `training.step.build_optimizer` makes
    (step,) = {group["step"] for group in loaded["optimizer"]["param_groups"]}
    for param_state in chain[0].optimizer.state.values():
        param_state["step"] = torch.tensor(float(step))


def _sharded_state(model, optimizer, loading: bool) -> dict[str, Any]:
    model_state = model.module.sharded_state_dict()
    optim_state = optimizer.sharded_state_dict(model_state, is_loading=loading, metadata=_OPTIM_METADATA)
    return {"model": model_state, "optimizer": optim_state}


def _start_write_results_queue() -> None:
    """dist_checkpointing's writer reports through a queue served by a spawned Manager process,
    started at the first save. Start it with the scheduler's stop signals ignored (an ignored signal
    survives exec): Slurm and `kill -TERM -PGID` signal the whole process group, and the save that
    the stop signal asks for must not lose its queue. A SIGKILL still ends it."""
    from megatron.core.dist_checkpointing.strategies import filesystem_async

    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in SIGNALS}
    try:
        filesystem_async._get_write_results_queue()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def save(run_dir: Path, step: int, model, optimizer, meta: dict[str, Any], keep: int = 0) -> Path:
    """Collective: every rank calls it after `step` steps were applied. Returns the checkpoint folder.

    `model` is the DDP-wrapped model, `optimizer` megatron's. With `keep` > 0, only the newest `keep`
    checkpoints stay (older ones are deleted after this one is in place); 0 keeps all.
    """
    from megatron.core import dist_checkpointing

    root = run_dir / "checkpoints"
    final = root / f"step_{step:08d}"
    tmp = root / f".step_{step:08d}.tmp"
    if dist.get_rank() == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / MODEL_OPTIM).mkdir(parents=True)  # dist_checkpointing wants an existing, empty folder
    _start_write_results_queue()
    dist.barrier()
    dist_checkpointing.save(_sharded_state(model, optimizer, loading=False), str(tmp / MODEL_OPTIM))
    with atomic_path(tmp / f"rng_rank{dist.get_rank()}.pt") as path:
        torch.save(_rng_state(), path)
    dist.barrier()
    if dist.get_rank() == 0:
        record = {**meta, "step": step, "layout": _layout(), "distributed_optimizer": _is_distributed(optimizer)}
        atomic_write_text(tmp / "meta.json", json.dumps(record, indent=2) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        atomic_write_text(root / "latest", final.name + "\n")
        if keep > 0:
            for old in sorted(root.glob("step_*"))[:-keep]:
                shutil.rmtree(old)
    dist.barrier()
    return final


def latest(run_dir: Path) -> Path | None:
    pointer = run_dir / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    folder = pointer.parent / pointer.read_text().strip()
    if not (folder / "meta.json").is_file():
        raise FileNotFoundError(f"{pointer} names {folder}, which has no meta.json")
    return folder


def load(folder: Path, model, optimizer) -> dict[str, Any]:
    """Collective: restore model and optimizer (any saved layout) and, for the same layout, the RNG.
    Returns the checkpoint's meta."""
    from megatron.core import dist_checkpointing

    meta = json.loads((folder / "meta.json").read_text())
    if not (folder / MODEL_OPTIM / "metadata.json").is_file():
        raise FileNotFoundError(f"{folder}: no {MODEL_OPTIM}/ dist_checkpointing folder")
    _check_compatible(folder, meta, optimizer)
    _create_adam_states(optimizer)
    state = dist_checkpointing.load(_sharded_state(model, optimizer, loading=True), str(folder / MODEL_OPTIM))
    model.module.load_state_dict(state["model"])
    with torch.no_grad():  # the distributed optimizer copies into views of the fp32 parameters
        optimizer.load_state_dict(state["optimizer"])
    _restore_adam_step(optimizer, state["optimizer"])
    if meta.get("layout") == _layout():
        _set_rng_state(torch.load(folder / f"rng_rank{dist.get_rank()}.pt", weights_only=False))
    elif dist.get_rank() == 0:
        log.warning("%s was saved under layout %s, this run is %s: model and optimizer resharded, "
                    "RNG streams not restored", folder, meta.get("layout"), _layout())
    return meta


def read_full_model(folder: Path, cfg) -> dict[str, torch.Tensor]:
    """The full (unsharded) megatron state dict of a checkpoint, read in one process without a process
    group, whatever TP/PP layout saved it (for offline HF export). megatron stores each tensor at its
    global shape, the layers stacked along a leading axis; `cfg` checks the layer count."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    from training.hf_checkpoint import plain_name

    path = folder / MODEL_OPTIM
    if not (path / ".metadata").is_file():
        raise FileNotFoundError(f"{folder}: no {MODEL_OPTIM}/ dist_checkpointing folder")
    reader = dcp.FileSystemReader(str(path))
    state = {key: torch.empty(meta.size, dtype=meta.properties.dtype)
             for key, meta in reader.read_metadata().state_dict_metadata.items()
             if isinstance(meta, TensorStorageMetadata) and not key.startswith("optimizer.")}
    dcp.load(state, storage_reader=reader, no_dist=True)
    full = {}
    for key, tensor in state.items():
        if not key.startswith("decoder.layers."):
            full[plain_name(key)] = tensor
            continue
        if tensor.shape[0] != cfg.num_layers:
            raise ValueError(f"{path}: {key} holds {tensor.shape[0]} layers, the model config {cfg.num_layers}")
        suffix = key.removeprefix("decoder.layers.")
        for i, layer in enumerate(tensor.unbind(0)):
            full[plain_name(f"decoder.layers.{i}.{suffix}")] = layer.clone()
    return full
