"""The training engine and evaluation on the test doubles: carry batching, determinism, divergence,
checkpoints and resume, early-exit evaluation, inference-time scaling, every policy end to end."""

from __future__ import annotations

import json

import pytest
import torch

from looped_hrm.config import ConfigError
from looped_hrm.contracts import HaltDecision
from looped_hrm.engine.segment import SegmentRunner, segment_loss
from looped_hrm.evaluation.config import EvalConfig
from looped_hrm.evaluation.evaluate import evaluate
from looped_hrm.experiment import run as run_module
from looped_hrm.experiment.run import deterministic_part, run_experiment
from looped_hrm.nn.losses import get_loss
from looped_hrm.plugins.halting.fixed import FixedPolicy
from looped_hrm.resolve import build_policy
from looped_hrm.training.checkpoint import checkpoint_path, load_checkpoint
from looped_hrm.training.config import TrainConfig
from looped_hrm.training.log import LOG_NAME
from looped_hrm.training.trainer import Trainer, TrainingDiverged

from .fakes import BroadcastConfig, BroadcastTask, TinyReasoner

CPU = torch.device("cpu")


def policy(name: str, **values):
    return build_policy(name, config=values)


def train_cfg(**kw) -> TrainConfig:
    base = dict(batch_size=8, lr=3e-3, max_segments=4, log_every=5, progress=False, weight_decay=0.0)
    base.update(kw)
    return TrainConfig(**base)


def quick(task, model, pol, cfg, tmp_path=None, seed=0, **eval_kw):
    """``model``: a built model (its weights are the test's) or a zero-argument builder."""
    eval_cfg = EvalConfig(batch_size=16, curve=[1, 2, 4], **eval_kw)
    make = (lambda: model) if isinstance(model, torch.nn.Module) else model
    return run_experiment(task, make, pol, cfg, eval_cfg, seed=seed, device="cpu", workdir=tmp_path, progress=False)


def test_an_epoch_means_every_example_ran_until_it_halted_once():
    task = BroadcastTask(BroadcastConfig(num_train=21))
    model = TinyReasoner(task.info)
    trainer = Trainer(
        model,
        policy("act_bce", exploration_prob=0.3),
        task,
        task.build("train"),
        train_cfg(epochs=2, batch_size=8),
        device=CPU,
        seed=0,
        workdir=None,
        progress=False,
    )
    summary = trainer.fit()
    seen = trainer.examples_seen()
    assert seen.tolist() == [2] * 21  # nothing dropped, nothing doubled
    assert summary["train/epochs"] == 2.0
    # slots were refilled one by one: far more steps than 2 epochs of whole 8-row batches would need
    assert summary["train/steps"] > 2 * 21 / 8


def test_halted_slots_take_new_examples_while_the_others_keep_running():
    task = BroadcastTask()
    model = TinyReasoner(task.info)
    trainer = Trainer(
        model,
        policy("oracle"),
        task,
        task.build("train"),
        train_cfg(steps=1),
        device=CPU,
        seed=0,
        workdir=None,
        progress=False,
    )
    trainer.train_step()
    trainer.slots.halted = torch.tensor([True, False] * 4)
    before = trainer.slots.index.clone()
    carry_before = trainer.slots.carry["z"].clone()
    trainer.slots.refill()
    after = trainer.slots.index
    assert torch.equal(after[1::2], before[1::2]) and not set(after[0::2].tolist()) & set(before.tolist())
    assert torch.equal(trainer.slots.carry["z"][1::2], carry_before[1::2])


def test_same_config_and_seed_give_identical_metrics():
    task = BroadcastTask()
    runs = [quick(task, lambda: TinyReasoner(task.info), policy("act_q"), train_cfg(steps=40)) for _ in range(2)]
    a, b = (deterministic_part(r) for r in runs)
    assert a == b
    other = deterministic_part(
        quick(task, lambda: TinyReasoner(task.info), policy("act_q"), train_cfg(steps=40), seed=1)
    )
    assert other != a


def test_a_nan_loss_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path):
    task = BroadcastTask()
    model = TinyReasoner(task.info)
    model.nan_after = 23  # the 24th training segment produces NaN logits
    cfg = train_cfg(steps=60, checkpoint_every=10)
    with pytest.raises(TrainingDiverged) as info:
        quick(task, model, policy("fixed"), cfg, tmp_path)
    message = str(info.value)
    assert "\n" not in message and "nan at step 24" in message and "step 20" in message
    state = load_checkpoint(checkpoint_path(tmp_path))
    assert state["step"] == 20
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert "carry" not in state


