"""Plots from the tidy results frame (needs matplotlib: ``pip install 'looped-hrm[plot]'``).

* ``accuracy_vs_compute.png``: exact accuracy against FLOPs spent per example, one marker per
  model × halting (mean over seeds) — which model buys its accuracy cheaply;
* ``compute_vs_difficulty.png``: mean segments per difficulty bucket under the halting policy —
  did the model learn to think longer on harder puzzles;
* ``inference_scaling.png``: exact accuracy when evaluated with more segments than trained with.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def write_plots(frame: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write every plot the frame has data for; returns the files (none without matplotlib)."""
    plt = _pyplot()
    ok = frame[frame.status == "ok"] if "status" in frame else frame
    if plt is None:
        print("note: matplotlib not installed; plots skipped (pip install 'looped-hrm[plot]')", file=sys.stderr)
        return []
    if ok.empty:
        return []
    out_dir = Path(out_dir)
    written = []
    for name, draw in (("accuracy_vs_compute", _accuracy_vs_compute), ("compute_vs_difficulty", _compute_vs_difficulty),
                       ("inference_scaling", _inference_scaling)):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        if draw(ok, ax):
            fig.tight_layout()
            path = out_dir / f"{name}.png"
            fig.savefig(path, dpi=120)
            written.append(path)
        plt.close(fig)
    return written


def _series_label(task: str, model: str, halting: str, tasks: int) -> str:
    return f"{task}: {model} ({halting})" if tasks > 1 else f"{model} ({halting})"


def _accuracy_vs_compute(ok: pd.DataFrame, ax) -> bool:
    acc, flops = "policy/exact_accuracy", "policy/flops_per_example"
    if not {acc, flops} <= set(ok.columns):
        return False
    means = ok.groupby(["task", "model", "halting"])[[acc, flops]].mean().reset_index()
    for _, row in means.iterrows():
        ax.scatter(row[flops], 100 * row[acc], s=40,
                   label=_series_label(row.task, row.model, row.halting, means.task.nunique()))
    ax.set_xscale("log")
    ax.set_xlabel("forward FLOPs spent per test example")
    ax.set_ylabel("exact accuracy (%)")
    ax.set_title("Accuracy vs compute")
    ax.legend(fontsize=7)
    return True


def _bucket_columns(ok: pd.DataFrame, metric: str) -> list[tuple[str, str]]:
    pattern = re.compile(rf"^policy/bucket/([^/]+)/{re.escape(metric)}$")
    return [(c, pattern.match(c)[1]) for c in ok.columns if pattern.match(c) and ok[c].notna().any()]


def _compute_vs_difficulty(ok: pd.DataFrame, ax) -> bool:
    columns = _bucket_columns(ok, "mean_segments")
    if not columns:
        return False
    for (task, model, halting), group in ok.groupby(["task", "model", "halting"]):
        values = [group[c].mean() for c, _ in columns]
        ax.plot([b for _, b in columns], values, marker="o",
                label=_series_label(task, model, halting, ok.task.nunique()))
    ax.set_xlabel("difficulty bucket")
    ax.set_ylabel("mean segments used")
    ax.set_title("Compute vs difficulty")
    ax.legend(fontsize=7)
    return True


def _inference_scaling(ok: pd.DataFrame, ax) -> bool:
    pattern = re.compile(r"^fixed/exact_accuracy@(\d+)$")
    columns = sorted(((int(pattern.match(c)[1]), c) for c in ok.columns if pattern.match(c)), key=lambda t: t[0])
    if len(columns) < 2:
        return False
    for (task, model, halting), group in ok.groupby(["task", "model", "halting"]):
        ax.plot([n for n, _ in columns], [100 * group[c].mean() for _, c in columns], marker="o",
                label=_series_label(task, model, halting, ok.task.nunique()))
    for train_max in sorted(ok["train_max_segments"].dropna().unique()) if "train_max_segments" in ok else []:
        ax.axvline(train_max, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("segments at test time (dotted: trained with)")
    ax.set_ylabel("exact accuracy (%)")
    ax.set_title("Inference-time scaling")
    ax.legend(fontsize=7)
    return True
