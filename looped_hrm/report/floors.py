"""CI floors derived from the measured spread over seeds: ``python -m looped_hrm floors DIR``.

A floor must hold on any machine. Another machine (other CPU kernels, thread count, library build)
changes the float rounding, and a small difference early in training grows like a change of seed;
so the seed-to-seed spread of a cell is the measure of how far another machine's result may fall.
The rule, for every task × model × halting cell of a finished grid with S seeds:

* ``margin = K · max(std, MIN_STD)`` with K = 4 (one run falls below mean - 4 std with probability
  3e-5 if results are normal; over a 32-cell grid about 1e-3), and MIN_STD = 0.02 so that cells whose
  seeds happen to agree still leave room for float drift;
* the metric is exact accuracy when ``mean - margin >= MIN_USEFUL`` (the floor still proves the model
  solves puzzles); otherwise the cell is not converged at this budget (or not learning the task) and
  exact accuracy is too noisy or too low to hold, so the floor is on token accuracy, which is stable
  there;
* ``min = mean - margin`` of that metric, rounded down to 0.001 and never below 0.

The printed YAML goes under ``floors:`` of the benchmark, with the mean, std and seed count beside
each floor.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from looped_hrm.evaluation.catalogue import key
from looped_hrm.report.cells import cells

K = 4.0
MIN_STD = 0.02
MIN_USEFUL = 0.05
METRICS = (key("exact_accuracy", "policy"), key("token_accuracy", "policy"))


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
            mean = statistics.fmean(values)
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            low = mean - K * max(std, MIN_STD)
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
