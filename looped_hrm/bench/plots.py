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
    """Write every plot the frame has data for (one panel per task); returns the files written."""
    plt = _pyplot()
    ok = frame[frame.status == "ok"] if "status" in frame else frame
    if plt is None:
        print("note: matplotlib not installed; plots skipped (pip install 'looped-hrm[plot]')", file=sys.stderr)
        return []
    if ok.empty:
        return []
    out_dir = Path(out_dir)
    tasks = sorted(ok.task.unique())
    models = sorted(ok.model.unique())
    colors = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(models)}
    markers = {h: "osD^vP*X"[i % 8] for i, h in enumerate(sorted(ok.halting.unique()))}
    written = []
    for name, draw in (("accuracy_vs_compute", _accuracy_vs_compute), ("compute_vs_difficulty", _compute_vs_difficulty),
                       ("inference_scaling", _inference_scaling)):
        cols = min(3, len(tasks))
        rows = -(-len(tasks) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False, layout="constrained")
        drawn = [draw(ok[ok.task == task], ax, colors, markers) for task, ax in zip(tasks, axes.flat)]
        for task, ax in zip(tasks, axes.flat):
            ax.set_title(task, fontsize=10)
        for ax in list(axes.flat)[len(tasks):]:
            ax.axis("off")
        if any(drawn):
            handles = [plt.Line2D([], [], color=colors[m], marker="o", linestyle="", label=m) for m in models]
            handles += [plt.Line2D([], [], color="grey", marker=markers[h], linestyle="", label=h) for h in markers]
            fig.legend(handles=handles, loc="outside right upper", fontsize=8)
            fig.suptitle(TITLES[name])
            path = out_dir / f"{name}.png"
            fig.savefig(path, dpi=110, bbox_inches="tight")
            written.append(path)
        plt.close(fig)
    return written


TITLES = {"accuracy_vs_compute": "Exact accuracy vs forward FLOPs per test example (halting policy's decision)",
          "compute_vs_difficulty": "Segments used per difficulty bucket (halting policy's decision)",
          "inference_scaling": "Exact accuracy vs segments at test time (dotted: trained with)"}


def _accuracy_vs_compute(ok: pd.DataFrame, ax, colors, markers) -> bool:
    acc, flops = "policy/exact_accuracy", "policy/flops_per_example"
    if not {acc, flops} <= set(ok.columns):
        return False
    means = ok.groupby(["model", "halting"])[[acc, flops]].mean().reset_index()
    for _, row in means.iterrows():
        ax.scatter(row[flops], 100 * row[acc], s=40, color=colors[row.model], marker=markers[row.halting])
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs per example")
    ax.set_ylabel("exact accuracy (%)")
    return True


def _bucket_columns(ok: pd.DataFrame, metric: str) -> list[tuple[str, str]]:
    pattern = re.compile(rf"^policy/bucket/([^/]+)/{re.escape(metric)}$")
    return [(c, pattern.match(c)[1]) for c in ok.columns if pattern.match(c) and ok[c].notna().any()]


def _compute_vs_difficulty(ok: pd.DataFrame, ax, colors, markers) -> bool:
    columns = _bucket_columns(ok, "mean_segments")
    if not columns:
        return False
    for (model, halting), group in ok.groupby(["model", "halting"]):
        ax.plot([b for _, b in columns], [group[c].mean() for c, _ in columns], color=colors[model],
                marker=markers[halting])
    ax.set_xlabel("difficulty bucket")
    ax.set_ylabel("mean segments used")
    return True


def _inference_scaling(ok: pd.DataFrame, ax, colors, markers) -> bool:
    pattern = re.compile(r"^fixed/exact_accuracy@(\d+)$")
    columns = sorted(((int(pattern.match(c)[1]), c) for c in ok.columns if pattern.match(c) and ok[c].notna().any()),
                     key=lambda t: t[0])
    if len(columns) < 2:
        return False
    for (model, halting), group in ok.groupby(["model", "halting"]):
        ax.plot([n for n, _ in columns], [100 * group[c].mean() for _, c in columns], color=colors[model],
                marker=markers[halting])
    for train_max in sorted(ok["train_max_segments"].dropna().unique()) if "train_max_segments" in ok else []:
        ax.axvline(train_max, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("segments at test time")
    ax.set_ylabel("exact accuracy (%)")
    return True
