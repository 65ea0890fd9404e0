"""Convergence residuals, participation ratio, per-segment trace."""

from __future__ import annotations

import pytest
import torch

from looped_hrm.evaluation.analyses import convergence, participation_ratio, state_participation, trace

from .fakes import BroadcastTask, TinyReasoner


def test_participation_ratio_counts_effective_dimensions():
    g = torch.Generator().manual_seed(0)
    isotropic = torch.randn(4000, 6, generator=g)
    assert participation_ratio(isotropic) == pytest.approx(6.0, rel=0.05)
    line = torch.randn(500, 1, generator=g) * torch.tensor([[1.0, 2.0, -1.0]])
    assert participation_ratio(line) == pytest.approx(1.0, rel=1e-6)
    two = torch.randn(4000, 4, generator=g) * torch.tensor([1.0, 1.0, 0.0, 0.0])
    assert participation_ratio(two) == pytest.approx(2.0, rel=0.05)


def test_convergence_and_state_participation_read_the_model_outputs():
    task = BroadcastTask()
    model = TinyReasoner(task.info, updates=3)
    split = task.build("test")
    res = convergence(model, split, segments=4, limit=20)
    assert res["z"].shape == (4, 3) and (res["z"] > 0).all()
    pr = state_participation(model, split, segments=2, limit=20)
    assert 1.0 <= pr["z"] <= model.hidden


def test_trace_follows_one_puzzle_segment_by_segment():
    task = BroadcastTask()
    split = task.build("test")
    out = trace(TinyReasoner(task.info), task, split, 3, segments=3)
    assert [s.segment for s in out.steps] == [1, 2, 3]
    assert (out.steps[0].changed == (out.steps[0].prediction != split.inputs[3].numpy())).all()
    assert (out.steps[1].changed == (out.steps[1].prediction != out.steps[0].prediction)).all()
    assert all(s.correct == s.verified for s in out.steps)  # unique answers: the rules and the label agree
    assert 0.0 < out.steps[0].halt_prob < 0.01  # the Q head starts at bias -5
    assert out.to_dict()["segments"][2]["segment"] == 3
