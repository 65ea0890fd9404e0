"""ACT carry batching: a fixed number of slots, each holding one example until its policy halts it.

The official HRM keeps the carry across optimizer steps and, when a row halts, gives it the row of
the *next loader batch at the same position*; the loader rows that land on still-running positions
are silently dropped, so an "epoch" there is not every example seen. Here the slots draw from an
`ExampleQueue` instead: a halted slot takes the next index of the stream, nothing is skipped, and an
epoch means every example entered a slot and ran until it halted.

Everything in the steady state is a tensor op on the device (the queue pointer lives there too):
refilling ``k`` halted rows is ``cumsum`` + gather + ``where``, with no host synchronisation. The
host only synchronises when the queue might run dry (the end of a finite stream: an epoch budget or
an evaluation pass), and then drops the rows left without an example, so the tail of a pass runs
on a shrinking batch instead of padding.

The same machinery drives evaluation (one sequential pass): a finished example leaves its slot
and the next one enters, so early exit saves real compute.

Under data parallelism (`looped_hrm.engine.distributed`) each rank holds its share of the rows
of the global batch and a full copy of the queue; `refill` gathers the halted mask of every rank
and takes for the *global* batch, so the rows of all ranks together draw exactly the examples one
process with the whole batch would, and every copy of the queue stays identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from looped_hrm.contracts import (
    Batch,
    Carry,
    HaltingPolicy,
    PolicyState,
    ReasoningModel,
    Split,
    select_rows,
    where_rows,
)
from looped_hrm.engine.distributed import Dist
from looped_hrm.engine.segment import SegmentStep


@dataclass
class DeviceSplit:
    """The token tensors of a split, moved once to the device so slots can gather rows there."""

    inputs: torch.Tensor
    labels: torch.Tensor
    puzzle_ids: torch.Tensor

    @classmethod
    def from_split(cls, split: Split, device: torch.device) -> "DeviceSplit":
        return cls(split.inputs.to(device), split.labels.to(device), split.puzzle_ids.to(device))

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def batch(self, index: torch.Tensor) -> Batch:
        return Batch(inputs=self.inputs[index], labels=self.labels[index], puzzle_ids=self.puzzle_ids[index])


class ExampleQueue:
    """A stream of example indices on the device: shuffled epochs (training) or one ordered pass.

    ``epochs=None`` streams forever. The head of the stream is ``order[ptr]`` with ``ptr`` a device
    scalar; the host keeps an upper bound of ``ptr`` (every `take` may consume up to one index per
    row) and only reads the true value in `sync`.
    """

    def __init__(
        self,
        num_examples: int,
        device: torch.device,
        *,
        shuffle: bool,
        epochs: int | None,
        generator: torch.Generator | None = None,
    ) -> None:
        if num_examples <= 0:
            raise ValueError("cannot stream an empty split")
        self.num_examples = num_examples
        self.device = device
        self.shuffle = shuffle
        self.epochs = epochs
        self.generator = generator
        self.order = torch.empty(0, dtype=torch.int64, device=device)
        self.ptr = torch.zeros((), dtype=torch.int64, device=device)
        self.bound = 0  # host upper bound of ptr
        self.epochs_enqueued = 0

    def _extend(self) -> None:
        if self.shuffle:
            perm = torch.randperm(self.num_examples, generator=self.generator)
        else:
            perm = torch.arange(self.num_examples)
        if self.device.type == "cuda":  # pinned + non_blocking: no host sync once per epoch
            perm = perm.pin_memory().to(self.device, non_blocking=True)
        self.order = torch.cat([self.order, perm.to(self.device)])
        self.epochs_enqueued += 1

    def _ensure(self, k: int) -> None:
        while len(self.order) - self.bound < k and (self.epochs is None or self.epochs_enqueued < self.epochs):
            self._extend()

    def may_run_dry(self, k: int) -> bool:
        """Might the next `take` of ``k`` rows find fewer than ``k`` indices left? (host-side, no sync)"""
        self._ensure(k)
        return len(self.order) - self.bound < k

    def take(self, want: torch.Tensor) -> torch.Tensor:
        """The next indices, in row order, for the rows where ``want`` [B] is True; -1 for the other
        rows and for rows an exhausted stream cannot serve."""
        k = want.shape[0]
        self._ensure(k)
        size = len(self.order)
        if size == 0:
            return torch.full_like(want, -1, dtype=torch.int64)
        pos = self.ptr + torch.cumsum(want.to(torch.int64), 0) - 1
        valid = want & (pos < size)
        index = torch.where(valid, self.order[pos.clamp(0, size - 1)], -1)
        self.ptr = self.ptr + valid.sum()
        self.bound += k
        return index

    def sync(self) -> None:
        """Read the device pointer and drop the consumed head of the stream (one host sync)."""
        used = int(self.ptr.item())
        self.order = self.order[used:]
        self.ptr = torch.zeros((), dtype=torch.int64, device=self.device)
        self.bound = 0

    def remaining(self) -> int:
        """Indices left before the stream ends (exact; syncs). Infinite streams report what is enqueued."""
        self.sync()
        return len(self.order)

    def push_front(self, index: torch.Tensor) -> None:
        """Put examples back at the head of the stream (in-flight examples at a checkpoint)."""
        self.sync()
        self.order = torch.cat([index.to(self.device, torch.int64), self.order])

    def state_dict(self) -> dict:
        self.sync()
        state = {"order": self.order.cpu(), "epochs_enqueued": self.epochs_enqueued}
        if self.generator is not None:
            state["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.order = state["order"].to(self.device)
        self.ptr = torch.zeros((), dtype=torch.int64, device=self.device)
        self.bound = 0
        self.epochs_enqueued = int(state["epochs_enqueued"])
        if self.generator is not None and "generator" in state:
            self.generator.set_state(state["generator"])


class Slots:
    """``batch_size`` rows of recurrent state, refilled from a queue as examples halt.

    Per row: ``index`` (example in the row, -1 for none), ``steps`` (segments run), ``halted``, the
    model ``carry``, the policy state and ``extras`` — per-example accumulators owned by the caller
    (FLOPs spent, inner steps, ...) that restart at 0 with each new example. After `refill`, rows
    with ``index == -1`` exist only while the stream is still full; once it runs dry they are removed.

    With ``dist`` (data parallel), ``batch_size`` is the global batch and this rank holds rows
    ``[row_offset, row_offset + len(self))`` of it; ``sizes`` are every rank's row counts.
    """

    def __init__(
        self,
        data: DeviceSplit,
        queue: ExampleQueue,
        model: ReasoningModel,
        policy: HaltingPolicy,
        batch_size: int,
        extras: dict[str, tuple[tuple[int, ...], torch.dtype]] | None = None,
        dist: Dist | None = None,
    ) -> None:
        self.data, self.queue, self.model, self.policy = data, queue, model, policy
        self.batch_size = batch_size
        self.device = queue.device
        self.extra_specs = extras or {}
        self.dist = dist or Dist.single()
        self.reset()

    @property
    def total_rows(self) -> int:
        """Rows of the global batch (all ranks)."""
        return sum(self.sizes)

    @property
    def row_offset(self) -> int:
        return sum(self.sizes[: self.dist.rank])

    def reset(self) -> None:
        """Empty every slot (the next `refill` starts fresh examples in all of them)."""
        d = self.dist
        self.sizes = d.shard_sizes(self.batch_size)
        b, dev = self.sizes[d.rank], self.device
        self.index = torch.full((b,), -1, dtype=torch.int64, device=dev)
        self.steps = torch.zeros(b, dtype=torch.int64, device=dev)
        self.halted = torch.ones(b, dtype=torch.bool, device=dev)
        self.carry: Carry | None = None
        self.pstate: PolicyState | None = None
        self.batch: Batch | None = None
        self.extras = {
            k: torch.zeros((b, *shape), dtype=dtype, device=dev) for k, (shape, dtype) in self.extra_specs.items()
        }
        self.finished = False

    def __len__(self) -> int:
        return self.index.shape[0]

    def state(self) -> tuple[Carry, Batch, PolicyState]:
        """The rows' carry, batch and policy state as `refill` left them (the next segment's inputs)."""
        if self.carry is None or self.batch is None or self.pstate is None:
            raise RuntimeError("Slots.state() before the first refill()")
        return self.carry, self.batch, self.pstate

    def refill(self) -> None:
        """Give every halted row the next example (fresh carry, policy state, extras, step count)."""
        rows, total, lo = len(self), self.total_rows, self.row_offset
        dry = False
        if self.queue.may_run_dry(total):
            self.queue.sync()
            dry = self.queue.may_run_dry(total)
        fresh = self.halted
        fresh_all = self.dist.gather_rows(fresh, self.sizes)
        taken_all = self.queue.take(fresh_all)
        self.index = torch.where(fresh, taken_all[lo : lo + rows], self.index)
        if dry:
            keep_all = ~fresh_all | (taken_all >= 0)
            if int(keep_all.sum().item()) == 0:
                self.finished = True
                return
            bounds = [sum(self.sizes[:r]) for r in range(len(self.sizes) + 1)]
            self.sizes = [int(keep_all[bounds[r] : bounds[r + 1]].sum().item()) for r in range(len(self.sizes))]
            keep = keep_all[lo : lo + rows]
            if self.sizes[self.dist.rank] < rows:
                self._keep(keep)
                fresh = fresh[keep]
                rows = self.sizes[self.dist.rank]
        self.batch = self.data.batch(self.index.clamp_min(0))
        new_carry = self.model.initial_carry(self.batch)
        self.carry = new_carry if self.carry is None else where_rows(fresh, new_carry, self.carry)
        new_state = self.policy.init_state(rows, self.device)
        self.pstate = new_state if self.pstate is None else where_rows(fresh, new_state, self.pstate)
        self.steps = torch.where(fresh, 0, self.steps)
        self.extras = where_rows(fresh, {k: torch.zeros_like(v) for k, v in self.extras.items()}, self.extras)
        self.halted = torch.zeros_like(self.halted)

    def advance(self, step: SegmentStep, halt: torch.Tensor) -> None:
        """Take a segment's results: the new carry and policy state, the step count, and which rows
        halted (``halt``: the policy's decision, or the caller's rule such as a fixed count)."""
        self.carry = step.carry
        self.pstate = {k: v.detach() for k, v in step.decision.state.items()}
        self.steps = step.steps
        self.halted = halt

    def _keep(self, keep: torch.Tensor) -> None:
        self.index, self.steps, self.halted = self.index[keep], self.steps[keep], self.halted[keep]
        if self.carry is not None:
            self.carry = select_rows(self.carry, keep)
        if self.pstate is not None:
            self.pstate = select_rows(self.pstate, keep)
        self.extras = select_rows(self.extras, keep)

    def requeue_in_flight(self) -> int:
        """Send the examples still running back to the head of the queue and empty every slot.

        Checkpoints are carry-free; calling this at every checkpoint — in the run that goes on as in
        the run that resumes from it — makes both continue identically, and no example is lost.
        """
        in_flight = (self.index >= 0) & ~self.halted
        pending = self.dist.gather_rows(torch.where(in_flight, self.index, -1), self.sizes)
        pending = pending[pending >= 0]  # global row order, as one process would requeue them
        self.queue.push_front(pending)
        self.reset()
        return len(pending)
