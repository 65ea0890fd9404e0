"""bf16 autocast on the CPU (``train.precision=bf16``): every built-in model runs under it, close to
float32 but really in lower precision, and trains for a few steps with finite losses and updates."""

from __future__ import annotations

import pytest
import torch

from looped_hrm.engine.segment import autocast_for
from looped_hrm.training.config import TrainConfig
from looped_hrm.training.trainer import Trainer

from .builtins import MODELS, tiny_sudoku


@pytest.mark.parametrize("model, halting", MODELS)
def test_bf16_autocast_on_cpu(model, halting):
    task, net, policy = tiny_sudoku(model, halting)
    split = task.build("test")

    batch = split.batch(torch.arange(8))
    carry = net.initial_carry(batch)
    with torch.no_grad():
        _, full = net.segment(carry, batch)
        with autocast_for(torch.device("cpu"), "bf16")():
            _, low = net.segment(carry, batch)
    assert low.logits.dtype == torch.float32  # heads return float32 either way
    assert not torch.equal(low.logits, full.logits), "autocast did not change the arithmetic"
    assert ((low.logits - full.logits).norm() / full.logits.norm()).item() < 0.05

    before = [p.detach().clone() for p in net.parameters()]
    cfg = TrainConfig(steps=3, batch_size=8, precision="bf16", progress=False, max_segments=4, log_every=1)
    trainer = Trainer(net, policy, task, split, cfg, device=torch.device("cpu"), seed=0, workdir=None, progress=False)
    summary = trainer.fit()
    assert summary["train/steps"] == 3 and torch.isfinite(torch.tensor(summary["train/loss"]))
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert any(not torch.equal(a, p) for a, p in zip(before, net.parameters())), "no parameter moved"
