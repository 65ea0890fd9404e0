"""End to end with the real plugins: a tiny HRM trained by the engine on 4×4 Sudoku and on parity,
under HRM's Q-learning halting (``act_q``) and under ``fixed``, reaches a real exact accuracy.

"Real" is measured against what copying the input scores: copying a Sudoku's givens leaves the
blanks wrong (0 exact), copying parity bits is right only for the rare strings whose running parity
equals the bits themselves. The floors are set well below the accuracy these runs reach (see the
comments) so that they hold across machines, yet far above the copy baselines.

Each run takes a few seconds to ~30 s on one CPU thread.
"""

from __future__ import annotations

import pytest
import torch

from looped_hrm.config import plugin_config
from looped_hrm.contracts import Split
from looped_hrm.engine.correctness import exact_correct
from looped_hrm.evaluation.config import EvalConfig
from looped_hrm.experiment.run import run_experiment
from looped_hrm.registry import get_registry
from looped_hrm.training.config import TrainConfig

pytestmark = pytest.mark.slow


def build(kind: str, name: str, preset: str | None = None, **values):
    spec = get_registry().get(kind, name)
    return spec.factory, plugin_config(spec, preset, values)


def run(task, policy_name: str, steps: int, segments: int, model_values: dict, tmp_path) -> dict:
    model_factory, model_cfg = build("model", "hrm", "tiny", **model_values)
    policy_factory, policy_cfg = build("halting", policy_name)
    cfg = TrainConfig(steps=steps, batch_size=32, lr=3e-3, weight_decay=0.0, max_segments=segments, progress=False)
    return run_experiment(
        task,
        lambda: model_factory(model_cfg, task.info),
        policy_factory(policy_cfg),
        cfg,
        EvalConfig(curve=[1, 2, 4]),
        seed=0,
        device="cpu",
        workdir=tmp_path,
        progress=False,
    )


def copy_baseline(split: Split) -> float:
    """Exact accuracy of answering with the input itself."""
    return float(exact_correct(split.inputs, split.labels).float().mean())


# HRM "tiny" with learned positions and width 64: with 1-D RoPE the model must discover the 2-D
# row/column/box structure and needs ~3x more steps (plain loop, 400 steps: 23% vs 86% exact).
SUDOKU_MODEL = {"pos_encodings": "learned", "hidden_size": 64, "num_heads": 4}


@pytest.mark.parametrize(
    "policy_name, floor",
    [
        ("act_q", 0.10),  # measured 0.44 (fixed-run exact 0.51) after 500 steps, ~15 s
        ("fixed", 0.15),  # measured 0.80 after 500 steps, ~10 s
    ],
)
def test_tiny_hrm_learns_4x4_sudoku(policy_name, floor, tmp_path):
    # 4x4 with 8 givens has about 1,100 puzzles up to symmetry: 600 train + 128 test, none equivalent
    task_factory, task_cfg = build("task", "sudoku", "tiny", num_train=600, num_aug=1, num_test=128)
    task = task_factory(task_cfg)
    test = task.build("test")
    assert copy_baseline(test) == 0.0
    m = run(task, policy_name, steps=500, segments=4, model_values=SUDOKU_MODEL, tmp_path=tmp_path)
    print(
        f"sudoku 4x4 / hrm tiny / {policy_name}: policy exact {m['policy/exact_accuracy']:.3f} "
        f"(segments {m['policy/mean_segments']:.2f}), fixed exact {m['fixed/exact_accuracy']:.3f}, "
        f"verified {m['policy/verified_accuracy']:.3f}, train {m['train/wall_s']:.1f}s"
    )
    assert m["policy/exact_accuracy"] >= floor
    assert m["fixed/exact_accuracy"] >= floor
    assert m["policy/verified_accuracy"] >= m["policy/exact_accuracy"]  # a right answer obeys the rules
    if policy_name == "act_q":
        assert m["policy/mean_segments"] < 4.0 or m["train/mean_segments"] < 4.0  # halting is in use


# 1,600 steps, where every seed measured has left chance. At 400 steps (the budget before) the run
# is not converged and the seeds scatter: on an AMD EPYC, seeds 0-4 reached 0.12 / 0.29 / 0.02 /
# 0.09 / 0.89 under act_q and 0.88 / 0.48 / 0.27 / 0.03 / 0.95 under fixed (seed 0 had measured
# 0.81 and 0.97 on an Intel Xeon), so seed 0 failed a 0.5 floor on another machine. At 1,600 steps,
# same machine, seeds 0-4: act_q 0.77 / 0.94 / 0.98 / 0.30 / 0.96 (~26 s each), fixed 0.92 / 0.97 /
# 0.99 / 0.95 / 0.98 (~15 s). The floors sit under every seed's result and far above copying (0.008).
@pytest.mark.parametrize(
    "policy_name, floor",
    [
        ("act_q", 0.25),
        ("fixed", 0.5),
    ],
)
def test_tiny_hrm_learns_running_parity(policy_name, floor, tmp_path):
    # in-distribution lengths; 10 bits, so the 128 test strings can all be strings training never drew
    task_factory, task_cfg = build("task", "parity", "tiny", train_length=10, test_length=10)
    task = task_factory(task_cfg)
    baseline = copy_baseline(task.build("test"))
    m = run(task, policy_name, steps=1600, segments=4, model_values={}, tmp_path=tmp_path)
    print(
        f"parity 10 / hrm tiny / {policy_name}: policy exact {m['policy/exact_accuracy']:.3f} "
        f"(segments {m['policy/mean_segments']:.2f}), fixed exact {m['fixed/exact_accuracy']:.3f}, copy {baseline:.3f}"
    )
    assert baseline < 0.05
    assert m["policy/exact_accuracy"] >= floor and m["fixed/exact_accuracy"] >= floor
    assert torch.isfinite(torch.tensor(m["train/loss"]))
