"""TRM: the official recursion, its parameter counts, and gradient through the last cycle only."""

from __future__ import annotations

import pytest
import torch


def recursion(model, carry, batch, cut: bool) -> dict[str, torch.Tensor]:
    """The official TRM segment written out with gradient everywhere; ``cut`` detaches the state
    entering the last cycle (what the model's no_grad over the first T−1 cycles amounts to)."""
    c = model.config
    x = model.io.embed(batch.inputs, batch.puzzle_ids, torch.float32)
    rope = model.io.rope()
    y, z = carry["y"], carry["z"]
    for t in range(c.H_cycles):
        if cut and t == c.H_cycles - 1:
            y, z = y.detach(), z.detach()
        for _ in range(c.L_cycles):
            z = model.net(z, y + x, rope)  # the latent sees the input and the answer
        y = model.net(y, z, rope)  # the answer is rewritten from the latent, without the input
    return {"y": y, "z": z}


@pytest.mark.parametrize("mixer", ["attention", "mlp"])
def test_segment_is_the_official_recursion_with_gradient_through_the_last_cycle(build_model, make_batch, mixer):
    model = build_model("trm", mixer=mixer, H_cycles=3, L_cycles=2)
    batch = make_batch()
    with torch.no_grad():
        carry, _ = model.segment(model.initial_carry(batch), batch)
    new_carry, out = model.segment(carry, batch)
    out.logits.sum().backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    ref = recursion(model, carry, batch, cut=True)
    model.io.logits(ref["y"]).sum().backward()
    assert torch.allclose(new_carry["y"], ref["y"], atol=1e-5) and torch.allclose(new_carry["z"], ref["z"], atol=1e-5)
    for name, grad in got.items():
        assert torch.allclose(grad, model.get_parameter(name).grad, rtol=1e-4, atol=1e-6), name
    assert out.residuals["z"].shape == (4, 3 * 2) and out.residuals["y"].shape == (4, 3)
    assert torch.equal(out.inner_steps, torch.full((4,), 3))


def test_paper_presets_have_the_official_parameter_counts(build_model, sudoku_task):
    with torch.device("meta"):
        mlp = build_model("trm", "paper", task=sudoku_task).compute_profile()
        att = build_model("trm", "paper_att", task=sudoku_task).compute_profile()
    assert mlp.trainable_params == 5_028_866 and att.trainable_params == 6_828_034
    assert (mlp.effective_depth, mlp.gradient_depth, mlp.inner_steps) == (42, 14, 3)
    # docs/reference.md §6: forward per sequence-segment 25.6 / 28.6 GFLOP, a 768-row step 32.81 / 36.68 TFLOP
    assert mlp.forward_flops == pytest.approx(25.6e9, rel=2e-3) and att.forward_flops == pytest.approx(28.6e9, rel=2e-3)
    assert mlp.train_flops * 768 == pytest.approx(32.81e12, rel=1e-3)
    assert att.train_flops * 768 == pytest.approx(36.68e12, rel=1e-3)


def test_activation_memory_grows_with_n_but_not_with_T(build_model, make_batch, saved_bytes):
    batch = make_batch()
    by_T = {t: saved_bytes(build_model("trm", H_cycles=t, L_cycles=2), batch) for t in (1, 3)}
    by_n = {n: saved_bytes(build_model("trm", H_cycles=2, L_cycles=n), batch) for n in (1, 3)}
    features = 4 * (3 - 1) * 32 * 4  # the inner halting head's [B, T, hidden] position-0 features
    assert by_T[3] - by_T[1] == features
    assert by_n[3] > 1.5 * by_n[1]


def test_inner_halting_ends_bursts_per_example(build_model, make_batch):
    model = build_model("trm", H_cycles=3, L_cycles=2)
    batch = make_batch()
    carry = model.initial_carry(batch)
    stop = torch.tensor([1, 3, 2, 2])
    new_carry, out = model.segment(carry, batch, inner_halt=lambda step, logits: stop <= step)
    assert torch.equal(out.inner_steps, stop)
    one = build_model("trm", H_cycles=1, L_cycles=2)
    one.load_state_dict(model.state_dict())
    with torch.no_grad():
        one_carry, _ = one.segment(carry, batch)
    assert torch.allclose(new_carry["y"][0], one_carry["y"][0], atol=1e-5)  # stopped after one cycle
    out.logits.sum().backward()
    assert model.net.blocks[0].mlp.down.weight.grad.abs().sum() > 0
