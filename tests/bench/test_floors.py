"""CI floors derived from the seed spread (looped_hrm.report.floors)."""

from __future__ import annotations

import pytest

from looped_hrm.commands import main
from looped_hrm.config import load_yaml
from looped_hrm.report.floors import derive
from looped_hrm.runner.grid import load_benchmark


def record(model, seed, exact, token):
    combo = {"task": {"label": "t"}, "model": {"label": model}, "halting": {"label": "fixed"}, "seed": seed}
    return {
        "key": f"{model}{seed}",
        "combination": combo,
        "status": "ok",
        "metrics": {"policy/exact_accuracy": exact, "policy/token_accuracy": token},
    }


def test_converged_cells_get_exact_floors_and_noisy_ones_token_floors():
    records = [record("steady", s, e, 0.99) for s, e in enumerate([0.90, 0.92, 0.94])]
    records += [record("cusp", s, e, t) for s, (e, t) in enumerate([(0.08, 0.86), (0.22, 0.89), (0.36, 0.91)])]
    floors = {f["model"]: f for f in derive(records)}
    steady, cusp = floors["steady"], floors["cusp"]
    assert steady["metric"] == "policy/exact_accuracy" and steady["min"] == pytest.approx(0.92 - 4 * 0.02, abs=1e-3)
    assert cusp["metric"] == "policy/token_accuracy"  # exact: 0.22 - 4 x 0.14 < 0.05
    assert cusp["min"] < min(0.86, 0.89, 0.91) and cusp["measured_seeds"] == 3


def test_shipped_ci_floors_follow_the_rule_from_the_reference_results(capsys):
    assert main(["floors", "results/ci-cpu"]) == 0
    printed = capsys.readouterr().out.splitlines()[1:]
    data, source = load_yaml("benchmarks/ci.yaml")
    floors = load_benchmark(data, source).floors
    assert len(printed) == len(floors)
    for line, floor in zip(printed, floors):
        assert f"min: {floor.min}," in line and f"metric: {floor.metric}," in line
