"""Learning curves: test accuracy at fractions of each run's training budget (``curves.csv``) and,
per cell, the final and best accuracy and the steps and FLOPs to reach a target (``curves.md``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from looped_hrm.evaluation import catalogue
from looped_hrm.evaluation.per_example import decode
from looped_hrm.report import intervals
from looped_hrm.report.cells import Cell, by_item
from looped_hrm.report.formatting import ci_text, fmt

CURVE_COLUMNS = [
    "task",
    "model",
    "halting",
    "uses_labels",
    "fraction",
    "step",
    "train_flops",
    "mean",
    "ci_low",
    "ci_high",
    "seeds",
    "examples",
]


REACH = 0.9  # "to reach X": X = this share of the task's best final accuracy


def curves(cell_list: list[Cell]) -> pd.DataFrame:
    """Learning curves: per cell and budget fraction, test exact accuracy mean [95 % CI] over the seeds
    (from each point's per-example correctness), with the mean step and training FLOPs."""
    rows, exact, correct = [], catalogue.EXACT_ACCURACY, catalogue.array_of("exact_accuracy")
    for cell in cell_list:
        seeds = [c for r in cell.ok if (c := r.get("learning_curve"))]
        if not seeds or len(seeds) < len(cell.ok):
            continue
        fractions = sorted(set.intersection(*({p["fraction"] for p in c} for c in seeds)))
        for fraction in fractions:
            points = [next(p for p in c if p["fraction"] == fraction) for c in seeds]
            n = cell.examples[0]["n"] if cell.examples else None
            if n is not None and all(correct in p for p in points):
                mat = by_item(np.stack([decode(p[correct], n) for p in points]).astype(np.float64), cell.items)
            else:
                mat = np.array([[p[exact.name]] for p in points])
            est = intervals.mean_ci(mat)
            rows.append(
                {
                    "task": cell.task,
                    "model": cell.model,
                    "halting": cell.halting,
                    "uses_labels": cell.uses_labels,
                    "fraction": fraction,
                    "step": float(np.mean([p["step"] for p in points])),
                    "train_flops": float(np.mean([p["train_flops"] for p in points])),
                    "mean": est.mean,
                    "ci_low": est.low,
                    "ci_high": est.high,
                    "seeds": est.seeds,
                    "examples": est.examples,
                }
            )
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def curve_summary(curve: pd.DataFrame) -> pd.DataFrame:
    """Per cell: final accuracy, best within the budget (and where), steps and FLOPs to reach X."""
    rows = []
    for task, group in curve.groupby("task", sort=True):
        finals = group[(group.fraction == 1.0) & ~group.uses_labels.astype(bool)]["mean"]
        target = REACH * finals.max() if len(finals) and finals.max() > 0 else None
        for (model, halting), c in group.groupby(["model", "halting"], sort=True):
            c = c.sort_values("fraction")
            final, best = c[c.fraction == 1.0], c.loc[c["mean"].idxmax()]
            reached = c[c["mean"] >= target] if target is not None else c.iloc[0:0]
            first = reached.iloc[0] if len(reached) else None
            rows.append(
                {
                    "task": task,
                    "model": model,
                    "halting": halting + (" †" if c.uses_labels.any() else ""),
                    "final exact acc": ci_text(_row_estimate(final.iloc[0]), "pct") if len(final) else "—",
                    "best within budget": f"{ci_text(_row_estimate(best), 'pct')} at {best.fraction:.0%}",
                    "target X": fmt(target, "pct"),
                    "steps to X": f"{first.step:,.0f}" if first is not None else "not reached",
                    "FLOPs to X": f"{first.train_flops:.3g}" if first is not None else "not reached",
                    "budget (steps, FLOPs)": f"{c.step.max():,.0f}, {c.train_flops.max():.3g}",
                }
            )
    return pd.DataFrame(rows)


def _row_estimate(row: pd.Series) -> intervals.Estimate:
    return intervals.Estimate(row["mean"], row.ci_low, row.ci_high, int(row.seeds), int(row.examples))
