"""CI floors derived from the measured spread over seeds: ``python -m looped_hrm floors DIR``.

A floor must hold on any machine. Another machine (other CPU kernels, thread count, library build)
changes the float rounding, and a small difference early in training grows like a change of seed;
so a CI run on another machine is one more draw from the cell's distribution over seeds, and the
floor is the lower end of a *prediction interval* for that draw, built from the S measured seeds.
For every task × model × halting cell of a finished grid:

* ``margin = t(S − 1; 1 − ALPHA) · sqrt(1 + 1/S) · max(std, MIN_STD)``: for normal seed results a
  new run falls below ``mean − margin`` with probability exactly ALPHA, averaged over what the S
  measured seeds happened to be — the uncertainty of the measured mean (the ``1/S``) and of the
  measured std (t instead of normal quantiles) included. ALPHA = 1e-3 per cell; over a grid of C
  cells at most C · ALPHA of the runs on a new machine state fail some floor by chance (32 cells:
  3.2 %). With 5 seeds the margin is 7.86 std, with 10 seeds 4.51 (the rule used before, 4 std, is
  exceeded by 1.1 % of new runs per cell with 5 seeds: up to 30 % of grids). MIN_STD = 0.02 leaves
  room for float drift in cells whose seeds happen to agree (it only lowers a floor, so the rate
  stays at most ALPHA);
* the metric is exact accuracy when ``mean - margin >= MIN_USEFUL`` (the floor still proves the model
  solves puzzles); otherwise the cell is not converged at this budget (or not learning the task) and
  exact accuracy is too noisy or too low to hold, so the floor is on token accuracy, which is stable
  there;
* ``min = mean - margin`` of that metric, rounded down to 0.001 and never below 0.

A cell needs `MIN_SEEDS` seeds (fewer give no spread, or a useless one). The printed YAML goes under
``floors:`` of the benchmark, with the mean, std and seed count beside each floor. docs/statistics.md
has the derivation and the simulation that checks the rate (tests/bench/test_floors.py).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from scipy import stats

from looped_hrm.config import ConfigError
from looped_hrm.evaluation.catalogue import key
from looped_hrm.report.cells import cells

ALPHA = 1e-3
MIN_STD = 0.02
MIN_USEFUL = 0.05
MIN_SEEDS = 3
METRICS = (key("exact_accuracy", "policy"), key("token_accuracy", "policy"))


def prediction_factor(seeds: int, alpha: float = ALPHA) -> float:
    """``t(S − 1; 1 − alpha) · sqrt(1 + 1/S)``: a new draw falls more than this many measured standard
    deviations below the mean of S measured draws with probability ``alpha`` (normal values)."""
    return float(stats.t.isf(alpha, seeds - 1)) * math.sqrt(1 + 1 / seeds)


def margin(std: float, seeds: int, alpha: float = ALPHA) -> float:
    """How far below the mean of ``seeds`` measured values the floor sits (lower 1 − alpha prediction
    bound, the std no smaller than MIN_STD)."""
    return prediction_factor(seeds, alpha) * max(std, MIN_STD)


def derive(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One floor per cell with successful seeds (see the module docstring for the rule)."""
    floors = []
    for cell in cells(records):
        if not cell.ok:
            continue
        for metric in METRICS:
            values = [r["metrics"][metric] for r in cell.ok if isinstance(r["metrics"].get(metric), (int, float))]
            if not values:
                continue
            if len(values) < MIN_SEEDS:
                raise ConfigError(
                    f"{cell.task}/{cell.model}/{cell.halting}: {len(values)} seed(s) of {metric}; a floor needs "
                    f"at least {MIN_SEEDS} (measure the grid with --seeds 0,1,2,3,4)"
                )
            mean = statistics.fmean(values)
            std = statistics.stdev(values)
            low = mean - margin(std, len(values))
            if metric == METRICS[-1] or low >= MIN_USEFUL:
                floors.append(
                    {
                        "task": cell.task,
                        "model": cell.model,
                        "halting": cell.halting,
                        "metric": metric,
                        "min": max(0.0, math.floor(low * 1000) / 1000),
                        "measured_mean": round(mean, 3),
                        "measured_std": round(std, 3),
                        "measured_seeds": len(values),
                    }
                )
                break
    return floors


def to_yaml(floors: list[dict[str, Any]]) -> str:
    keys = ("task", "model", "halting", "metric", "min", "measured_mean", "measured_std", "measured_seeds")
    return "".join("  - {" + ", ".join(f"{k}: {f[k]}" for k in keys) + "}\n" for f in floors)
