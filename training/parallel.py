"""Process groups for a run: torch.distributed (gloo on CPU, NCCL on GPU) + megatron's parallel_state.

Works the same under `torchrun` (RANK/WORLD_SIZE/MASTER_* from the environment), under Slurm via
torchrun, and as a single plain process (a world of one on a free local port).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from mathforge.config import ConfigError
from training import cpu_compat


@dataclass
class ParallelConfig:
    tensor: int = 1
    pipeline: int = 1
    # data parallel size is what remains: world_size / (tensor * pipeline)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def distributed(parallel: ParallelConfig, seed: int) -> Iterator[None]:
    """Initialise torch.distributed and megatron's model-parallel groups; tear both down on exit.
    Inside, on a CPU-only torch, megatron's "cuda" tensors are CPU ones (`cpu_compat.cpu_as_cuda`)."""
    from megatron.core import parallel_state

    cpu_compat.apply()
    launched = "RANK" in os.environ  # torchrun (or Slurm via torchrun) provides RANK/WORLD_SIZE/MASTER_*
    world = int(os.environ["WORLD_SIZE"]) if launched else 1
    if world % (parallel.tensor * parallel.pipeline):
        raise ConfigError(
            f"world size {world} is not divisible by parallel.tensor ({parallel.tensor}) x parallel.pipeline "
            f"({parallel.pipeline})"
        )
    backend = "gloo" if cpu_compat.cuda_absent() else "nccl"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    owns_group = not dist.is_initialized()
    if owns_group and launched:
        dist.init_process_group(backend)
    elif owns_group:  # a world of one; leaves os.environ alone so child processes pick their own ports
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    parallel_state.initialize_model_parallel(
        tensor_model_parallel_size=parallel.tensor, pipeline_model_parallel_size=parallel.pipeline
    )
    cpu_compat.seed_model_parallel(seed)
    try:
        with cpu_compat.cpu_as_cuda():
            yield
    finally:
        parallel_state.destroy_model_parallel()
        if owns_group:
            dist.destroy_process_group()
