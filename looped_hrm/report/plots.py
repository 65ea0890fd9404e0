"""Plots from the estimates frame (needs matplotlib: ``pip install 'looped-hrm[plot]'``).

Every point is a mean over seeds and test examples with its 95 % interval as an error bar
(`looped_hrm.report.cells.estimates`); points of different models at the same x are dodged sideways
so that identical results stay visible.

* ``accuracy_vs_compute.png``: exact accuracy against FLOPs spent per example under the halting
  policy — which model buys its accuracy cheaply;
* ``compute_vs_difficulty.png``: mean segments per difficulty bucket (buckets in the task's order)
  under the halting policy — did the model learn to think longer on harder puzzles;
* ``inference_scaling.png``: exact accuracy when evaluated with more segments than trained with;
* ``learning_curves.png`` / ``learning_curves_steps.png``: test exact accuracy during training
  against training FLOPs / optimizer steps (equal steps are not equal compute: HRM's segment costs
  more than the baseline's forward pass).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from looped_hrm.evaluation.catalogue import Ref, key, lookup


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


TITLES = {
    "accuracy_vs_compute": "Exact accuracy vs forward FLOPs per test example (halting policy's decision)",
    "compute_vs_difficulty": "Segments used per difficulty bucket (halting policy's decision)",
    "inference_scaling": "Exact accuracy vs segments at test time (dotted: trained with)",
    "learning_curves": "Test exact accuracy during training vs training FLOPs",
    "learning_curves_steps": "Test exact accuracy during training vs optimizer steps",
}
CAPTION = "mean over seeds; error bars: 95 % CI over seeds and test examples (none below 3 seeds); † = uses labels (upper bound)"


def write_plots(est: pd.DataFrame, out_dir: str | Path, curves: pd.DataFrame | None = None) -> list[Path]:
    """Write every plot the estimates (and learning curves) have data for, one panel per task."""
    plt = _pyplot()
    if plt is None:
        print("note: matplotlib not installed; plots skipped (pip install 'looped-hrm[plot]')", file=sys.stderr)
        return []
    if est.empty:
        return []
    out_dir = Path(out_dir)
    tasks = sorted(est.task.unique())
    series = sorted({(m, h) for m, h in zip(est.model, est.halting)})
    models = sorted({m for m, _ in series})
    colors = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(models)}
    halts = sorted({h for _, h in series})
    markers = {h: "osD^vP*X"[i % 8] for i, h in enumerate(halts)}
    style = {
        s: {"color": colors[s[0]], "marker": markers[s[1]], "dodge": i - (len(series) - 1) / 2}
        for i, s in enumerate(series)
    }
    labels_used = set(est.loc[est.uses_labels.astype(bool), "halting"]) if "uses_labels" in est else set()
    written = []
    drawers = (
        ("accuracy_vs_compute", _accuracy_vs_compute),
        ("compute_vs_difficulty", _compute_vs_difficulty),
        ("inference_scaling", _inference_scaling),
        ("learning_curves", _learning_curves),
        ("learning_curves_steps", _learning_curves_steps),
    )
    for name, draw in drawers:
        data = curves if name.startswith("learning_curves") else est
        if data is None or data.empty:
            continue
        cols = min(3, len(tasks))
        rows = -(-len(tasks) // cols)
        width = max(7.0, 4.6 * cols)
        fig, axes = plt.subplots(rows, cols, figsize=(width, 3.6 * rows + 1.0), squeeze=False, layout="constrained")
        drawn = [draw(data[data.task == task], ax, style) for task, ax in zip(tasks, axes.flat)]
        for task, ax in zip(tasks, axes.flat):
            ax.set_title(task, fontsize=10)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(tasks) :]:
            ax.axis("off")
        if any(drawn):
            handles = [plt.Line2D([], [], color=colors[m], marker="o", linestyle="", label=m) for m in models]
            handles += [
                plt.Line2D(
                    [], [], color="grey", marker=markers[h], linestyle="", label=h + (" †" if h in labels_used else "")
                )
                for h in halts
            ]
            fig.legend(
                handles=handles, loc="outside lower center", ncols=min(len(handles), 6), fontsize=8, frameon=False
            )
            fig.suptitle(
                textwrap.fill(TITLES[name], int(width * 11)) + "\n" + textwrap.fill(CAPTION, int(width * 13)),
                fontsize=9,
            )
            path = out_dir / f"{name}.png"
            fig.savefig(path, dpi=110, bbox_inches="tight")
            written.append(path)
        plt.close(fig)
    return written


def _rows(est: pd.DataFrame, metric: str) -> pd.DataFrame:
    return est[est.metric == metric]


def _matching(est: pd.DataFrame, want: Callable[[Ref], bool]) -> pd.DataFrame:
    """The rows whose metric, read back by `catalogue.lookup`, satisfies ``want(ref)`` (on the task's
    own test split: extrapolation test splits have their own plots)."""
    refs = est.metric.map(lookup)
    return est[[ref is not None and ref.variant is None and bool(want(ref)) for ref in refs]].assign(ref=refs)


def _err(rows: pd.DataFrame, scale: float = 1.0) -> np.ndarray:
    """Error-bar lengths; none (0) where too few seeds gave no interval."""
    return np.nan_to_num(np.abs(np.vstack([rows["mean"] - rows.ci_low, rows.ci_high - rows["mean"]])) * scale)


def _series(ax, x, rows: pd.DataFrame, s: dict, scale: float = 1.0) -> None:
    """One model × halting line: ``rows``' means (× ``scale``) at ``x`` with their 95 % intervals."""
    ax.errorbar(
        x, scale * rows["mean"], yerr=_err(rows, scale), color=s["color"], marker=s["marker"], capsize=2, alpha=0.85
    )


