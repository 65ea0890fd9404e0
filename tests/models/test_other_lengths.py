"""Models run on inputs of other lengths than they were built for (the extrapolation protocol), or
refuse in one line; at the training length nothing changes."""

from __future__ import annotations

import pytest
import torch

from looped_hrm.contracts import TaskInfo
from looped_hrm.nn.rope import RotaryEmbedding, RotaryEmbedding2D, apply_rope

SEQ = TaskInfo(vocab_size=5, seq_len=12)
GRID = TaskInfo(vocab_size=6, seq_len=25, grid=(5, 5))
SIZE_FREE = {
    "hrm": {},
    "looped_transformer": {},
    "transformer": {},
    "trm": {},
    "hrm_no_positions": {"pos_encodings": "none"},
    "dt_net": {},
}


def plugin(key: str) -> str:
    return key.split("_no_")[0] if key != "looped_transformer" else key


@pytest.mark.parametrize("key", sorted(SIZE_FREE))
@pytest.mark.parametrize("task, other", [(SEQ, 29), (GRID, 49)], ids=["1d", "2d"])
def test_size_free_models_run_at_other_lengths(key, task, other, build_model, make_batch):
    model = build_model(plugin(key), task=task, **SIZE_FREE[key]).eval()
    assert model.length_problem(other) is None
    batch = make_batch(n=3, task=TaskInfo(vocab_size=task.vocab_size, seq_len=other))
    with torch.no_grad():
        carry = model.initial_carry(batch)
        for _ in range(2):
            carry, out = model.segment(carry, batch)
    assert out.logits.shape == (3, other, task.vocab_size) and torch.isfinite(out.logits).all()
    if out.flops is not None:  # FLOPs at the length actually run
        _, at_train = model.segment(model.initial_carry(make_batch(n=3, task=task)), make_batch(n=3, task=task))
        assert torch.all(out.flops > at_train.flops)


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("hrm", {"pos_encodings": "learned"}, "learned absolute positions exist for the training length"),
        ("transformer", {"pos_encodings": "learned"}, "learned absolute positions"),
        ("trm", {"mixer": "mlp", "pos_encodings": "none"}, "token-mixing MLP is sized for the training length"),
    ],
)
def test_fixed_length_models_refuse_in_one_line(name, overrides, message, build_model, make_batch):
    model = build_model(name, task=SEQ, **overrides)
    assert model.length_problem(SEQ.seq_len) is None
    problem = model.length_problem(20)
    assert message in problem and "\n" not in problem
    batch = make_batch(n=2, task=TaskInfo(vocab_size=5, seq_len=20))
    with pytest.raises(ValueError, match=message):
        model.segment(model.initial_carry(batch), batch)


def test_grid_models_refuse_a_length_that_is_no_grid(build_model):
    for name, overrides in (("dt_net", {}), ("hrm", {"pos_encodings": "rope_2d"})):
        model = build_model(name, task=GRID, **overrides)
        assert "not a grid" in model.length_problem(30)


def test_rope_tables_at_the_training_length_are_the_buffers_and_longer_ones_extend_them():
    rope = RotaryEmbedding(8, 10)
    assert rope() == (rope.cos, rope.sin) and rope(10)[0] is rope.cos
    cos, sin = rope(25)
    assert cos.shape == (25, 8) and torch.equal(cos[:10], rope.cos) and torch.equal(sin[:10], rope.sin)


def test_2d_rope_depends_on_row_and_column_offsets_only():
    """q·k after rotation depends on (Δrow, Δcol), so it means the same on a grid of any size."""
    rope = RotaryEmbedding2D(8, prefix=1)
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 1, 1, 8, generator=g), torch.randn(1, 1, 1, 8, generator=g)

    def score(grid, a, b):
        cos, sin = rope(grid)
        ia, ib = 1 + a[0] * grid[1] + a[1], 1 + b[0] * grid[1] + b[1]
        qa = apply_rope(q, cos[ia : ia + 1], sin[ia : ia + 1])
        kb = apply_rope(k, cos[ib : ib + 1], sin[ib : ib + 1])
        return float((qa * kb).sum())

    base = score((5, 5), (1, 2), (3, 1))
    assert score((9, 9), (4, 6), (6, 5)) == pytest.approx(base, abs=1e-5)  # same offsets, larger grid
    assert score((9, 9), (1, 2), (1, 3)) != pytest.approx(base, abs=1e-3)
    cos, _ = rope((5, 5))
    assert cos.shape == (26, 8) and torch.all(cos[0] == 1)  # the prefix sits at (0, 0)


def test_rope_2d_is_the_1d_rope_on_a_sequence_task(build_model, make_batch):
    axial, plain = build_model("hrm", task=SEQ, pos_encodings="rope_2d"), build_model("hrm", task=SEQ)
    batch = make_batch(n=2, task=SEQ)
    with torch.no_grad():
        a = axial.segment(axial.initial_carry(batch), batch)[1].logits
        b = plain.segment(plain.initial_carry(batch), batch)[1].logits
    assert torch.equal(a, b) and axial.io.rotary_2d is None
