"""Stop cleanly when the scheduler asks: SIGTERM or SIGUSR1 (what Slurm sends before a time limit
or a preemption, see `--signal` in training/launch/pretrain.sbatch) -> finish the step, save a
checkpoint, exit. Every rank must stop at the same step, so the flag is agreed by an all-reduce."""

from __future__ import annotations

import signal

import torch
import torch.distributed as dist

from training import cpu_compat

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopRequest:
    """Records a stop signal instead of dying; `agreed()` is a collective every rank calls once per step."""

    def __init__(self) -> None:
        self.requested = False
        self.previous = {sig: signal.signal(sig, self._handle) for sig in SIGNALS}

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def agreed(self) -> bool:
        """True on every rank when any rank received a stop signal."""
        if dist.get_world_size() == 1:
            return self.requested
        flag = torch.tensor([int(self.requested)], device=cpu_compat.default_device())
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def close(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
