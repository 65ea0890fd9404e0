"""The example stream and the ACT slots: refill halted rows, lose nothing, drain at the end."""

from __future__ import annotations

import torch

from looped_hrm.engine.slots import DeviceSplit, ExampleQueue, Slots
from looped_hrm.plugins.halting.fixed import FixedPolicy

from .fakes import BroadcastTask, TinyReasoner

CPU = torch.device("cpu")


def test_queue_serves_only_wanting_rows_in_order_and_loses_nothing():
    q = ExampleQueue(5, CPU, shuffle=False, epochs=1)
    got = q.take(torch.tensor([True, False, True]))
    assert got.tolist() == [0, -1, 1]
    got = q.take(torch.tensor([True, True, True]))
    assert got.tolist() == [2, 3, 4]
    assert q.may_run_dry(3)
    assert q.take(torch.tensor([True, False, False])).tolist() == [-1, -1, -1]
    assert q.remaining() == 0


def test_shuffled_epochs_are_permutations_and_requeued_examples_come_first():
    q = ExampleQueue(4, CPU, shuffle=True, epochs=None, generator=torch.Generator().manual_seed(0))
    seen = torch.cat([q.take(torch.ones(4, dtype=torch.bool)) for _ in range(3)])
    for epoch in seen.view(3, 4):
        assert sorted(epoch.tolist()) == [0, 1, 2, 3]
    q.push_front(torch.tensor([2, 1]))
    assert q.take(torch.ones(2, dtype=torch.bool)).tolist() == [2, 1]


def _slots(n: int = 6, batch: int = 4) -> tuple[Slots, TinyReasoner]:
    task = BroadcastTask()
    split = task.build("train").subset(slice(0, n))
    model = TinyReasoner(task.info)
    queue = ExampleQueue(n, CPU, shuffle=False, epochs=1)
    return Slots(
        DeviceSplit.from_split(split, CPU), queue, model, FixedPolicy(), batch, extras={"flops": ((), torch.float32)}
    ), model


def test_refill_replaces_only_halted_rows_and_resets_their_state():
    slots, model = _slots()
    slots.refill()
    assert slots.index.tolist() == [0, 1, 2, 3]
    slots.carry = {"z": slots.carry["z"] + 1.0}
    slots.steps = torch.tensor([3, 3, 3, 3])
    slots.extras["flops"] = torch.full((4,), 7.0)
    slots.halted = torch.tensor([False, True, False, False])
    slots.refill()
    assert slots.index.tolist() == [0, 4, 2, 3]
    assert slots.steps.tolist() == [3, 0, 3, 3]
    assert slots.extras["flops"].tolist() == [7.0, 0.0, 7.0, 7.0]
    fresh = model.initial_carry(slots.batch)["z"]
    assert torch.equal(slots.carry["z"][1], fresh[1]) and torch.equal(slots.carry["z"][0], fresh[0] + 1.0)
    assert torch.equal(slots.batch.inputs[1], slots.data.inputs[4])


def test_the_tail_of_a_finite_stream_runs_on_a_shrinking_batch():
    slots, _ = _slots(n=6, batch=4)
    slots.refill()
    slots.halted = torch.tensor([True, True, True, False])
    slots.refill()  # only 2 examples left for 3 halted rows: one row leaves the batch
    assert len(slots) == 3 and sorted(slots.index.tolist()) == [3, 4, 5]
    slots.halted = torch.ones(3, dtype=torch.bool)
    slots.refill()
    assert slots.finished


def test_requeue_in_flight_puts_running_examples_back_first():
    slots, _ = _slots(n=6, batch=4)
    slots.refill()
    slots.halted = torch.tensor([True, False, False, True])
    assert slots.requeue_in_flight() == 2
    slots.refill()
    assert slots.index.tolist() == [1, 2, 4, 5]