def _accuracy_vs_compute(est: pd.DataFrame, ax, style) -> bool:
    acc, flops = _rows(est, key("exact_accuracy", "policy")), _rows(est, key("flops_per_example", "policy"))
    both = acc.merge(flops, on=["model", "halting"], suffixes=("", "_x"))
    if both.empty:
        return False
    for _, row in both.iterrows():
        s = style[(row.model, row.halting)]
        x = row.mean_x * 10 ** (0.015 * s["dodge"])  # dodge on the log axis
        xerr = np.nan_to_num(np.abs([[row.mean_x - row.ci_low_x], [row.ci_high_x - row.mean_x]]))
        ax.errorbar(
            x,
            100 * row["mean"],
            xerr=xerr,
            yerr=np.nan_to_num(100 * np.abs([[row["mean"] - row.ci_low], [row.ci_high - row["mean"]]])),
            color=s["color"],
            marker=s["marker"],
            markersize=6,
            capsize=2,
            linestyle="",
            alpha=0.85,
        )
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs per example")
    ax.set_ylabel("exact accuracy (%)")
    return True


def _compute_vs_difficulty(est: pd.DataFrame, ax, style) -> bool:
    rows = _matching(est, lambda r: r.mode == "policy" and r.bucket is not None and r.name == "mean_segments")
    if rows.empty:
        return False
    order = rows.groupby("bucket").bucket_index.min().sort_values()
    position = {b: i for i, b in enumerate(order.index)}
    for (model, halting), group in rows.groupby(["model", "halting"]):
        s = style[(model, halting)]
        group = group.assign(pos=group.bucket.map(position)).sort_values("pos")
        _series(ax, group.pos + 0.06 * s["dodge"], group, s)
    ax.set_xticks(range(len(position)), list(position), fontsize=8)
    ax.set_xlabel("difficulty bucket (easy → hard)")
    ax.set_ylabel("mean segments used")
    return True


def _inference_scaling(est: pd.DataFrame, ax, style) -> bool:
    rows = _matching(est, lambda r: r.mode == "fixed" and r.name == "exact_accuracy" and r.at is not None)
    if rows.metric.nunique() < 2:
        return False
    rows = rows.assign(segments=[ref.at for ref in rows.ref])
    for (model, halting), group in rows.groupby(["model", "halting"]):
        s = style[(model, halting)]
        group = group.sort_values("segments")
        _series(ax, group.segments * 2 ** (0.03 * s["dodge"]), group, s, 100)
    train_max = key("train_max_segments")
    trained = est.loc[est.metric == train_max, "mean"] if train_max in set(est.metric) else []
    for train_max in sorted(set(trained)):
        ax.axvline(train_max, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("segments at test time")
    ax.set_ylabel("exact accuracy (%)")
    return True


def _learning_curves(curves: pd.DataFrame, ax, style, x: str = "train_flops") -> bool:
    if curves.empty:
        return False
    for (model, halting), group in curves.groupby(["model", "halting"]):
        s = style.get((model, halting))
        if s is None:
            continue
        group = group.sort_values("fraction")
        _series(ax, group[x], group, s, 100)
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs" if x == "train_flops" else "optimizer steps")
    ax.set_ylabel("test exact accuracy (%)")
    return True


def _learning_curves_steps(curves: pd.DataFrame, ax, style) -> bool:
    return _learning_curves(curves, ax, style, x="step")
