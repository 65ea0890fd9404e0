"""`refine`: early stopping per row, exact truncated gradients (fixed schedule and replay), records."""

from __future__ import annotations

import pytest
import torch

from looped_hrm.nn.refinement import refine, residual_norm

B, D = 5, 3


class Toy(torch.nn.Module):
    """z <- tanh(a * z + x): one scalar weight, so per-row gradients are easy to compute by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(0.7))
        self.batch_sizes: list[int] = []

    def step(self, state, x):
        self.batch_sizes.append(x.shape[0])
        z = torch.tanh(self.a * state["z"] + x)
        return {"z": z}, {"z": residual_norm(z, state["z"]).unsqueeze(1)}

    @staticmethod
    def readout(state):
        z = state["z"]
        return z[:, 0], z[:, 0, 0], (z > 0).long().view(z.shape[0], -1)


def reference_grad(toy: Toy, z0, x, steps, window, weights):
    """Sum over rows of d(w_r · sum z_r)/da with gradient through row r's last min(window, steps_r) steps."""
    total = torch.zeros(())
    for r in range(z0.shape[0]):
        z = z0[r : r + 1]
        n = int(steps[r])
        for s in range(1, n + 1):
            with torch.set_grad_enabled(s > n - min(window, n)):
                z = torch.tanh(toy.a * z + x[r : r + 1])
        (g,) = torch.autograd.grad(weights[r] * z.sum(), toy.a)
        total = total + g
    return total


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, 2, D, generator=g), torch.randn(B, 2, D, generator=g), torch.rand(B, generator=g) + 0.5


@pytest.mark.parametrize("window", [1, 2, None])
def test_fixed_schedule_backpropagates_through_the_last_k_steps(data, window):
    z0, x, w = data
    toy = Toy()
    result = refine(toy.step, {"z": z0}, x, max_steps=4, grad_steps=window, readout=toy.readout)
    (w.view(-1, 1, 1) * result.state["z"]).sum().backward()
    steps = torch.full((B,), 4)
    expected = reference_grad(toy, z0, x, steps, 4 if window is None else window, w)
    assert toy.a.grad.item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.equal(result.steps, steps)


def stop_schedule(stop_at):
    calls = []

    def inner_halt(step, logits):
        calls.append((step, logits.shape))
        return stop_at <= step

    return inner_halt, calls


@pytest.mark.parametrize("window", [1, 2, 6])
def test_inner_halting_in_training_replays_each_rows_own_last_k_steps(data, window):
    z0, x, w = data
    toy = Toy()
    stop_at = torch.tensor([1, 3, 2, 6, 3])
    inner_halt, calls = stop_schedule(stop_at)
    result = refine(toy.step, {"z": z0}, x, max_steps=6, grad_steps=window, readout=toy.readout, inner_halt=inner_halt)
    assert torch.equal(result.steps, stop_at)
    assert [c[0] for c in calls] == [1, 2, 3, 4, 5, 6] and calls[0][1] == (B,)
    (w.view(-1, 1, 1) * result.state["z"]).sum().backward()
    assert toy.a.grad.item() == pytest.approx(reference_grad(toy, z0, x, stop_at, window, w).item(), rel=1e-5)
    with torch.no_grad():  # the replayed state is the state each row stopped with
        plain = refine(
            toy.step,
            {"z": z0},
            x,
            max_steps=6,
            grad_steps=window,
            readout=toy.readout,
            inner_halt=stop_schedule(stop_at)[0],
        )
    assert torch.allclose(result.state["z"], plain.state["z"], atol=1e-6)


def test_evaluation_drops_stopped_rows_and_ends_when_all_have_stopped(data):
    z0, x, _ = data
    toy = Toy()
    stop_at = torch.tensor([1, 2, 2, 3, 1])
    inner_halt, calls = stop_schedule(stop_at)
    with torch.no_grad():
        result = refine(toy.step, {"z": z0}, x, max_steps=8, grad_steps=1, readout=toy.readout, inner_halt=inner_halt)
    assert toy.batch_sizes == [5, 3, 1]  # stopped rows cost nothing; no step after the last row stopped
    assert len(calls) == 3
    assert torch.equal(result.steps, stop_at)
    # a stopped row keeps its state: row 0 equals one step from its start
    assert torch.allclose(result.state["z"][0], torch.tanh(toy.a * z0[0] + x[0]))
    # records: residuals are zero after a row stopped, later read-outs repeat its final one
    res = result.residuals["z"]
    assert res.shape == (B, 8) and torch.all(res[0, 1:] == 0) and torch.all(res[3, :3] > 0)
    assert torch.equal(result.predictions[0, 0], result.predictions[0, 7])
    assert torch.equal(result.features[3, 2], result.features[3, 7])
    assert result.features.shape == (B, 8, D) and result.predictions.shape == (B, 8, 2 * D)


def test_stopping_requests_for_already_stopped_rows_are_harmless(data):
    z0, x, _ = data
    toy = Toy()
    with torch.no_grad():
        result = refine(
            toy.step,
            {"z": z0},
            x,
            max_steps=4,
            grad_steps=1,
            readout=toy.readout,
            inner_halt=lambda step, logits: torch.ones_like(logits, dtype=torch.bool),
        )
    assert torch.equal(result.steps, torch.ones(B, dtype=torch.int64))


def test_max_steps_must_be_positive(data):
    z0, x, _ = data
    with pytest.raises(ValueError, match="max_steps"):
        refine(Toy().step, {"z": z0}, x, max_steps=0, grad_steps=1, readout=Toy.readout)
