"""All of the multi-process code: `torchrun` environment -> process group -> DDP wrappers.

`torchrun --nproc-per-node N -m tiwcli train ...` sets RANK, WORLD_SIZE and
LOCAL_RANK; without them training runs as a single process and nothing here
does anything. Backend: NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistributedContext:
    """Join the process group that torchrun describes in the environment (if any)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    context = DistributedContext(
        rank=int(os.environ["RANK"]), world_size=world_size, local_rank=int(os.environ.get("LOCAL_RANK", "0"))
    )
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return context


def wrap(module: nn.Module, context: DistributedContext, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `module` in a multi-process run; the module itself otherwise."""
    if not context.enabled:
        return module
    device_ids = [device.index] if device.type == "cuda" else None
    # the warp-only warm-up leaves the generator out of some steps
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=True)


def any_rank(flag: bool, context: DistributedContext, device: torch.device) -> bool:
    """True on every process when `flag` is true on any: a decision all ranks act on together
    (a stop request that reached the processes at different steps)."""
    if not context.enabled:
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()


def shutdown(context: DistributedContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()
