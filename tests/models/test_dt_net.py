"""dt_net: the DeepThinking layer layout, recall, the progressive loss and its iteration schedule.

Fidelity to the official modules (aks2203/deep-thinking) on the same weights is checked outside the
repository (docs/extrapolation.md gives the measured difference); these tests pin the structure that
makes it so without the official code: the official parameter formula, the recall concatenation at
every iteration, the gradient schedule of the progressive loss, segments composing into iterations.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from looped_hrm.contracts import Batch, TaskInfo
from looped_hrm.engine.segment import SegmentRunner, mix_aux_loss
from looped_hrm.nn.losses import softmax_cross_entropy
from looped_hrm.plugins.halting.fixed import FixedPolicy
from looped_hrm.plugins.models.dt_net import DTCore, DTNet, DTNetConfig
from looped_hrm.testing import check_model

SEQ = TaskInfo(vocab_size=3, seq_len=12)
GRID = TaskInfo(vocab_size=6, seq_len=49, grid=(7, 7))


def build(task: TaskInfo = SEQ, seed: int = 0, **kw) -> DTNet:
    torch.manual_seed(seed)
    return DTNet(DTNetConfig(**{"width": 8, "iterations": 4, **kw}), task)


def batch_for(task: TaskInfo, n: int = 3, length: int | None = None, seed: int = 1) -> Batch:
    g = torch.Generator().manual_seed(seed)
    length = length or task.seq_len
    tokens = torch.randint(0, task.vocab_size, (n, length), generator=g)
    labels = torch.randint(0, task.vocab_size, (n, length), generator=g)
    return Batch(tokens, labels, torch.zeros(n, dtype=torch.int64))


@pytest.mark.parametrize("task", [SEQ, GRID], ids=["1d", "2d"])
@pytest.mark.parametrize("recall", [True, False])
def test_contract(task, recall):
    check_model(build(task, recall=recall), task)


def official_param_count(dims: int, c_in: int, c_out: int, width: int, recall: bool, blocks: int = 2) -> int:
    """The parameter count of the official dt_net_{recall_}{1d,2d} (every conv 3-wide, bias-free)."""
    taps = 3**dims
    head = (width, width // 2) if dims == 1 else (32, 8)
    convs = [(c_in, width)] + ([(width + c_in, width)] if recall else []) + [(width, width)] * (2 * blocks)
    convs += [(width, head[0]), (head[0], head[1]), (head[1], c_out)]
    return sum(a * b * taps for a, b in convs)


@pytest.mark.parametrize("dims, c_in, width", [(1, 1, 400), (1, 3, 24), (2, 3, 128), (2, 6, 20)])
@pytest.mark.parametrize("recall", [True, False])
def test_parameter_count_is_the_official_formula(dims, c_in, width, recall):
    core = DTCore(dims, c_in, 2, width, recall=recall)
    assert sum(p.numel() for p in core.parameters()) == official_param_count(dims, c_in, 2, width, recall)


def test_official_layouts_and_defaults():
    seq, grid = DTNet(DTNetConfig(), SEQ), DTNet(DTNetConfig(), GRID)
    assert (seq.dims, seq.width, seq.alpha) == (1, 400, 1.0)  # prefix sums
    assert (grid.dims, grid.width, grid.alpha) == (2, 128, 0.01)  # mazes
    assert [m.out_channels for m in seq.core.head if isinstance(m, torch.nn.Conv1d)] == [400, 200, 3]
    assert [m.out_channels for m in grid.core.head if isinstance(m, torch.nn.Conv2d)] == [32, 8, 6]
    with pytest.raises(ValueError, match="grids"):
        DTNet(DTNetConfig(dims=2), SEQ)


@pytest.mark.parametrize("task", [SEQ, GRID], ids=["1d", "2d"])
def test_recall_concatenates_the_input_at_every_iteration(task):
    model = build(task).eval()
    batch = batch_for(task)
    seen = []
    model.core.recall.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    with torch.no_grad():
        carry = model.initial_carry(batch)
        for _ in range(2):
            carry, _ = model.segment(carry, batch)
    x = model.encode(batch.inputs)
    assert len(seen) == 2 * model.config.iterations
    for inp in seen:
        assert inp.shape[1] == model.width + task.vocab_size
        assert torch.equal(inp[:, model.width :], x)  # the input's one-hot channels, after the thought
    assert torch.equal(x.flatten(2).argmax(1), batch.inputs)


def calls(model: DTNet) -> list[bool]:
    """Record, for every iteration the core runs, whether gradient was enabled."""
    log: list[bool] = []
    think = model.core.think

    def traced(thought, x):
        log.append(torch.is_grad_enabled())
        return think(thought, x)

    model.core.think = traced  # type: ignore[method-assign]
    return log


@pytest.mark.parametrize("seed", range(6))
def test_progressive_loss_backpropagates_through_the_last_k_iterations_only(seed):
    t = 6
    model = build(iterations=t, alpha=0.5).train()
    log = calls(model)
    batch = batch_for(SEQ)
    torch.manual_seed(seed)
    n = int(torch.randint(0, t, ()))
    k = int(torch.randint(1, t - n + 1, ()))
    torch.manual_seed(seed)
    _, out = model.segment(model.initial_carry(batch), batch)
    assert log == [False] * n + [True] * k + [True] * t  # progressive (n free, k with gradient), then T
    assert out.aux_weight == 0.5 and out.aux_logits.requires_grad

    model.zero_grad(set_to_none=True)
    out.aux_logits.sum().backward()
    projection = model.core.projection.weight.grad
    assert (projection is not None and projection.abs().sum() > 0) == (n == 0)  # φ_0 only when n = 0
    assert model.core.recall.weight.grad.abs().sum() > 0

    model.eval()  # the auxiliary prediction is the state after n + k iterations, whatever the gradient
    with torch.no_grad():
        x = model.encode(batch.inputs)
        expected = model.logits(model.core.head(model.core.iterate(model.core.project(x), x, n + k)))
    assert torch.equal(out.aux_logits.detach(), expected)


def test_no_progressive_loss_at_alpha_0_and_none_in_evaluation():
    model = build(alpha=0.0).train()
    log = calls(model)
    batch = batch_for(SEQ)
    _, out = model.segment(model.initial_carry(batch), batch)
    assert out.aux_logits is None and log == [True] * 4
    model = build(alpha=1.0).eval()
    _, out = model.segment(model.initial_carry(batch), batch)
    assert out.aux_logits is None


def test_engine_trains_the_mixture_and_leaves_other_losses_alone():
    main, aux = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 5.0])
    assert torch.equal(mix_aux_loss(main, aux, 0.25), 0.75 * main + 0.25 * aux)
    assert mix_aux_loss(main, aux, 1.0) is aux and mix_aux_loss(main, aux, 0.0) is main

    model = build(alpha=0.3).train()
    batch = batch_for(SEQ)
    runner = SegmentRunner(model, FixedPolicy(), loss="softmax", device=torch.device("cpu"))
    torch.manual_seed(5)
    step = runner(
        model.initial_carry(batch),
        batch,
        {},
        torch.zeros(3, dtype=torch.int64),
        training=True,
        max_steps=1,
        generator=None,
    )
    out = step.output
    expected = 0.7 * softmax_cross_entropy(out.logits, batch.labels) + 0.3 * softmax_cross_entropy(
        out.aux_logits, batch.labels
    )
    assert torch.equal(step.lm_loss, expected) and torch.equal(step.loss, expected.sum())


@pytest.mark.parametrize("task", [SEQ, GRID], ids=["1d", "2d"])
def test_segments_compose_into_iterations(task):
    """Two segments of T iterations are one of 2T: more test-time iterations = more segments."""
    short, long = build(task, iterations=3).eval(), build(task, iterations=6).eval()
    long.load_state_dict(short.state_dict())
    batch = batch_for(task)
    with torch.no_grad():
        carry, first = short.segment(short.initial_carry(batch), batch)
        _, second = short.segment(carry, batch)
        _, both = long.segment(long.initial_carry(batch), batch)
    assert torch.equal(second.logits, both.logits)
    assert torch.equal(torch.cat([first.inner_preds, second.inner_preds], 1), both.inner_preds)
    assert torch.equal(both.inner_preds[:, -1], both.logits.argmax(-1))
    assert both.residuals["thought"].shape == (3, 6) and torch.all(both.inner_steps == 6)


def test_deterministic_under_a_seed():
    outs = []
    for _ in range(2):
        model = build(alpha=0.5, seed=3).train()
        batch = batch_for(SEQ)
        torch.manual_seed(11)
        _, out = model.segment(model.initial_carry(batch), batch)
        (out.logits.sum() + out.aux_logits.sum()).backward()
        outs.append((out.logits, out.aux_logits, [p.grad for p in model.core.parameters()]))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
    assert all(torch.equal(a, b) for a, b in zip(outs[0][2], outs[1][2]))


def test_runs_at_other_sizes():
    seq, grid = build(SEQ).eval(), build(GRID).eval()
    with torch.no_grad():
        for model, length in ((seq, 40), (grid, 121)):
            batch = batch_for(model.task, length=length)
            _, out = model.segment(model.initial_carry(batch), batch)
            assert out.logits.shape == (3, length, model.task.vocab_size)
    with pytest.raises(ValueError, match="not a grid"):
        grid.initial_carry(batch_for(GRID, length=50))


def test_compute_profile_counts_the_convolutions():
    model = build(GRID, alpha=0.0).train()
    batch = batch_for(GRID, n=2)
    profile = model.compute_profile()
    with FlopCounterMode(display=False) as forward, torch.no_grad():
        _, out = model.segment(model.initial_carry(batch), batch)
    with FlopCounterMode(display=False) as train:
        _, out = model.segment(model.initial_carry(batch), batch)
        out.logits.sum().backward()
    assert forward.get_total_flops() / 2 == pytest.approx(profile.forward_flops, rel=1e-6)
    assert torch.all(out.flops == profile.forward_flops)
    # the backward of the first convolution (no input gradient needed) is cheaper than the profile's 2x
    assert train.get_total_flops() / 2 <= profile.train_flops <= 1.02 * train.get_total_flops() / 2


def test_halting_head_reads_the_thought_and_changes_nothing_else():
    model = build(alpha=0.5).train()
    batch = batch_for(SEQ)
    extra = sum(p.numel() for p in model.halt.parameters())
    assert extra == 2 * model.width + 2
    assert sum(p.numel() for p in model.parameters()) == official_param_count(1, 3, 3, model.width, True) + extra
    torch.manual_seed(0)
    _, out = model.segment(model.initial_carry(batch), batch)
    assert torch.all(out.q_halt == -5.0) and torch.all(out.q_continue == -5.0)  # "never halt" at the start
    with torch.no_grad():
        model.halt.weight.normal_()
    torch.manual_seed(0)
    _, moved = model.segment(model.initial_carry(batch), batch)
    assert torch.equal(moved.logits, out.logits) and torch.equal(moved.aux_logits, out.aux_logits)
    assert not torch.equal(moved.q_halt, out.q_halt)

    # under fixed halting the head is not trained: DT trains as officially
    runner = SegmentRunner(model, FixedPolicy(), loss="softmax", device=torch.device("cpu"))
    step = runner(
        model.initial_carry(batch),
        batch,
        {},
        torch.zeros(3, dtype=torch.int64),
        training=True,
        max_steps=1,
        generator=None,
    )
    model.zero_grad(set_to_none=True)
    step.loss.backward()
    assert model.halt.weight.grad is None and model.core.recall.weight.grad is not None


def test_it_trains_with_the_official_softmax_unless_told_otherwise():
    """DeepThinking's cross-entropy is softmax (`ModelSpec.default_loss`); under stablemax, HRM's,
    dt_net at width 32 sat at chance on 32-bit prefix sums and then diverged. A ``train.loss`` of a
    file or command line still wins, and the other models keep theirs."""
    from looped_hrm.resolve import resolve_combination

    def loss(model: str, **train) -> str:
        return resolve_combination("parity", model, preset="tiny", train={"steps": 1, **train}).train["loss"]

    assert loss("dt_net") == "softmax" and loss("dt_net", loss="stablemax") == "stablemax"
    assert loss("hrm") == "stablemax" and loss("trm") == "stablemax"


MAZE = TaskInfo(vocab_size=6, seq_len=49, grid=(7, 7), given_tokens=(1, 3, 4))  # walls, start, goal


def maze_batch(n: int = 3, seed: int = 1) -> Batch:
    """Inputs of open (2) and given (1, 3, 4) cells; labels: the input at given cells, open or path (5) elsewhere."""
    g = torch.Generator().manual_seed(seed)
    inputs = torch.tensor([1, 2, 2, 3, 4])[torch.randint(0, 5, (n, MAZE.seq_len), generator=g)]
    labels = torch.where(inputs == 2, torch.tensor([2, 5])[torch.randint(0, 2, inputs.shape, generator=g)], inputs)
    return Batch(inputs, labels, torch.zeros(n, dtype=torch.int64))


def test_given_cells_are_predicted_as_given_with_no_loss_and_the_open_cells_unchanged():
    """The official maze masks: loss on the open cells alone, the prediction at the others the input."""
    batch = maze_batch()
    given = batch.inputs != 2
    masked, plain = build(MAZE, alpha=0.5).train(), build(MAZE, alpha=0.5, mask_given=False).train()
    plain.load_state_dict(masked.state_dict())
    outs = []
    for model in (masked, plain):
        torch.manual_seed(7)  # the same progressive-loss draw
        outs.append(model.segment(model.initial_carry(batch), batch)[1])
    out, ref = outs
    for logits, ref_logits in ((out.logits, ref.logits), (out.aux_logits, ref.aux_logits)):
        assert torch.equal(logits[~given], ref_logits[~given])
        assert torch.equal(logits.argmax(-1)[given], batch.inputs[given])
        token_loss = F.cross_entropy(logits.transpose(1, 2), batch.labels, reduction="none")
        assert token_loss[given].max() < 1e-30  # given cells: no loss ...
        ref_loss = F.cross_entropy(ref_logits.transpose(1, 2), batch.labels, reduction="none")
        assert torch.allclose(token_loss.sum(1), ref_loss.masked_fill(given, 0).sum(1))  # ... the open cells' as before
    (out.logits[given].sum() + out.aux_logits[given].sum()).backward()
    assert all(p.grad is None or not p.grad.any() for p in masked.parameters())  # ... and no gradient

    masked.eval(), plain.eval()
    with torch.no_grad():
        out, ref = (m.segment(m.initial_carry(batch), batch)[1] for m in (masked, plain))
    expected = torch.where(given.unsqueeze(1), batch.inputs.unsqueeze(1), ref.inner_preds)
    assert torch.equal(out.inner_preds, expected)  # every iteration's prediction keeps the given cells


def test_no_masks_without_given_tokens_or_when_turned_off():
    batch = maze_batch()
    for task, kw in ((GRID, {}), (MAZE, {"mask_given": False})):
        model = build(task, **kw).eval()
        with torch.no_grad():
            _, out = model.segment(model.initial_carry(batch), batch)
            head = model.core.head(
                model.core.iterate(model.core.project(model.encode(batch.inputs)), model.encode(batch.inputs), 4)
            )
        assert torch.equal(out.logits, model.logits(head))


def test_lr_throttle_trains_the_recurrent_block_at_lr_over_iterations():
    """The official maze option: parameters named ``recur`` officially (recall convolution and basic
    blocks) at ``lr / max_iters``, projection, head and halting head at ``lr``; off by default."""
    from looped_hrm.training.config import TrainConfig
    from looped_hrm.training.optim import build_optimizers

    assert build(GRID).lr_scales() == []
    model = build(GRID, lr_throttle=True)
    ((factor, params),) = model.lr_scales()
    recur = {id(p) for p in [*model.core.recall.parameters(), *model.core.blocks.parameters()]}
    assert factor == 1 / 4 and {id(p) for p in params} == recur
    cfg = TrainConfig(steps=1, batch_size=3, max_segments=1, lr=0.01)
    rest, throttled = build_optimizers(model, cfg, torch.device("cpu"))["dense"].param_groups
    assert throttled["lr_scale"] == 1 / 4 and {id(p) for p in throttled["params"]} == recur
    assert not recur & {id(p) for p in rest["params"]}
    assert len(rest["params"]) + len(throttled["params"]) == len(list(model.parameters()))
    model = build(GRID, recall=False, lr_throttle=True)  # without recall: the blocks alone
    assert {id(p) for p in model.lr_scales()[0][1]} == {id(p) for p in model.core.blocks.parameters()}
