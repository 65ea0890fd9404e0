"""Looped transformer: weight tying, the gradient window, and inner (refinement) halting."""

from __future__ import annotations

import pytest
import torch

from looped_hrm.config import ConfigError


def test_one_stack_is_looped_with_input_injection(build_model, make_batch):
    model = build_model("looped_transformer", loops=3, grad_loops=1)
    batch = make_batch()
    carry = model.initial_carry(batch)
    assert torch.all(carry["z"] == 0)
    new_carry, out = model.segment(carry, batch)
    x = model.io.embed(batch.inputs, batch.puzzle_ids, torch.float32)
    z = carry["z"]
    for _ in range(3):
        z = model.stack(z, x, model.io.rope())
    assert torch.allclose(new_carry["z"], z, atol=1e-5)
    assert torch.equal(out.inner_steps, torch.full((4,), 3))
    assert out.residuals["z"].shape == (4, 3)
    profile = model.compute_profile()
    assert (profile.effective_depth, profile.gradient_depth, profile.inner_steps) == (3, 1, 3)


def test_paper_preset_matches_hrm_depth_with_half_the_weights(build_model, sudoku_task):
    with torch.device("meta"):
        profile = build_model("looped_transformer", "paper", task=sudoku_task).compute_profile()
    assert (profile.effective_depth, profile.gradient_depth) == (24, 8)
    assert profile.trainable_params == 4 * 3_407_872 + 11 * 512 * 2 + 512 * 2 + 2


def test_gradient_window_sets_activation_memory(build_model, make_batch, saved_bytes):
    batch = make_batch()
    window_1 = {k: saved_bytes(build_model("looped_transformer", loops=k, grad_loops=1), batch) for k in (2, 4)}
    full = {k: saved_bytes(build_model("looped_transformer", loops=k, grad_loops=None), batch) for k in (2, 4)}
    # only the position-0 features read by the inner halting head grow with K: [B, K, hidden] floats
    assert window_1[4] - window_1[2] == 4 * (4 - 2) * 32 * 4
    assert full[4] > 1.8 * full[2]


def test_grad_loops_must_be_positive_and_is_capped_by_loops(build_model):
    with pytest.raises(ConfigError, match="grad_loops"):
        build_model("looped_transformer", loops=2, grad_loops=0)
    assert build_model("looped_transformer", loops=2, grad_loops=3).compute_profile().gradient_depth == 2


def stop_after(steps: torch.Tensor, calls: list):
    def inner_halt(step, logits):
        calls.append(step)
        assert logits.shape == steps.shape and logits.dtype == torch.float32
        return steps <= step

    return inner_halt


@pytest.mark.parametrize("grad", [True, False])
def test_inner_halting_stops_rows_which_keep_their_state(build_model, make_batch, grad):
    model = build_model("looped_transformer", loops=5, grad_loops=2)
    batch = make_batch()
    carry = model.initial_carry(batch)
    stop = torch.tensor([1, 4, 2, 9])  # the last row never asks to stop
    calls = []
    with torch.set_grad_enabled(grad):
        new_carry, out = model.segment(carry, batch, inner_halt=stop_after(stop, calls))
    assert torch.equal(out.inner_steps, torch.tensor([1, 4, 2, 5]))
    assert calls == [1, 2, 3, 4, 5]
    assert torch.allclose(
        out.flops, out.inner_steps.float() * model.loop_flops().forward + model.io.head_flops().forward
    )
    for row, steps in enumerate([1, 4, 2, 5]):  # each row's state is the state after its own number of loops
        fixed = build_model("looped_transformer", loops=steps, grad_loops=1)
        fixed.load_state_dict(model.state_dict())
        with torch.no_grad():
            fixed_carry, _ = fixed.segment(carry, batch)
        assert torch.allclose(new_carry["z"][row], fixed_carry["z"][row], atol=1e-5), row
    assert torch.all(out.residuals["z"][0, 1:] == 0) and torch.all(out.residuals["z"][3] > 0)
    assert torch.equal(out.inner_preds[2, 1], out.inner_preds[2, 4])  # frozen after stopping
    assert torch.equal(out.inner_preds[:, -1], out.logits.argmax(-1))


def test_the_loop_ends_when_every_row_has_stopped(build_model, make_batch):
    model = build_model("looped_transformer", loops=6, grad_loops=1)
    batch = make_batch()
    calls = []
    _, out = model.segment(model.initial_carry(batch), batch, inner_halt=stop_after(torch.tensor([2, 1, 2, 3]), calls))
    assert calls == [1, 2, 3] and out.inner_steps.max() == 3
    assert out.inner_halt_logits.shape == (4, 6)


def test_inner_halting_gradients_equal_each_rows_fixed_schedule(build_model, make_batch):
    """Training with inner halting: a row that ran n loops gets the gradient of a model that always
    runs n loops, through its own last ``grad_loops`` loops (the replay)."""
    model = build_model("looped_transformer", loops=4, grad_loops=2)
    batch = make_batch()
    with torch.no_grad():
        carry, _ = model.segment(model.initial_carry(batch), batch)
    stop = torch.tensor([1, 3, 4, 2])
    _, out = model.segment(carry, batch, inner_halt=stop_after(stop, []))
    out.logits.sum().backward()
    halted = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    expected = {n: torch.zeros_like(g) for n, g in halted.items()}
    for row, steps in enumerate(stop.tolist()):
        fixed = build_model("looped_transformer", loops=steps, grad_loops=2)
        fixed.load_state_dict(model.state_dict())
        _, fixed_out = fixed.segment(carry, batch)
        fixed_out.logits[row].sum().backward()
        for n, p in fixed.named_parameters():
            if p.grad is not None:
                expected[n] += p.grad
    for name in halted:
        assert torch.allclose(halted[name], expected[name], rtol=1e-4, atol=1e-5), name


def test_inner_halting_logits_train_the_q_head_only(build_model, make_batch):
    model = build_model("looped_transformer", loops=3, grad_loops=1)
    batch = make_batch()
    _, out = model.segment(model.initial_carry(batch), batch, inner_halt=stop_after(torch.tensor([1, 2, 3, 3]), []))
    assert torch.all(out.inner_halt_logits == -5.0)
    out.inner_halt_logits.sum().backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad == {"io.q_head.weight", "io.q_head.bias"}
