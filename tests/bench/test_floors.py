"""CI floors derived from the seed spread (looped_hrm.report.floors)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from looped_hrm.commands import main
from looped_hrm.config import ConfigError, load_yaml
from looped_hrm.report.floors import ALPHA, derive, margin, prediction_factor, to_yaml
from looped_hrm.runner.grid import load_benchmark


def record(model, seed, exact, token, copy=(0.0, 0.5)):
    """A record of cell t/<model>/fixed; ``copy``: the copy baseline's (exact, token) accuracy."""
    combo = {"task": {"label": "t"}, "model": {"label": model}, "halting": {"label": "fixed"}, "seed": seed}
    return {
        "key": f"{model}{seed}",
        "combination": combo,
        "status": "ok",
        "metrics": {
            "policy/exact_accuracy": exact,
            "policy/token_accuracy": token,
            "baseline:copy/exact_accuracy": copy[0],
            "baseline:copy/token_accuracy": copy[1],
            "baseline:majority/exact_accuracy": 0.0,
            "baseline:majority/token_accuracy": 0.3,
        },
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


def test_a_floor_clears_the_best_trivial_baseline_or_the_cell_is_dropped():
    """Copying the input solves 40 %: a steady 60 % model gets an exact floor above 40 %; a noisy one
    whose exact floor would sit below it falls back to token accuracy only if that floor clears the
    copy's token accuracy (80 % here; 99 % ± MIN_STD gives 0.835); with copy at 95 % of tokens it
    does not, and the cell is dropped with the numbers that say why."""
    steady = [0.60, 0.61, 0.59, 0.60, 0.62]
    records = [record("steady", s, e, 0.99, copy=(0.4, 0.95)) for s, e in enumerate(steady)]
    noisy = [0.30, 0.55, 0.45, 0.60, 0.40]
    records += [record("tokens", s, e, 0.99 + s / 1000, copy=(0.4, 0.8)) for s, e in enumerate(noisy)]
    records += [record("copycat", s, e, 0.95 + s / 1000, copy=(0.4, 0.95)) for s, e in enumerate(noisy)]
    floors = {f["model"]: f for f in derive(records)}
    assert floors["steady"]["metric"] == "policy/exact_accuracy" and floors["steady"]["min"] > 0.4
    assert floors["steady"]["baseline"] == "copy" and floors["steady"]["baseline_value"] == 0.4
    assert floors["tokens"]["metric"] == "policy/token_accuracy" and floors["tokens"]["min"] > 0.8
    assert "min" not in floors["copycat"]
    reason = floors["copycat"]["dropped"]
    assert "not above copy 0.400" in reason and "not above copy 0.950" in reason
    # the YAML it prints loads back: floors with their baseline, the dropped cell with its reason
    data = {
        "name": "g",
        "tasks": ["parity"],
        "models": ["hrm"],
        "floors": yaml.safe_load("floors:\n" + to_yaml(list(floors.values())))["floors"],
    }
    loaded = {f.model: f for f in load_benchmark(data, "g.yaml").floors}
    assert loaded["steady"].min == floors["steady"]["min"] and loaded["steady"].baseline == "copy"
    assert loaded["copycat"].min is None and loaded["copycat"].dropped == reason


def test_an_extrapolation_cell_gets_its_floor_on_its_largest_split_against_that_splits_baselines():
    """Tested at 16 and 64 bits: the floor is on the last split's policy pass, and the baseline it must
    clear is the one scored on the same 64-bit rows (copy solves 30 % there in this made-up record),
    not the own split's (copy 0 %) or another split's."""
    records = []
    for seed, exact in enumerate([0.90, 0.92, 0.91, 0.93, 0.90]):
        r = record("dt", seed, 0.99, 0.999)
        split = {"test_length=16": (0.5, 0.9), "test_length=64": (0.3, 0.6)}
        for variant, (copy, token) in split.items():
            r["metrics"][f"extrapolate/{variant}/policy/exact_accuracy"] = exact if variant.endswith("64") else 0.99
            r["metrics"][f"extrapolate/{variant}/policy/token_accuracy"] = 0.99
            r["metrics"][f"extrapolate/{variant}/baseline:copy/exact_accuracy"] = copy
            r["metrics"][f"extrapolate/{variant}/baseline:copy/token_accuracy"] = token
        r["extrapolation"] = {"test_length=16": "x", "test_length=64": "x"}
        records.append(r)
    (floor,) = derive(records)
    assert floor["metric"] == "extrapolate/test_length=64/policy/exact_accuracy"
    assert floor["baseline"] == "copy" and floor["baseline_value"] == 0.3
    assert floor["min"] == pytest.approx(0.912 - margin(0.02, 5), abs=1e-3)
    for r in records:  # copy solving 95 % of the 64-bit strings leaves no floor that means learning
        r["metrics"]["extrapolate/test_length=64/baseline:copy/exact_accuracy"] = 0.95
        r["metrics"]["extrapolate/test_length=64/baseline:copy/token_accuracy"] = 0.999
    (dropped,) = derive(records)
    assert "extrapolate/test_length=64/exact: mean 0.912" in dropped["dropped"]


def test_a_floor_entry_gives_a_min_or_a_reason():
    data = {
        "name": "g",
        "tasks": ["parity"],
        "models": ["hrm"],
        "floors": [{"task": "t", "model": "m", "halting": "h"}],
    }
    with pytest.raises(ConfigError, match=r"floors\[0\]: a floor gives either `min` or `dropped`"):
        load_benchmark(data, "g.yaml")


def test_records_without_baselines_get_no_floor():
    records = [record("old", s, 0.9, 0.99) for s in range(5)]
    for r in records:
        r["metrics"] = {k: v for k, v in r["metrics"].items() if not k.startswith("baseline:")}
    with pytest.raises(ConfigError, match="t/old/fixed: the records hold no trivial baseline"):
        derive(records)


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
    """The grid's floors from results/ci-cpu, then the extrapolation cell's from its own folder."""
    printed = []
    for folder in ("results/ci-cpu", "results/ci-cpu-extrapolation"):
        assert main(["floors", folder]) == 0
        printed += capsys.readouterr().out.splitlines()[1:]
    data, source = load_yaml("benchmarks/ci.yaml")
    floors = load_benchmark(data, source).floors
    assert len(printed) == len(floors)
    for line, floor in zip(printed, floors):
        if floor.dropped:
            assert "dropped:" in line and floor.dropped.split(" (")[0] in line
        else:
            assert f"min: {floor.min}," in line and f"metric: {floor.metric}," in line
            assert floor.baseline_value is not None and floor.min > floor.baseline_value
