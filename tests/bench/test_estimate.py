"""--dry-run estimates under an equal-FLOPs budget: each model gets the steps its budget buys."""

from __future__ import annotations

import pytest

from looped_hrm.bench import main


def test_flops_budget_buys_fewer_steps_for_the_costlier_model(capsys):
    args = [
        "--tasks",
        "parity",
        "--models",
        "hrm,baseline",
        "--preset",
        "tiny",
        "--dry-run",
        "--set",
        "train.flops_budget=1.0e+13",
        "--set",
        "train.steps=null",
    ]
    assert main(args) == 0
    rows = {
        line.split("|")[2].strip(): line.split("|")
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| parity")
    }
    steps = {model: int(cells[7]) for model, cells in rows.items()}
    pflop = {model: float(cells[8]) for model, cells in rows.items()}
    assert steps["hrm"] < steps["baseline"]  # an HRM segment costs more than one baseline pass
    assert pflop["hrm"] == pytest.approx(0.01, rel=1e-3) and pflop["baseline"] == pytest.approx(0.01, rel=1e-3)
