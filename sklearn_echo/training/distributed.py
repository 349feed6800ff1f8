"""Running the same training in several processes (``torchrun``): process group and ranks.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) `DistContext.from_env`
joins the process group (gloo on CPU, NCCL on GPU, each process on GPU
``LOCAL_RANK``); each rank then trains on its own shard of every global batch,
`DistributedDataParallel` averages the gradients, the teacher is updated from
identical weights on every rank, and rank 0 alone writes checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistContext", "launched_rank"]


def launched_rank() -> int:
    """This process's rank as ``torchrun`` launched it (``RANK``); 0 without torchrun.

    Read from the environment, so it holds before the process group is joined
    and after it is closed (a command writes its output on rank 0 only).
    """
    return int(os.environ.get("RANK", "0"))


@dataclass
class DistContext:
    """Rank, world size and whether this process started the process group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device) -> DistContext:
        """Join (or reuse) the process group that ``torchrun`` describes; one process otherwise."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size(),
                       int(os.environ.get("LOCAL_RANK", "0")), False)
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1 or not dist.is_available():
            return cls()
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        return cls(dist.get_rank(), dist.get_world_size(),
                   int(os.environ.get("LOCAL_RANK", "0")), True)

    def device_for(self, device: torch.device) -> torch.device:
        """GPU ``LOCAL_RANK`` when training on CUDA in several processes."""
        if self.active and device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank)
        return device

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """Sum of ``value`` over ranks (``value`` itself in one process)."""
        if not self.active:
            return value
        if dist.get_backend() == "nccl":
            out = value.to(f"cuda:{self.local_rank}")
            dist.all_reduce(out)
            return out.to(value.device)
        value = value.clone()
        dist.all_reduce(value)
        return value

    def broadcast_int(self, value: int) -> int:
        """Rank 0's ``value`` on every rank."""
        if not self.active:
            return int(value)
        t = torch.tensor([int(value)], dtype=torch.int64)
        if dist.get_backend() == "nccl":
            t = t.cuda(self.local_rank)
        dist.broadcast(t, 0)
        return int(t.item())

    def barrier(self):
        if self.active:
            dist.barrier()

    def close(self):
        """Leave the process group this context created, every rank together.

        The barrier keeps a rank from tearing down its connections while a
        peer is still finishing its last collective.
        """
        if self.owns_group and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
