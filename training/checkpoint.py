"""Training checkpoints: model, optimizer, data position, schedule step and RNG, saved atomically.

Layout: `run_dir/checkpoints/step_00000042/` holds `model_optim_tp{t}_pp{p}.pt` (written by the
first data-parallel replica of each model shard), `rng_rank{r}.pt` (every rank) and `meta.json`.
All ranks write into a hidden temporary folder; rank 0 renames it into place and then points
`checkpoints/latest` at it, so a run killed at any moment leaves the previous checkpoint usable.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from mathforge.io import atomic_path, atomic_write_text


def _names() -> tuple[str, str]:
    from megatron.core import parallel_state as ps

    shard = f"model_optim_tp{ps.get_tensor_model_parallel_rank()}_pp{ps.get_pipeline_model_parallel_rank()}.pt"
    return shard, f"rng_rank{dist.get_rank()}.pt"


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


def save(run_dir: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
         meta: dict[str, Any], keep: int = 0) -> Path:
    """Collective: every rank calls it after `step` steps were applied. Returns the checkpoint folder.

    With `keep` > 0, only the newest `keep` checkpoints stay (older ones are deleted after this one
    is in place); 0 keeps all.
    """
    from megatron.core import parallel_state as ps

    root = run_dir / "checkpoints"
    final = root / f"step_{step:08d}"
    tmp = root / f".step_{step:08d}.tmp"
    if dist.get_rank() == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    dist.barrier()
    shard_name, rng_name = _names()
    if ps.get_data_parallel_rank() == 0:
        with atomic_path(tmp / shard_name) as path:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)
    with atomic_path(tmp / rng_name) as path:
        torch.save(_rng_state(), path)
    dist.barrier()
    if dist.get_rank() == 0:
        atomic_write_text(tmp / "meta.json", json.dumps({**meta, "step": step}, indent=2) + "\n")
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


def load(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore this rank's model shard, optimizer, and RNG; returns the checkpoint's meta."""
    shard_name, rng_name = _names()
    if not (folder / rng_name).is_file():
        raise FileNotFoundError(f"{folder}: no {rng_name} (was it saved with a different world size?)")
    state = torch.load(folder / shard_name, weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    _set_rng_state(torch.load(folder / rng_name, weights_only=False))
    return json.loads((folder / "meta.json").read_text())


def read_full_model(folder: Path, cfg) -> dict[str, torch.Tensor]:
    """The full (unsharded) megatron state dict of a checkpoint, read in one process from its
    `model_optim_tp*_pp*.pt` shards, whatever TP/PP layout saved it (for offline HF export)."""
    from training.hf_checkpoint import plain_name, unshard

    shards = {}
    for path in folder.glob("model_optim_tp*_pp*.pt"):
        tp_rank, pp_rank = (int(x) for x in path.stem.removeprefix("model_optim_tp").split("_pp"))
        model = torch.load(path, weights_only=False, map_location="cpu")["model"]
        shards[(tp_rank, pp_rank)] = {plain_name(k): v for k, v in model.items() if not k.endswith("_extra_state")}
    if not shards:
        raise FileNotFoundError(f"{folder}: no model_optim_tp*_pp*.pt files")
    tp, pp = max(t for t, _ in shards) + 1, max(p for _, p in shards) + 1
    if len(shards) != tp * pp:
        raise FileNotFoundError(f"{folder}: {len(shards)} shard files for a {tp}x{pp} layout")
    return unshard(shards, cfg, tp, pp)
