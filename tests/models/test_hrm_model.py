"""HRM: the official parameter count, the one-step gradient, and O(1) activation memory in the cycles."""

from __future__ import annotations

import pytest
import torch

from looped_hrm.contracts import Batch


def loss_of(model, z_H: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logits = model.io.logits(z_H)
    q = model.io.q_logits(z_H[:, 0])
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten()) + q.sum()


def unrolled(model, carry, batch: Batch, cut: bool) -> torch.Tensor:
    """Every HRM update with gradient enabled; ``cut`` detaches the states entering the last L and H
    update — the one-step gradient's definition. Returns z_H."""
    c = model.config
    x = model.io.embed(batch.inputs, batch.puzzle_ids, torch.float32)
    rope = model.io.rope()
    z_H, z_L = carry["z_H"], carry["z_L"]
    for h in range(c.H_cycles):
        for i in range(c.L_cycles):
            if cut and h == c.H_cycles - 1 and i == c.L_cycles - 1:
                z_H, z_L = z_H.detach(), z_L.detach()
            z_L = model.L_level(z_L, z_H + x, rope)
        z_H = model.H_level(z_H, z_L, rope)
    return z_H


def grads(model) -> dict[str, torch.Tensor]:
    out = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    return out


def test_paper_preset_has_the_official_size_depth_and_flops(build_model, sudoku_task):
    model = build_model("hrm", "paper", task=sudoku_task)
    profile = model.compute_profile()
    assert profile.trainable_params == 27_275_266
    assert (profile.effective_depth, profile.gradient_depth) == (24, 8)
    # docs/reference.md §6: 13.7 GFLOP forward per sequence-segment; 17.63 TFLOP per 768-row step without the Q target
    assert profile.forward_flops == pytest.approx(13.74e9, rel=1e-3)
    assert profile.train_flops * 768 == pytest.approx(17.63e12, rel=1e-3)
    assert model.io.prefix_len == 1 and model.io.seq_len == 82


def test_backward_passes_through_exactly_the_last_L_and_H_call(build_model, make_batch):
    model = build_model("hrm", H_cycles=3, L_cycles=2)
    batch = make_batch()
    forward_with_graph, backward_calls = [], []
    for name in ("L_level", "H_level"):
        module = getattr(model, name)
        module.register_forward_hook(lambda m, i, o, name=name: forward_with_graph.append((name, o.requires_grad)))
        module.register_full_backward_hook(lambda m, gi, go, name=name: backward_calls.append(name))
    _, out = model.segment(model.initial_carry(batch), batch)
    torch.nn.functional.cross_entropy(out.logits.flatten(0, 1), batch.labels.flatten()).backward()
    assert len(forward_with_graph) == 3 * 2 + 3
    assert [name for name, graph in forward_with_graph if graph] == ["L_level", "H_level"]
    assert forward_with_graph[-2:] == [("L_level", True), ("H_level", True)]
    assert sorted(backward_calls) == ["H_level", "L_level"]


def test_gradients_equal_the_detached_reference_and_differ_from_full_backprop(build_model, make_batch):
    model = build_model("hrm")
    batch = make_batch()
    carry = model.initial_carry(batch)
    with torch.no_grad():  # a carry from a previous segment, not the init vectors
        carry, _ = model.segment(carry, batch)

    _, out = model.segment(carry, batch)
    q = torch.stack((out.q_halt, out.q_continue), -1)
    (torch.nn.functional.cross_entropy(out.logits.flatten(0, 1), batch.labels.flatten()) + q.sum()).backward()
    one_step = grads(model)
    loss_of(model, unrolled(model, carry, batch, cut=True), batch.labels).backward()
    reference = grads(model)
    loss_of(model, unrolled(model, carry, batch, cut=False), batch.labels).backward()
    full = grads(model)

    assert one_step.keys() == reference.keys()
    for name in one_step:
        assert torch.allclose(one_step[name], reference[name], rtol=1e-4, atol=1e-6), name
    assert not torch.allclose(one_step["L_level.blocks.0.mlp.down.weight"], full["L_level.blocks.0.mlp.down.weight"])


def saved_activations(model, batch: Batch) -> tuple[int, int]:
    count, size = 0, 0

    def pack(t: torch.Tensor):
        nonlocal count, size
        count += 1
        size += t.numel() * t.element_size()
        return t

    carry = model.initial_carry(batch)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.segment(carry, batch)
    return count, size


def test_saved_activations_do_not_grow_with_the_number_of_cycles(build_model, make_batch):
    batch = make_batch()
    measured = {
        (h, low): saved_activations(build_model("hrm", H_cycles=h, L_cycles=low), batch)
        for h, low in [(1, 1), (2, 2), (4, 3)]
    }
    assert len(set(measured.values())) == 1, measured
    assert measured[(1, 1)][0] > 0


def test_residuals_record_every_update(build_model, make_batch):
    model = build_model("hrm", H_cycles=3, L_cycles=2)
    batch = make_batch()
    _, out = model.segment(model.initial_carry(batch), batch)
    assert out.residuals["L"].shape == (4, 6) and out.residuals["H"].shape == (4, 3)
    assert torch.all(out.residuals["L"] > 0) and torch.all(out.residuals["H"] > 0)
    assert out.inner_steps is None and model.halting_levels == {"segment"}


def test_initial_states_are_fixed_buffers_not_parameters(build_model, make_batch):
    model = build_model("hrm")
    names = dict(model.named_buffers())
    assert {"H_init", "L_init"} <= set(names) and "H_init" not in dict(model.named_parameters())
    assert names["H_init"].std().item() == pytest.approx(1.0, abs=0.5)
    carry = model.initial_carry(make_batch())
    assert torch.equal(carry["z_H"][2, 5], model.H_init) and torch.equal(carry["z_L"][0, 0], model.L_init)
