"""Learning curves (evaluations at fractions of the budget) and the equal-compute (FLOPs) budget."""

from __future__ import annotations

import time

import pytest

from looped_hrm.config import plugin_config
from looped_hrm.evaluation.config import EvalConfig
from looped_hrm.evaluation.per_example import decode
from looped_hrm.experiment.run import deterministic_part, run_experiment
from looped_hrm.registry import get_registry
from looped_hrm.training.checkpoint import checkpoint_path, load_checkpoint
from looped_hrm.training.config import TrainConfig
from looped_hrm.training.trainer import Trainer

from .fakes import BroadcastTask, TinyReasoner


def run(tmp_path=None, **train):
    task = BroadcastTask()
    spec = get_registry().get("halting", "act_q")
    cfg = TrainConfig(
        **{
            "batch_size": 8,
            "lr": 3e-3,
            "max_segments": 4,
            "log_every": 5,
            "progress": False,
            "weight_decay": 0.0,
            **train,
        }
    )
    return run_experiment(
        task,
        lambda: TinyReasoner(task.info),
        spec.factory(plugin_config(spec, None, {})),
        cfg,
        EvalConfig(batch_size=16, curve=[1, 2, 4]),
        seed=0,
        device="cpu",
        workdir=tmp_path,
        progress=False,
    )


def test_curve_points_sit_at_the_fractions_and_end_with_the_final_evaluation(tmp_path):
    m = run(tmp_path, steps=40, curve_fractions=[0.25, 0.5])
    curve = m["learning_curve"]
    assert [p["fraction"] for p in curve] == [0.25, 0.5, 1.0]
    assert [p["step"] for p in curve] == [10, 20, 40]
    assert curve[0]["train_flops"] < curve[1]["train_flops"] < curve[2]["train_flops"] == m["train/flops"]
    assert curve[-1]["exact_accuracy"] == m["policy/exact_accuracy"]
    n = m["per_example"]["n"]
    assert decode(curve[1]["correct"], n).mean() == pytest.approx(curve[1]["exact_accuracy"])
    assert [p["fraction"] for p in load_checkpoint(checkpoint_path(tmp_path))["curve"]] == [0.25, 0.5]


def test_evaluating_the_curve_does_not_change_training():
    with_curve, without = run(steps=30, curve_fractions=[0.2, 0.6]), run(steps=30, curve_fractions=[])
    assert "learning_curve" not in without
    a, b = deterministic_part(with_curve), deterministic_part(without)
    a.pop("learning_curve")
    assert a == b


def test_curve_evaluations_count_neither_as_training_wall_time_nor_cpu_time(monkeypatch):
    """train/wall_s and train/cpu_s are the cost of training; the curve's evaluations are not part of it."""
    evaluate = Trainer._run_curve_eval

    def slow_evaluation(self):
        start = time.process_time()
        while time.process_time() - start < 1.5:  # burn CPU, as a real evaluation does
            pass
        return evaluate(self)

    monkeypatch.setattr(Trainer, "_run_curve_eval", slow_evaluation)
    m = run(steps=20, curve_fractions=[0.25, 0.5])
    assert len(m["learning_curve"]) == 3
    assert m["train/wall_s"] < 1.5 and m["train/cpu_s"] < 1.5  # 3 s of evaluation burned, none counted


def test_a_flops_budget_stops_training_at_equal_compute():
    per_step = run(steps=1, curve_fractions=[])["train/flops"]
    m = run(flops_budget=10.5 * per_step, curve_fractions=[0.5])
    assert m["train/steps"] == 11 and m["train/flops"] >= 10.5 * per_step
    assert [p["step"] for p in m["learning_curve"]] == [6, 11]


def test_budgets_are_validated():
    with pytest.raises(ValueError, match="flops_budget"):
        TrainConfig()
    with pytest.raises(ValueError, match="curve_fractions"):
        TrainConfig(steps=5, curve_fractions=[0.0, 0.5])
    assert TrainConfig(flops_budget=1e9).steps is None
