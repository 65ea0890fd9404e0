"""Adam-atan2 against its formula, puzzle-embedding sign-SGD, the LR schedule, the EMA."""

from __future__ import annotations

import math

import pytest
import torch

from looped_hrm.plugins.halting.fixed import FixedPolicy
from looped_hrm.training.config import TrainConfig
from looped_hrm.training.optim import EMA, AdamAtan2, SignSGD, build_optimizers, lr_at
from looped_hrm.training.trainer import Trainer

from .fakes import BroadcastTask, TinyReasoner


def test_adam_atan2_follows_the_kernel_formula():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5))
    ref = p.detach().clone()
    m, v = torch.zeros(5), torch.zeros(5)
    lr, (b1, b2), wd = 0.01, (0.9, 0.95), 0.1
    opt = AdamAtan2([p], lr=lr, betas=(b1, b2), weight_decay=wd)
    for t in range(1, 4):
        g = torch.randn(5)
        p.grad = g.clone()
        opt.step()
        ref = ref * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        ref = ref - lr / (1 - b1**t) * torch.atan2(m, (v / (1 - b2**t)).sqrt())
        assert torch.allclose(p.detach(), ref, atol=1e-6)


def test_adam_atan2_is_scale_invariant_without_an_epsilon():
    a, b = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(3))
    oa, ob = AdamAtan2([a], lr=0.1, weight_decay=0.0), AdamAtan2([b], lr=0.1, weight_decay=0.0)
    g = torch.tensor([1e-12, -3.0, 0.5])
    a.grad, b.grad = g.clone(), g * 1e6
    oa.step()
    ob.step()
    assert torch.allclose(a, b)


def test_sign_sgd_updates_and_decays_the_rows_of_the_batch():
    table = torch.nn.Parameter(torch.ones(4, 2))
    opt = SignSGD([table], lr=0.1, weight_decay=0.5)
    table.grad = torch.tensor([[0.0, 0.0], [2.0, -0.001], [0.0, 0.0], [0.0, 0.0]])
    opt.step(rows=torch.tensor([1, 2, 1]))  # ids 1 and 2 are in the batch (1 twice); 0 and 3 are not
    assert table[0].tolist() == [1.0, 1.0] and table[3].tolist() == [1.0, 1.0]  # not in the batch: untouched
    assert table[1].tolist() == pytest.approx([0.95 - 0.1, 0.95 + 0.1])
    # in the batch with a zero gradient: decayed, not moved (the official optimizer decays every row
    # of the batch's unique ids and adds lr * sign(0) = 0)
    assert table[2].tolist() == pytest.approx([0.95, 0.95])


def test_the_first_optimizer_step_of_the_warmup_has_a_nonzero_rate():
    """The official schedule is read after its step counter is incremented: with lr 1e-4 and 2000 warmup
    steps, optimizer step 1 runs at 5e-8 (it ran at 0 here before)."""
    task = BroadcastTask()
    cfg = TrainConfig(steps=2, batch_size=8, max_segments=2, lr=1e-4, warmup_steps=2000, progress=False)
    trainer = Trainer(
        TinyReasoner(task.info, puzzle_emb=True),
        FixedPolicy(),
        task,
        task.build("train"),
        cfg,
        device=torch.device("cpu"),
        seed=0,
        workdir=None,
        progress=False,
    )
    seen = []
    for opt in trainer.optimizers.values():
        step = opt.step

        def spy(*args, _opt=opt, _step=step, **kwargs):
            seen.append(_opt.param_groups[0]["lr"])
            return _step(*args, **kwargs)

        opt.step = spy
    trainer.train_step()
    trainer.train_step()
    assert seen == pytest.approx([5e-8, cfg.puzzle_emb_lr / 2000, 1e-7, 2 * cfg.puzzle_emb_lr / 2000])