@pytest.mark.parametrize("optimizer", ["adam_atan2", "adamw"])
def test_resume_continues_exactly_like_an_uninterrupted_run(optimizer, tmp_path):
    task = BroadcastTask()
    make = lambda: TinyReasoner(task.info, puzzle_emb=True)  # noqa: E731

    # no learning curve: its points sit at fractions of the budget, which the cut run changes
    def cfg(steps):
        return train_cfg(steps=steps, checkpoint_every=10, ema=True, optimizer=optimizer, curve_fractions=[])

    full = quick(task, make, policy("act_q"), cfg(30), tmp_path / "full")
    quick(task, make, policy("act_q"), cfg(20), tmp_path / "cut")
    resumed = quick(task, make, policy("act_q"), cfg(30), tmp_path / "cut")
    assert deterministic_part(resumed) == deterministic_part(full)
    steps = [json.loads(line)["step"] for line in (tmp_path / "cut" / LOG_NAME).read_text().splitlines()]
    assert steps == sorted(steps)
    # a finished run only evaluates
    again = quick(task, make, policy("act_q"), cfg(30), tmp_path / "cut")
    assert deterministic_part(again) == deterministic_part(full)


def test_a_finished_run_continues_when_its_budget_is_raised(tmp_path):
    task = BroadcastTask(BroadcastConfig(num_train=12))
    make = lambda: TinyReasoner(task.info)  # noqa: E731
    assert quick(task, make, policy("fixed"), train_cfg(epochs=1), tmp_path)["train/epochs"] == 1.0
    assert quick(task, make, policy("fixed"), train_cfg(epochs=1), tmp_path)["train/epochs"] == 1.0
    assert quick(task, make, policy("fixed"), train_cfg(epochs=2), tmp_path)["train/epochs"] == 2.0


def test_resume_refuses_a_different_config(tmp_path):
    task = BroadcastTask()
    quick(task, TinyReasoner(task.info), policy("fixed"), train_cfg(steps=5), tmp_path)
    with pytest.raises(ConfigError, match=r"lr: 0.003 -> 0.1"):
        quick(task, TinyReasoner(task.info), policy("fixed"), train_cfg(steps=10, lr=0.1), tmp_path)


class _Counting(TinyReasoner):
    """Counts the rows it actually computes, to show that halted examples cost nothing."""

    rows = 0

    def segment(self, carry, batch, inner_halt=None):
        self.rows += len(batch)
        return super().segment(carry, batch, inner_halt)


def test_early_exit_evaluation_spends_only_the_segments_it_reports():
    task = BroadcastTask()
    split = task.build("test")
    model = _Counting(task.info)
    oracle_like = policy("fixed", segments=2)
    res = evaluate(model, oracle_like, task, split, mode="policy", max_segments=5, batch_size=16, device=CPU)
    assert res.segments.tolist() == [2] * len(split)
    assert model.rows == 2 * len(split)  # finished rows left the batch: no padding compute
    profile = model.compute_profile()
    assert res.flops.tolist() == pytest.approx([2 * profile.forward_flops] * len(split))
    model.rows = 0
    fixed = evaluate(
        model, oracle_like, task, split, mode="fixed", max_segments=5, batch_size=16, device=CPU, curve=[1, 3, 5, 9]
    )
    assert fixed.segments.tolist() == [5] * len(split) and model.rows == 5 * len(split)
    assert sorted(fixed.correct_at) == [1, 3, 5]


def test_fixed_halting_evaluates_once_with_the_metrics_of_two_passes(monkeypatch):
    """Under `fixed` (no ``segments``) the policy pass would run the fixed pass's segments again: it
    is that pass, and the record says what the two passes say when each runs on its own."""
    task = BroadcastTask()
    modes: list[str] = []
    real = run_module.evaluate

    def counting(*args, **kwargs):
        modes.append(kwargs["mode"])
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "evaluate", counting)

    def run(pol):
        modes.clear()
        m = quick(task, lambda: TinyReasoner(task.info), pol, train_cfg(steps=10), every_step=True)
        return deterministic_part(m), modes.count("fixed"), modes.count("policy")

    shared, fixed_passes, during_training = run(policy("fixed"))  # the policy passes: training's looks only
    assert fixed_passes == 1
    assert (
        "policy/halt_accuracy" in shared
        and "fixed/halt_accuracy" not in shared
        and "policy/peak_exact_accuracy" not in shared
    )
    monkeypatch.setattr(FixedPolicy, "runs_to_cap", False)
    alone, fixed_passes, policy_passes = run(policy("fixed"))
    assert (fixed_passes, policy_passes) == (1, during_training + 1) and alone == shared
    monkeypatch.undo()
    monkeypatch.setattr(run_module, "evaluate", counting)
    _, fixed_passes, policy_passes = run(policy("fixed", segments=2))  # stops early: a pass of its own
    assert (fixed_passes, policy_passes) == (1, during_training + 1)


