"""Make megatron-core 0.16 run on a CPU-only torch (gloo), for tests, CI and the laptop demo.

Why: megatron-core assumes CUDA in a handful of places (the device of RoPE buffers, the RNG tracker
that forks CUDA generator states, token counters that pipeline schedules allocate on "cuda",
`torch.cuda.synchronize` in the pipeline). On a machine without CUDA we patch exactly those, once,
and nothing when CUDA is present, so the GPU path runs megatron unmodified.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator

import torch

_APPLIED = False


def cuda_absent() -> bool:
    return not torch.cuda.is_available()


def default_device() -> torch.device:
    return torch.device("cpu") if cuda_absent() else torch.device("cuda", torch.cuda.current_device())


def apply() -> bool:
    """Apply the CPU patches if CUDA is absent (idempotent). Returns whether patches are active."""
    global _APPLIED
    if not cuda_absent():
        return False
    if _APPLIED:
        return True
    torch.cuda.current_device = lambda: "cpu"  # RoPE and others move buffers to this "device"
    torch.cuda.synchronize = lambda device=None: None  # pipeline schedules sync before p2p
    _install_cpu_schedules_torch()
    _APPLIED = True
    return True


def _install_cpu_schedules_torch() -> None:
    """The pipeline schedules allocate their token counters with device="cuda": map that to CPU.

    Only `megatron.core.pipeline_parallel.schedules` sees this shim (its module-level `torch`).
    """
    from megatron.core.pipeline_parallel import schedules

    def zeros(*args, device=None, **kwargs):
        if device is not None and str(device).startswith("cuda"):
            device = "cpu"
        return torch.zeros(*args, device=device, **kwargs)

    shim = types.ModuleType("torch_cpu_shim")
    shim.__dict__.update({k: getattr(torch, k) for k in dir(torch) if not k.startswith("__")})
    shim.zeros = zeros
    schedules.torch = shim


def seed_model_parallel(seed: int) -> None:
    """Seed torch and megatron's RNG tracker (megatron's `model_parallel_cuda_manual_seed`, device-aware).

    The tracker holds the streams megatron forks for dropout inside tensor-parallel regions; each
    tensor-parallel rank gets `seed + 2718 + tp_rank` there, as megatron does.
    """
    from megatron.core import parallel_state
    from megatron.core.tensor_parallel import random as mrandom

    if not cuda_absent():
        mrandom.model_parallel_cuda_manual_seed(seed)
        torch.manual_seed(seed)
        return
    apply()
    tracker = CPURNGStatesTracker()
    mrandom._CUDA_RNG_STATE_TRACKER = tracker
    mrandom._CUDA_RNG_STATE_TRACKER_INITIALIZED = True
    torch.manual_seed(seed)
    tp_rank = parallel_state.get_tensor_model_parallel_rank()
    tracker.add(mrandom._DATA_PARALLEL_RNG_TRACKER_NAME, seed)
    tracker.add(mrandom._MODEL_PARALLEL_RNG_TRACKER_NAME, seed + 2718 + tp_rank)
    tracker.add(mrandom._EXPERT_PARALLEL_RNG_TRACKER_NAME, seed + 1024)


def _tracker_base() -> type:
    from megatron.core.tensor_parallel.random import CudaRNGStatesTracker

    return CudaRNGStatesTracker


class CPURNGStatesTracker(_tracker_base()):  # type: ignore[misc]
    """Megatron's named RNG streams, kept as CPU generator states instead of CUDA ones."""

    def add(self, name: str, seed: int) -> None:
        self._is_initialized = True
        if seed in self.seeds_:
            raise ValueError(f"rng seed {seed} already exists")
        if name in self.states_:
            raise ValueError(f"rng state {name!r} already exists")
        self.seeds_.add(seed)
        self.states_[name] = torch.Generator().manual_seed(seed).get_state()

    @contextlib.contextmanager
    def fork(self, name: str = "model-parallel-rng") -> Iterator[None]:
        if name not in self.states_:
            raise ValueError(f"rng state {name!r} is not added")
        outer = torch.get_rng_state()
        torch.set_rng_state(self.states_[name])
        try:
            yield
        finally:
            self.states_[name] = torch.get_rng_state()
            torch.set_rng_state(outer)