class ScaledReasoner(TinyReasoner):
    """TinyReasoner whose mixing layer asks for a fraction of the rate (the optional ``lr_scales``)."""

    def __init__(self, *args, scales=((0.25, "mix"),), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scales = scales

    def lr_scales(self):
        return [(factor, list(getattr(self, name).parameters())) for factor, name in self.scales]


def trainer_for(model, cfg: TrainConfig) -> Trainer:
    task = BroadcastTask()
    return Trainer(
        model, FixedPolicy(), task, task.build("train"), cfg, device=torch.device("cpu"), seed=0, workdir=None
    )


def test_lr_scales_put_parameters_in_their_own_group_at_their_fraction_of_every_rate():
    cfg = TrainConfig(steps=3, batch_size=8, max_segments=1, lr=0.01, warmup_steps=2, progress=False)
    torch.manual_seed(0)
    model = ScaledReasoner(BroadcastTask().info)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = trainer_for(model, cfg)
    rest, scaled = trainer.optimizers["dense"].param_groups
    assert "lr_scale" not in rest and scaled["lr_scale"] == 0.25
    assert {id(p) for p in scaled["params"]} == {id(p) for p in model.mix.parameters()}
    assert len(rest["params"]) + len(scaled["params"]) == len(list(model.parameters()))
    seen = []
    opt = trainer.optimizers["dense"]
    step = opt.step

    def spy(*args, **kwargs):
        seen.append([g["lr"] for g in opt.param_groups])
        return step(*args, **kwargs)

    opt.step = spy
    for _ in range(3):
        trainer.train_step()
    flat = [lr for step_lrs in seen for lr in step_lrs]
    assert flat == pytest.approx([0.005, 0.00125, 0.01, 0.0025, 0.01, 0.0025])  # warmup, then constant
    # Adam's first step moves every parameter with a gradient by about its rate: the mixing layer 4x less
    moved = {n: (p.detach() - before[n]).abs().max().item() for n, p in model.named_parameters()}
    assert moved["mix.weight"] < 0.5 * moved["head.weight"]


def test_without_lr_scales_one_group_as_before_and_bad_scales_are_refused():
    cfg = TrainConfig(steps=1, batch_size=8, max_segments=1, lr=0.01, progress=False)
    info = BroadcastTask().info
    (group,) = build_optimizers(TinyReasoner(info), cfg, torch.device("cpu"))["dense"].param_groups
    assert "lr_scale" not in group
    with pytest.raises(ValueError, match="must be > 0"):
        build_optimizers(ScaledReasoner(info, scales=((0.0, "mix"),)), cfg, torch.device("cpu"))
    with pytest.raises(ValueError, match="two factors"):
        build_optimizers(ScaledReasoner(info, scales=((0.5, "mix"), (0.1, "mix"))), cfg, torch.device("cpu"))


def test_lr_warmup_then_constant_or_cosine():
    constant = TrainConfig(steps=100, warmup_steps=10)
    assert lr_at(0, constant, 1.0) == 0.0
    assert lr_at(5, constant, 1.0) == pytest.approx(0.5)
    assert lr_at(50, constant, 1.0) == 1.0
    cosine = TrainConfig(steps=110, warmup_steps=10, schedule="cosine", lr_min_ratio=0.1)
    assert lr_at(10, cosine, 1.0) == pytest.approx(1.0)
    assert lr_at(60, cosine, 1.0) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))
    assert lr_at(110, cosine, 1.0) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="cosine"):
        TrainConfig(epochs=1, schedule="cosine")


def test_ema_tracks_and_swaps_in_and_out():
    p = torch.nn.Parameter(torch.zeros(2))
    ema = EMA([p], decay=0.5)
    with torch.no_grad():
        p.fill_(2.0)
    ema.update()
    assert ema.shadow[0].tolist() == [1.0, 1.0]
    with ema.swapped_in():
        assert p.tolist() == [1.0, 1.0]
    assert p.tolist() == [2.0, 2.0]


def test_train_config_needs_a_budget_and_names_bad_values():
    with pytest.raises(ValueError, match="budget"):
        TrainConfig()
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(steps=1, batch_size=0)
