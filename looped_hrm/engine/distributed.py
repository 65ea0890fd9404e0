"""Data parallelism across processes (``torchrun``): which rank this is, and the few collectives the
engine needs. One process without ``torchrun`` gets `Dist.single()`, whose collectives are no-ops.

The design keeps one *global* view that every rank computes identically, so that N ranks train
exactly what one process would at the same global batch:

* every rank holds the whole example stream (same seed, same permutation) and the halted mask of
  *all* rows (`gather_rows`), so each halted row — on whichever rank — takes the same next example
  as in one process: no example is dropped or repeated, and resuming on another rank count works
  because a checkpoint only holds global state;
* random draws for the rows (exploration) are made for the global batch and sliced, so they match;
* gradients are summed across ranks (`all_reduce_grads`) after each rank divided its loss by the
  *global* batch, as the official HRM/TRM do; the puzzle-embedding table is a dense parameter
  here, so its sign-SGD sees the summed gradient of every rank's puzzle ids (the official code
  all-gathers the sparse rows to the same effect);
* rank 0 alone writes logs, records and checkpoints.

Backends: NCCL on CUDA (one GPU per rank, ``LOCAL_RANK``), gloo on the CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

# torch 2.13 renamed all_gather_into_tensor (deprecated there, with a warning on every call); older
# releases within the supported range (>= 2.4) only have the old name
_all_gather_single = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def single(cls) -> "Dist":
        return cls()

    @classmethod
    def from_env(cls, device: str = "auto") -> tuple["Dist", torch.device]:
        """Join the process group ``torchrun`` describes in the environment (if any); pick the device.

        ``device="auto"``: ``cuda:LOCAL_RANK`` when CUDA is available (NCCL), else the CPU (gloo).
        """
        world = int(os.environ.get("WORLD_SIZE", "1"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", local_rank if world > 1 else 0)
        if world == 1:
            return cls.single(), dev
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        if not dist.is_initialized():
            dist.init_process_group(
                "nccl" if dev.type == "cuda" else "gloo", device_id=dev if dev.type == "cuda" else None
            )
        return cls(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local_rank), dev

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def shard_sizes(self, total: int) -> list[int]:
        """Every rank's share of ``total`` items, contiguous in rank order (the first ranks get one more)."""
        base, extra = divmod(total, self.world)
        return [base + (1 if r < extra else 0) for r in range(self.world)]

    def shard(self, total: int) -> tuple[int, int]:
        """``[lo, hi)``: this rank's contiguous share of ``total`` items."""
        sizes = self.shard_sizes(total)
        lo = sum(sizes[: self.rank])
        return lo, lo + sizes[self.rank]

    # ---------------------------------------------------------------------------- collectives

    def gather_rows(self, local: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        """Concatenate every rank's ``local`` rows (rank ``r`` holds ``sizes[r]``) in rank order."""
        if not self.active:
            return local
        cap = max(sizes)
        padded = local.new_zeros((cap, *local.shape[1:]))
        padded[: local.shape[0]] = local
        dtype = padded.dtype
        if dtype == torch.bool:  # gloo and NCCL disagree on bool; bytes travel everywhere
            padded = padded.to(torch.uint8)
        out = padded.new_empty((self.world * cap, *padded.shape[1:]))
        _all_gather_single(out, padded)
        parts = [out[r * cap : r * cap + n] for r, n in enumerate(sizes)]
        return torch.cat(parts).to(dtype)

    def all_reduce_(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """In-place sum (or ``max``/``min``) over ranks; returns ``tensor``."""
        if self.active:
            dist.all_reduce(
                tensor, op={"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}[op]
            )
        return tensor

    def all_reduce_grads(self, params: list[torch.nn.Parameter]) -> None:
        """Sum the gradients over ranks in one flat buffer. A parameter without a gradient on this
        rank contributes zeros; it gets the sum if any rank had a gradient, else stays ``None``."""
        if not self.active or not params:
            return
        ref = params[0]
        flat = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float() for p in params]
            + [torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=ref.device)]
        )
        dist.all_reduce(flat)
        offset = 0
        present = flat[-len(params) :] > 0
        for i, p in enumerate(params):
            n = p.numel()
            if bool(present[i]):
                grad = flat[offset : offset + n].view_as(p).to(p.dtype)
                if p.grad is None:
                    p.grad = grad.clone()
                else:
                    p.grad.copy_(grad)
            offset += n

    def broadcast_module_(self, module: Any) -> None:  # an nn.Module (a ReasoningModel)
        """Make every rank hold rank 0's parameters and buffers (same seed gives the same, but be sure)."""
        if not self.active:
            return
        with torch.no_grad():
            for t in [*module.parameters(), *module.buffers()]:
                dist.broadcast(t.data, src=0)

    def all_gather_object(self, obj: Any) -> list[Any]:
        if not self.active:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def agree(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is True on any rank (e.g. a time budget seen by one clock)."""
        if not self.active:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self._device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def close(self) -> None:
        if self.active and dist.is_initialized():
            dist.destroy_process_group()

    def _device(self) -> torch.device:
        return (
            torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
        )
