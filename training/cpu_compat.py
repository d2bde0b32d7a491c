"""Make megatron-core 0.16 run on a CPU-only torch (gloo), for tests, CI and the laptop demo.

Why: megatron-core assumes CUDA in a handful of places: the device of RoPE buffers
(`torch.cuda.current_device()`), `torch.cuda.synchronize` in the pipeline, the RNG tracker that forks
CUDA generator states, and, spread over its pipeline schedules, DDP buffers, optimizers and gradient
clipping, tensors created with `device="cuda"`, `Tensor.cuda()` calls and asserts that `Tensor.type()`
is `torch.cuda.*`. On a machine without CUDA we patch exactly those: the first two as functions
(once), the tracker as `CPURNGStatesTracker`, the rest with a `TorchFunctionMode` (`CPUAsCUDAMode`,
active inside `cpu_as_cuda()`, which `training.parallel.distributed` opens). With CUDA present
nothing is patched, so the GPU path runs megatron unmodified.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.overrides import TorchFunctionMode

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
    _APPLIED = True
    return True


@contextlib.contextmanager
def cpu_as_cuda() -> Iterator[None]:
    """Within the block (this thread), megatron's CUDA tensors are CPU ones (`CPUAsCUDAMode`) when
    CUDA is absent; with CUDA it does nothing. `training.parallel.distributed` opens it, so every
    megatron call of a run is inside."""
    if not apply():
        yield
        return
    with CPUAsCUDAMode():
        yield


class CPUAsCUDAMode(TorchFunctionMode):
    """Lets CPU tensors pass for CUDA ones: a `device="cuda"` argument becomes CPU, `Tensor.cuda()`
    returns the tensor itself, and `Tensor.type()` names the `torch.cuda.*` type megatron asserts."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.cuda:
            return args[0]
        if func is torch.Tensor.type and len(args) == 1 and not kwargs:
            name = func(*args)
            return name.replace("torch.", "torch.cuda.", 1) if not name.startswith("torch.cuda.") else name
        device = kwargs.get("device")
        if device is not None and _is_cuda(device):
            kwargs["device"] = "cpu"
        return func(*args, **kwargs)


def _is_cuda(device) -> bool:
    return (device.type if isinstance(device, torch.device) else str(device)).startswith("cuda")


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
