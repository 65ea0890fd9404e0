"""report/extrapolation: accuracy against test-time steps per test split, its peak and the drop from it,
and the halting policy's choice next to the fixed curve."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from looped_hrm.evaluation import catalogue, per_example
from looped_hrm.evaluation.baselines import BaselineResult, baseline_metrics
from looped_hrm.evaluation.catalogue import key
from looped_hrm.evaluation.metrics import ExampleResults, summarize
from looped_hrm.report import extrapolation
from looped_hrm.report.cells import Cell

N = 8


def results(curve: list[float], spent: float = 0.0) -> ExampleResults:
    """A pass whose examples are right after step t with the share ``curve[t]`` (the first examples)."""
    steps = torch.tensor([[i < round(share * N) for share in curve] for i in range(N)])
    return ExampleResults(
        predictions=torch.zeros(N, 1, dtype=torch.int64),
        correct=steps[:, -1],
        token_accuracy=steps[:, -1].float(),
        segments=torch.full((N,), 2),
        inner_steps=torch.full((N,), spent),
        flops=torch.ones(N),
        first_correct=torch.zeros(N, dtype=torch.int64),
        correct_steps=steps,
        steps_per_segment=2,
    )


def record(seed: int, own: list[float], large: list[float], policy_at: float) -> dict:
    bucket = torch.zeros(N, dtype=torch.int64)
    metrics = {key("train_max_segments"): 1}
    packs = {}
    for variant, curve in ((None, own), ("test_length=16", large)):
        fixed, policy = results(curve), results(curve[:2], spent=policy_at)
        passes = {"fixed": fixed, "policy": policy}
        for mode, res in passes.items():
            metrics.update(
                catalogue.of_pass(mode, summarize(res, bucket=bucket, bucket_names=["all"]), variant=variant)
            )
        # two trivial baselines: copy right on the first example, majority on the first two
        baselines = {
            name: BaselineResult(correct=torch.arange(N) < right, token_accuracy=torch.zeros(N), verified=None)
            for name, right in (("copy", 1), ("majority", 2))
        }
        metrics.update(baseline_metrics(baselines, bucket, ["all"], variant=variant))
        packs[variant] = per_example.pack(passes, bucket=bucket, bucket_names=["all"], baselines=baselines)
    return {
        "status": "ok",
        "combination": {"seed": seed, "eval": {"extrapolate": {"test_length": [16]}}},
        "metrics": metrics,
        "per_example": packs[None],
        "extrapolation": {"test_length=16": packs["test_length=16"]},
    }


@pytest.fixture
def cell() -> Cell:
    own = [0.5, 1.0, 1.0, 1.0]
    large = [0.0, 0.25, 0.75, 0.5]  # peaks at step 3, then overthinks
    return Cell("parity", "dt_net", "act_bce", [record(seed, own, large, 3.0) for seed in range(3)])


def test_curve_rows_are_per_split_and_step(cell):
    curves = extrapolation.curve_rows([cell])
    assert list(dict.fromkeys(curves.split)) == [extrapolation.OWN, "test_length=16"]
    large = curves[curves.split == "test_length=16"]
    assert large["mean"].tolist() == [0.0, 0.25, 0.75, 0.5]
    assert large.x_training.tolist() == [0.5, 1.0, 1.5, 2.0]  # training: 1 segment of 2 steps
    assert (large.ci_low <= large["mean"]).all() and (large["mean"] <= large.ci_high).all()


def test_summary_gives_peak_overthinking_and_the_policy_choice(cell):
    table = extrapolation.summary_rows([cell], extrapolation.curve_rows([cell]))
    row = table[table["test split"] == "test_length=16"].iloc[0]
    assert row["peak exact acc"].startswith("75.0") and row["peak at step (× train)"] == "3 (1.5×)"
    assert row["exact acc there"].startswith("50.0") and row["overthinking (points)"] == "25.0"
    assert row["policy steps (× train)"] == "3.0 (1.5×)" and row["fixed acc at those steps"] == "75.0"
    assert row["best trivial baseline"].startswith("25.0") and row["best trivial baseline"].endswith("(majority)")


def test_a_row_says_how_many_runs_failed_and_the_throughput(cell):
    """A diverged seed is not in the interval, and the row says it was there: 3 of 4 (1 failed)."""
    for seed, r in enumerate(cell.records):
        r["metrics"][key("examples_per_s", "fixed", variant="test_length=16")] = 10.0 * (seed + 1)
    failed = {"status": "failed", "combination": {"seed": 3}, "error": "TrainingDiverged: loss is nan"}
    cell = Cell(cell.task, cell.model, cell.halting, [*cell.records, failed])
    table = extrapolation.summary_rows([cell], extrapolation.curve_rows([cell]))
    row = table[table["test split"] == "test_length=16"].iloc[0]
    assert row["seeds"] == "3 of 4 (1 failed)" and row["puzzles/s (fixed pass)"] == "20"


def test_write_makes_the_table_csv_and_a_figure_per_task(cell, tmp_path):
    paths = extrapolation.write(tmp_path, [cell])
    names = {p.name for p in paths}
    assert {"extrapolation.csv", "extrapolation.md"} <= names
    assert pd.read_csv(tmp_path / "extrapolation.csv").split.nunique() == 2
    if "extrapolation_parity.png" not in names:
        pytest.importorskip("matplotlib")
    assert extrapolation.write(tmp_path / "none", [Cell("parity", "hrm", "fixed", [])]) == []


def test_a_policy_that_solves_every_example_of_every_seed_is_plotted(tmp_path, monkeypatch):
    """Its interval is the point itself up to rounding: over 50 examples the mean sums to 1 - 2e-16
    while the interval is clipped to the outcomes, [1, 1]; the error bars must not go negative."""
    pytest.importorskip("matplotlib")
    monkeypatch.setitem(globals(), "N", 50)  # examples per pass, read by `results` and `record`
    seeds = 5
    solved = Cell("parity", "dt_net", "converged", [record(s, [1.0] * 4, [1.0] * 4, 3.0) for s in range(seeds)])
    assert "extrapolation_parity.png" in {p.name for p in extrapolation.write(tmp_path, [solved])}
