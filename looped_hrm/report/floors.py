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
* a floor must mean learning: it sits above the best *trivial baseline* of its cell on its metric
  (`looped_hrm.evaluation.baselines`: copying the input, the majority label, a task's own rule such
  as Sudoku's givens + a random allowed digit), scored on the same test rows and kept in every
  record. A floor at or below it would pass a model that learned nothing;
* the metric is exact accuracy when ``mean - margin >= MIN_USEFUL`` and above the best baseline's
  exact accuracy (the floor proves the model solves puzzles); otherwise token accuracy, which is
  stable where exact accuracy is not converged, when its ``mean - margin`` is above the best
  baseline's token accuracy;
* ``min = mean - margin`` of that metric, rounded down to 0.001 and never below 0; a cell where
  neither metric's floor clears its baselines is *dropped*: its entry says why (the mean, the floor
  the rule gives and the baseline it does not clear), and the CI test skips it with that reason
  instead of checking a number that proves nothing. Change its budget or data until it learns.

A cell tested on extrapolation splits (``eval.extrapolate``) gets its floor on the last split its
config lists — the largest size or hardest difficulty — against the baselines scored on that split.

A cell needs `MIN_SEEDS` seeds (fewer give no spread, or a useless one). The printed YAML goes under
``floors:`` of the benchmark, with the mean, std and seed count beside each floor and the best
baseline it clears (``baseline``, ``baseline_value``). docs/statistics.md
has the derivation and the simulation that checks the rate (tests/bench/test_floors.py).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from scipy import stats

from looped_hrm.config import ConfigError
from looped_hrm.evaluation import catalogue
from looped_hrm.evaluation.catalogue import key, lookup
from looped_hrm.report.cells import Cell, cells

ALPHA = 1e-3
MIN_STD = 0.02
MIN_USEFUL = 0.05
MIN_SEEDS = 3
FLOOR_ON = ("exact_accuracy", "token_accuracy")  # tried in this order (the module docstring's rule)
METRICS = tuple(key(name, "policy") for name in FLOOR_ON)


def prediction_factor(seeds: int, alpha: float = ALPHA) -> float:
    """``t(S − 1; 1 − alpha) · sqrt(1 + 1/S)``: a new draw falls more than this many measured standard
    deviations below the mean of S measured draws with probability ``alpha`` (normal values)."""
    return float(stats.t.isf(alpha, seeds - 1)) * math.sqrt(1 + 1 / seeds)


def margin(std: float, seeds: int, alpha: float = ALPHA) -> float:
    """How far below the mean of ``seeds`` measured values the floor sits (lower 1 − alpha prediction
    bound, the std no smaller than MIN_STD)."""
    return prediction_factor(seeds, alpha) * max(std, MIN_STD)


def best_baseline(records: list[dict[str, Any]], metric: str) -> tuple[str, float] | None:
    """(name, value) of the trivial baseline that scores highest on ``metric`` (a pass's key, e.g.
    ``policy/exact_accuracy``) over ``records`` — their ``baseline:<name>/<metric>`` values — or None
    when the records predate baselines."""
    wanted = lookup(metric)
    if wanted is None:
        raise KeyError(f"{metric!r} is not a metric of the catalogue")
    best: tuple[str, float] | None = None
    for record in records:
        for k, value in (record.get("metrics") or {}).items():
            if catalogue.BASELINE not in k or not isinstance(value, (int, float)):
                continue
            ref = lookup(k)
            if ref is None or ref.mode is None or not ref.mode.startswith(catalogue.BASELINE):
                continue
            if ref.name != wanted.name or ref.bucket is not None or ref.variant != wanted.variant:
                continue
            if best is None or value > best[1]:
                best = (ref.mode.removeprefix(catalogue.BASELINE), float(value))
    return best


def floor_metrics(cell: Cell) -> tuple[str, ...]:
    """The metrics a cell's floor may use, in the order tried: `METRICS` on the task's own test
    split, or — for a cell tested on extrapolation splits — on the last split its config lists
    (the largest size or hardest difficulty): there a floor proves the model extrapolates."""
    variant = cell.variant_labels[-1] if cell.variant_labels else None
    return tuple(key(name, "policy", variant=variant) for name in FLOOR_ON)


def derive(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One floor per cell with successful seeds, or the reason it has none (the module docstring's rule)."""
    floors = []
    for cell in cells(records):
        if not cell.ok:
            continue
        entry: dict[str, Any] = {"task": cell.task, "model": cell.model, "halting": cell.halting}
        tried = []
        metrics = floor_metrics(cell)
        for metric in metrics:
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
            low = max(0.0, math.floor((mean - margin(std, len(values))) * 1000) / 1000)
            baseline = best_baseline(cell.ok, metric)
            if baseline is None:
                raise ConfigError(
                    f"{cell.task}/{cell.model}/{cell.halting}: the records hold no trivial baseline for {metric} "
                    "(measured before baselines were recorded): re-measure the grid"
                )
            clears = low > baseline[1]
            if clears and (metric == metrics[-1] or low >= MIN_USEFUL):
                entry.update(
                    metric=metric,
                    min=low,
                    measured_mean=round(mean, 3),
                    measured_std=round(std, 3),
                    measured_seeds=len(values),
                    baseline=baseline[0],
                    baseline_value=round(baseline[1], 3),
                )
                break
            short = metric.removesuffix("_accuracy").replace("policy/", "")
            tried.append(
                f"{short}: mean {mean:.3f}, std {std:.3f} over {len(values)} seeds -> floor {low:.3f}"
                + (f", not above {baseline[0]} {baseline[1]:.3f}" if not clears else f" < {MIN_USEFUL}")
            )
        else:
            entry["dropped"] = "no floor above the trivial baselines at this budget (" + "; ".join(tried) + ")"
        floors.append(entry)
    return floors


KEYS = ("task", "model", "halting", "metric", "min", "measured_mean", "measured_std", "measured_seeds")


def to_yaml(floors: list[dict[str, Any]]) -> str:
    """The ``floors:`` entries, one line each (a dropped cell's reason quoted)."""
    lines = []
    for f in floors:
        if "dropped" in f:
            reason = f["dropped"].replace('"', "'")
            lines.append(
                f'  - {{task: {f["task"]}, model: {f["model"]}, halting: {f["halting"]}, dropped: "{reason}"}}\n'
            )
        else:
            keys = (*KEYS, "baseline", "baseline_value")
            lines.append("  - {" + ", ".join(f"{k}: {f[k]}" for k in keys) + "}\n")
    return "".join(lines)
