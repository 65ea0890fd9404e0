"""CI floors derived from the seed spread (looped_hrm.report.floors)."""

from __future__ import annotations

import numpy as np
import pytest

from looped_hrm.commands import main
from looped_hrm.config import ConfigError, load_yaml
from looped_hrm.report.floors import ALPHA, derive, margin, prediction_factor
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
    steady = [0.90, 0.92, 0.94, 0.91, 0.93]
    records = [record("steady", s, e, 0.99) for s, e in enumerate(steady)]
    cusp = [(0.08, 0.86), (0.22, 0.89), (0.36, 0.91), (0.15, 0.88), (0.30, 0.90)]
    records += [record("cusp", s, e, t) for s, (e, t) in enumerate(cusp)]
    floors = {f["model"]: f for f in derive(records)}
    low = np.mean(steady) - margin(float(np.std(steady, ddof=1)), 5)
    assert floors["steady"]["metric"] == "policy/exact_accuracy" and floors["steady"]["min"] == pytest.approx(
        low, abs=1e-3
    )
    assert floors["cusp"]["metric"] == "policy/token_accuracy"  # exact: 0.22 - 7.9 x 0.11 < 0.05
    assert floors["cusp"]["min"] < min(t for _, t in cusp) and floors["cusp"]["measured_seeds"] == 5


def test_a_floor_needs_three_seeds():
    records = [record("few", s, 0.9, 0.99) for s in range(2)]
    with pytest.raises(ConfigError, match="t/few/fixed: 2 seed"):
        derive(records)


@pytest.mark.parametrize("seeds", [3, 5, 10])
def test_a_new_run_falls_below_its_floor_at_the_stated_rate(seeds):
    """Measure ``seeds`` normal results, set the floor by the rule, draw one new run of the same cell:
    it falls below with probability alpha (the spread here is far above MIN_STD, so the rule's factor
    is all there is). A million draws per seed count: the Monte-Carlo error at alpha = 1e-3 is 3 %
    of alpha, at 1e-2 1 %."""
    rng = np.random.default_rng(seeds)
    draws = 1_000_000
    measured = rng.standard_normal((draws, seeds))
    new = rng.standard_normal(draws)
    spread = measured.std(1, ddof=1)
    for alpha in (ALPHA, 0.01, 0.05):
        floor = measured.mean(1) - prediction_factor(seeds, alpha) * spread
        rate = float((new < floor).mean())
        error = np.sqrt(alpha * (1 - alpha) / draws)
        assert abs(rate - alpha) < 4 * error, f"{seeds} seeds, alpha {alpha}: {rate:.5f}"
    old = float((new < measured.mean(1) - 4 * spread).mean())  # mean - 4 std, the rule this replaced
    assert old > 2 * ALPHA if seeds <= 5 else old > ALPHA


def test_shipped_ci_floors_follow_the_rule_from_the_reference_results(capsys):
    assert main(["floors", "results/ci-cpu"]) == 0
    printed = capsys.readouterr().out.splitlines()[1:]
    data, source = load_yaml("benchmarks/ci.yaml")
    floors = load_benchmark(data, source).floors
    assert len(printed) == len(floors)
    for line, floor in zip(printed, floors):
        assert f"min: {floor.min}," in line and f"metric: {floor.metric}," in line