def test_inference_time_scaling_reports_accuracy_beyond_the_training_segments():
    task = BroadcastTask()
    m = quick(task, TinyReasoner(task.info), policy("fixed"), train_cfg(steps=10), fixed_segments=8)
    assert m["fixed/mean_segments"] == 8.0 and m["train_max_segments"] == 4
    assert {"fixed/exact_accuracy@4", "fixed/exact_accuracy@8"} <= set(m)
    assert m["fixed/exact_accuracy@8"] == m["fixed/exact_accuracy"]


@pytest.mark.parametrize(
    "name", ["fixed", "act_q", "act_bce", "act_ponder", "pondernet", "two_level", "verifier", "converged", "oracle"]
)
def test_every_policy_trains_and_evaluates_end_to_end(name):
    task = BroadcastTask(BroadcastConfig(num_train=24, num_test=16))
    inner = 3 if name == "two_level" else 0
    m = quick(task, TinyReasoner(task.info, inner_steps=inner), policy(name), train_cfg(steps=12))
    for mode in ("fixed", "policy"):
        assert 0.0 <= m[f"{mode}/exact_accuracy"] <= 1.0
        assert 1.0 <= m[f"{mode}/mean_segments"] <= 4.0
        assert set(task.bucket_names) == {k.split("/")[2] for k in m if k.startswith(f"{mode}/bucket/")}
    assert m["policy_uses_labels"] == (name == "oracle")
    assert json.dumps(m)  # flat and JSON-able


def test_two_level_reports_inner_steps_separately_and_they_vary_per_example():
    task = BroadcastTask()
    model = TinyReasoner(task.info, inner_steps=4)
    with torch.no_grad():
        # a halting head that reads the state: bursts end at different inner steps for different examples
        model.inner_head.weight.copy_(
            torch.randn(model.inner_head.weight.shape, generator=torch.Generator().manual_seed(1)) * 3
        )
        model.inner_head.bias.fill_(0.0)
    res = evaluate(
        model, policy("two_level"), task, task.build("test"), mode="fixed", max_segments=2, batch_size=16, device=CPU
    )
    per_segment = res.inner_steps / res.segments
    assert per_segment.min() >= 1 and per_segment.max() <= 4 and len(set(res.inner_steps.tolist())) > 1
    assert res.flops.tolist() == pytest.approx((res.inner_steps * model._update_flops()).tolist())


class _NoHead(TinyReasoner):
    def __init__(self, info):
        super().__init__(info)
        self.halting_levels = frozenset()


def test_a_policy_that_needs_a_q_head_is_refused_for_a_model_without_one():
    task = BroadcastTask()
    with pytest.raises(ValueError, match="act_q.*segment"):
        quick(task, _NoHead(task.info), policy("act_q"), train_cfg(steps=1))
    with pytest.raises(ValueError, match="inner"):
        Trainer(
            TinyReasoner(task.info),
            _InnerOnly(),
            task,
            task.build("train"),
            train_cfg(steps=1),
            device=CPU,
            seed=0,
            workdir=None,
        )


class _InnerOnly:
    name, levels, needs_q_head, needs_lookahead, uses_labels = "inner_only", frozenset({"inner"}), False, False, False
    optional_levels: frozenset[str] = frozenset()


def test_puzzle_embeddings_get_sign_sgd_and_are_not_counted_as_trainable(tmp_path):
    task = BroadcastTask()
    model = TinyReasoner(task.info, puzzle_emb=True)
    trainer = Trainer(
        model,
        policy("fixed"),
        task,
        task.build("train"),
        train_cfg(steps=1, puzzle_emb_lr=0.5),
        device=CPU,
        seed=0,
        workdir=tmp_path,
        progress=False,
    )
    assert set(trainer.optimizers) == {"dense", "puzzle"}
    trainer.fit()
    assert torch.allclose(model.puzzle.abs(), torch.tensor(0.5))  # one sign step from zero
    assert model.compute_profile().trainable_params == sum(p.numel() for p in model.parameters()) - model.puzzle.numel()


def test_time_budget_stops_training(tmp_path):
    task = BroadcastTask()
    m = quick(task, TinyReasoner(task.info), policy("fixed"), train_cfg(time_budget_s=0.3), tmp_path)
    assert m["train/steps"] > 0 and m["train/wall_s"] == pytest.approx(0.3, abs=0.3)


