"""Every built-in model implements the ReasoningModel contract the engine relies on."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from looped_hrm.contracts import Batch, ReasoningModel, SegmentOutput, where_rows
from looped_hrm.registry import get_registry

VARIANTS = {
    "hrm": ("hrm", {}),
    "looped_transformer": ("looped_transformer", {}),
    "transformer": ("transformer", {}),
    "trm": ("trm", {}),
    "trm_mlp": ("trm", {"mixer": "mlp", "pos_encodings": "none"}),
    "hrm_learned_pos": ("hrm", {"pos_encodings": "learned"}),
}
INNER = {"looped_transformer", "trm", "trm_mlp"}
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(params=sorted(VARIANTS))
def variant(request, build_model):
    name, overrides = VARIANTS[request.param]
    return request.param, (lambda **kw: build_model(name, **{**overrides, **kw}))


def check_output(model, carry, out: SegmentOutput, batch: Batch, dtype: torch.dtype) -> None:
    n, length = batch.inputs.shape
    task = model.task
    assert out.logits.shape == (n, length, task.vocab_size) and out.logits.dtype == torch.float32
    for q in (out.q_halt, out.q_continue):
        assert q.shape == (n,) and q.dtype == torch.float32
    assert out.flops.shape == (n,) and torch.all(out.flops > 0)
    for level, res in out.residuals.items():
        assert res.dim() == 2 and res.shape[0] == n and not res.requires_grad, level
    for level, state in out.states.items():
        assert state.shape == (n, model.io.seq_len, model.config.hidden_size) and not state.requires_grad, level
    for key, value in carry.items():
        assert value.shape[0] == n and value.dtype == dtype and not value.requires_grad, key
    if "inner" in model.halting_levels:
        k = out.inner_halt_logits.shape[1]
        assert out.inner_steps.shape == (n,) and out.inner_steps.dtype == torch.int64
        assert out.inner_halt_logits.shape == (n, k) and out.inner_halt_logits.dtype == torch.float32
        assert out.inner_preds.shape == (n, k, length) and out.inner_preds.dtype == torch.int64
        assert k == model.compute_profile().inner_steps
    else:
        assert out.inner_halt_logits is None and out.inner_preds is None


def test_shapes_and_dtypes_on_cpu_float32(variant, make_batch):
    key, build = variant
    model = build()
    assert isinstance(model, ReasoningModel) and model.halting_levels <= {"segment", "inner"}
    assert ("inner" in model.halting_levels) == (key in INNER)
    batch = make_batch()
    carry = model.initial_carry(batch)
    new_carry, out = model.segment(carry, batch)
    assert set(new_carry) == set(carry)
    check_output(model, new_carry, out, batch, torch.float32)
    assert out.logits.requires_grad and out.q_halt.requires_grad


@cuda
@pytest.mark.cuda
def test_shapes_and_dtypes_on_cuda_bfloat16(variant, make_batch):
    _, build = variant
    model = build().cuda()
    batch = make_batch(device="cuda")
    carry = model.initial_carry(batch)
    new_carry, out = model.segment(carry, batch)
    check_output(model, new_carry, out, batch, torch.bfloat16)
    out.logits.float().sum().backward()
    assert all(p.dtype == torch.float32 for p in model.parameters())  # fp32 master weights


def test_bfloat16_forward_on_cpu_keeps_fp32_outputs_and_master_weights(variant, make_batch):
    """forward_dtype=bfloat16 forced on the CPU: the same code path CUDA takes under ``auto``."""
    _, build = variant
    model, reference = build(forward_dtype="bfloat16"), build()
    batch = make_batch()
    new_carry, out = model.segment(model.initial_carry(batch), batch)
    check_output(model, new_carry, out, batch, torch.bfloat16)
    out.logits.sum().backward()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        _, ref = reference.segment(reference.initial_carry(batch), batch)
    assert (out.logits - ref.logits).abs().max() < 0.05 * ref.logits.abs().max()


def test_q_head_starts_at_minus_five_and_continue_is_its_second_logit(variant, make_batch):
    _, build = variant
    model = build()
    batch = make_batch()
    _, out = model.segment(model.initial_carry(batch), batch)
    assert torch.all(out.q_halt == -5.0) and torch.all(out.q_continue == -5.0)


def test_same_seed_same_model_same_outputs(variant, make_batch):
    _, build = variant
    a, b = build(seed=3), build(seed=3)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    batch = make_batch()
    carry_a, out_a = a.segment(a.initial_carry(batch), batch)
    carry_b, out_b = b.segment(b.initial_carry(batch), batch)
    assert torch.equal(out_a.logits, out_b.logits)
    assert all(torch.equal(carry_a[k], carry_b[k]) for k in carry_a)
    assert not torch.equal(build(seed=4).io.lm_head.weight, a.io.lm_head.weight)


def test_rows_are_independent_and_restart_from_initial_carry(variant, make_batch):
    """The engine's ACT batching: a halted row gets initial_carry's row, the others continue."""
    _, build = variant
    model = build()
    batch, fresh = make_batch(seed=1), make_batch(seed=2)
    with torch.no_grad():
        carry, _ = model.segment(model.initial_carry(batch), batch)
        carry, _ = model.segment(carry, batch)
        halted = torch.tensor([True, False, False, True])
        mixed = Batch(
            *(
                torch.where(halted.view(-1, *[1] * (t.dim() - 1)), tf, t)
                for t, tf in (
                    (batch.inputs, fresh.inputs),
                    (batch.labels, fresh.labels),
                    (batch.puzzle_ids, fresh.puzzle_ids),
                )
            )
        )
        restarted = where_rows(halted, model.initial_carry(mixed), carry)
        _, out = model.segment(restarted, mixed)
        _, out_fresh = model.segment(model.initial_carry(fresh), fresh)
        _, out_cont = model.segment(carry, batch)
    assert torch.allclose(out.logits[halted], out_fresh.logits[halted], atol=1e-5)
    assert torch.allclose(out.logits[~halted], out_cont.logits[~halted], atol=1e-5)


def test_segment_under_no_grad_gives_the_same_values(variant, make_batch):
    _, build = variant
    model = build()
    batch = make_batch()
    carry = model.initial_carry(batch)
    _, out = model.segment(carry, batch)
    with torch.no_grad():
        _, out_ng = model.segment(carry, batch)
    assert not out_ng.logits.requires_grad
    assert torch.allclose(out.logits, out_ng.logits, atol=1e-5)


def test_flops_match_pytorchs_flop_counter(variant, make_batch):
    """The profile's formulas against FlopCounterMode (attention through the math kernel so it is
    counted; FlopCounterMode then counts its backward as 2x, the profile as 2.5x like the anchor)."""
    _, build = variant
    model = build()
    batch = make_batch(n=2)
    profile = model.compute_profile()
    carry = model.initial_carry(batch)
    with sdpa_kernel(SDPBackend.MATH):
        with FlopCounterMode(display=False) as forward, torch.no_grad():
            _, out = model.segment(carry, batch)
        with FlopCounterMode(display=False) as train:
            _, out_train = model.segment(carry, batch)
            out_train.logits.sum().backward()
    assert forward.get_total_flops() / 2 == pytest.approx(profile.forward_flops, rel=1e-3)
    assert torch.allclose(out.flops, torch.full((2,), profile.forward_flops), rtol=1e-6)
    assert train.get_total_flops() / 2 <= profile.train_flops <= 1.02 * train.get_total_flops() / 2
    assert profile.gradient_depth <= profile.effective_depth


def test_puzzle_embedding_is_trained_separately_and_not_counted(variant, make_batch):
    _, build = variant
    model = build()
    (table,) = model.puzzle_embedding_parameters()
    assert torch.all(table == 0) and table.shape[0] == model.task.num_puzzle_ids
    everything = sum(p.numel() for p in model.parameters())
    assert model.compute_profile().trainable_params == everything - table.numel()
    batch = make_batch()
    _, out = model.segment(model.initial_carry(batch), batch)
    F.cross_entropy(out.logits.flatten(0, 1), batch.labels.flatten()).backward()
    used = torch.zeros(table.shape[0], dtype=torch.bool)
    used[batch.puzzle_ids] = True
    assert torch.all(table.grad[~used] == 0) and torch.all(table.grad[used].abs().sum(-1) > 0)


def test_no_puzzle_embedding_means_no_prefix(variant, make_batch):
    key, build = variant
    if key == "trm_mlp":
        pytest.skip("covered by trm: the token mixer is sized for the prefix")
    model = build(puzzle_emb_ndim=0, puzzle_emb_len=None)
    assert model.puzzle_embedding_parameters() == [] and model.io.seq_len == model.task.seq_len
    batch = make_batch()
    _, out = model.segment(model.initial_carry(batch), batch)
    assert out.logits.shape[1] == batch.inputs.shape[1]


def test_models_without_an_inner_level_never_call_inner_halt(variant, make_batch):
    """two_level hands its refinement rule to every model; one without an inner level ignores it."""
    key, build = variant
    if key in INNER:
        pytest.skip("has an inner level")
    model = build()
    batch = make_batch()
    calls = []
    _, out = model.segment(model.initial_carry(batch), batch, inner_halt=lambda step, logits: calls.append(step))
    assert calls == [] and out.inner_steps is None


def test_another_sequence_length_runs_or_is_a_clear_error(variant, make_batch, tiny_task):
    """Size-free variants run a shorter input (tests/models/test_other_lengths.py has more); those with
    learned positions or TRM's token-mixing MLP refuse it in one line."""
    key, build = variant
    model = build()
    batch = make_batch()
    short = Batch(batch.inputs[:, :-1], batch.labels[:, :-1], batch.puzzle_ids)
    if key in ("hrm_learned_pos", "trm_mlp"):
        with pytest.raises(ValueError, match="training length \\(16 tokens\\)"):
            model.segment(model.initial_carry(short), short)
    else:
        _, out = model.segment(model.initial_carry(short), short)
        assert out.logits.shape[1] == 15


def test_registry_finds_every_model_with_its_presets_and_the_baseline_alias():
    registry = get_registry()
    for name in ("hrm", "looped_transformer", "transformer", "trm"):
        spec = registry.get("model", name)
        assert {"tiny", "small", "paper"} <= set(spec.presets)
    assert registry.resolve("model", "baseline") == "transformer"


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(VARIANTS))
def test_tiny_preset_learns_a_trivial_mapping(key, build_model, tiny_task):
    """A few dozen Adam steps on "label = (token + 1) mod V", two deep-supervised segments per batch."""
    name, overrides = VARIANTS[key]
    model = build_model(name, **overrides)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(30):
        inputs = torch.randint(0, tiny_task.vocab_size, (16, tiny_task.seq_len), generator=g)
        batch = Batch(inputs, (inputs + 1) % tiny_task.vocab_size, torch.zeros(16, dtype=torch.long))
        carry = model.initial_carry(batch)
        for _segment in range(2):
            carry, out = model.segment(carry, batch)
            loss = F.cross_entropy(out.logits.flatten(0, 1), batch.labels.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
            carry = {k: v.detach() for k, v in carry.items()}
        losses.append(loss.item())
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.5 * first, losses