@pytest.mark.parametrize("loss", ["softmax", "stablemax"])
def test_the_engine_owns_the_task_loss(loss):
    """One task loss, the configured one: the policy sees it (and the lookahead's) detached and adds only
    its halting term; the segment's loss is their sum."""
    task = BroadcastTask()
    model = TinyReasoner(task.info)
    pol = policy("act_ponder")
    seen = {}
    step = pol.step

    def spy(out, state, ctx):
        seen["ctx"] = ctx
        return step(out, state, ctx)

    pol.step = spy
    runner = SegmentRunner(model, pol, loss=loss, device=CPU)
    batch = task.build("train").batch(torch.arange(8))
    st = runner(
        model.initial_carry(batch),
        batch,
        pol.init_state(8, CPU),
        torch.zeros(8, dtype=torch.int64),
        training=True,
        max_steps=4,
        generator=None,
    )
    ctx, fn = seen["ctx"], get_loss(loss)
    assert torch.equal(st.lm_loss, fn(st.output.logits, batch.labels)) and st.lm_loss.requires_grad
    assert torch.equal(ctx.lm_loss, st.lm_loss.detach()) and not ctx.lm_loss.requires_grad
    assert torch.equal(ctx.next_lm_loss, fn(ctx.next_output.logits, batch.labels))
    assert st.loss.item() == pytest.approx((st.lm_loss.sum() + st.decision.loss).item())
    weighted = HaltDecision(halt=st.halt, loss=None, task_weight=torch.tensor([0.5] * 8))
    assert segment_loss(st.lm_loss, weighted).item() == pytest.approx(0.5 * st.lm_loss.sum().item())


@pytest.mark.slow
def test_trained_early_exit_spends_fewer_segments_on_near_than_on_far_sources():
    """On the broadcast double the difficulty *is* the compute needed: a value at distance d needs d
    neighbour updates (2 per segment). Once act_q has learned to halt, evaluation to the policy's
    decision stops the near sources earlier than the far ones (measured over seeds 0-3: near
    2.3-4.8 vs far 2.7-5.3 mean segments, always far > near)."""
    task = BroadcastTask()
    cfg = TrainConfig(
        steps=1500,
        batch_size=16,
        lr=3e-3,
        max_segments=6,
        weight_decay=0.0,
        loss="softmax",
        optimizer="adamw",
        progress=False,
    )
    m = run_experiment(
        task,
        lambda: TinyReasoner(task.info),
        policy("act_q"),
        cfg,
        EvalConfig(curve=[2, 4, 6]),
        seed=0,
        device="cpu",
        workdir=None,
        progress=False,
    )
    near, far = m["policy/bucket/near/mean_segments"], m["policy/bucket/far/mean_segments"]
    assert m["policy/exact_accuracy"] > 0.6  # trained (measured 0.78)
    assert far > near + 0.25, (near, far)  # measured 3.61 vs 4.55
    assert m["policy/mean_segments"] < 6.0  # and it does exit early


def test_bf16_autocast_runs_on_the_cpu_when_asked():
    task = BroadcastTask(BroadcastConfig(num_train=16, num_test=8))
    m = quick(task, TinyReasoner(task.info), policy("act_bce"), train_cfg(steps=4, precision="bf16"))
    assert torch.isfinite(torch.tensor(m["train/loss"]))


def test_training_log_quick_evaluations_and_tensorboard(tmp_path, capsys):
    import importlib.util

    task = BroadcastTask()
    quick(
        task,
        TinyReasoner(task.info),
        policy("act_bce"),
        train_cfg(steps=10, log_every=5, eval_interval=10, eval_examples=8, tensorboard=True),
        tmp_path,
    )
    records = [json.loads(line) for line in (tmp_path / LOG_NAME).read_text().splitlines()]
    assert [r["step"] for r in records] == [5, 10, 10]
    assert {"loss", "exact_accuracy", "mean_segments", "lr"} <= set(records[0])
    assert 0.0 <= records[-1]["eval/exact_accuracy"] <= 1.0
    if importlib.util.find_spec("tensorboard") is None:
        assert "tensorboard is not installed" in capsys.readouterr().err
    else:
        assert any((tmp_path / "tensorboard").iterdir())


def test_one_segment_runner_per_experiment(monkeypatch):
    """Training and both evaluations share one runner (one torch.compile of the segment, not three)."""
    made = []
    init = SegmentRunner.__init__

    def counting(self, *args, **kwargs):
        made.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(SegmentRunner, "__init__", counting)
    task = BroadcastTask()
    quick(task, TinyReasoner(task.info), policy("fixed"), train_cfg(steps=2))
    assert len(made) == 1
