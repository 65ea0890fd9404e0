"""Accuracy against test-time steps at every test size: the DeepThinking protocol's tables and figures.

For every cell (task × model × halting) and test split — the task's own and each of
``eval.extrapolate`` — the fixed pass's exact accuracy after every step (``eval.every_step``: DT
iterations, TRM cycles, looped-transformer loops, or segments for models without inner steps), as
a mean with its 95 % interval over seeds and test examples (`looped_hrm.report.intervals.mean_ci`,
the tables' interval; none with fewer than three seeds). Steps are also given in multiples of the *training count* — the steps a
training segment sequence runs, ``train_max_segments × steps_per_segment`` — so that DT's 30
iterations and HRM's 16 segments both sit at 1 and "10× the training compute" means the same for
every model.

* ``extrapolation.csv``: one row per cell, test split and step, the mean and its interval;
* ``extrapolation.md``: per test split, the peak [CI] and where it is reached, the accuracy at the
  largest count [CI] and the drop from the peak (*overthinking*); under an adaptive halting policy,
  its accuracy [CI], the steps it spent per example (× training count) and the fixed curve's
  accuracy at that many steps — does it stop near the peak, and does it spend more on larger inputs?
* ``extrapolation_<task>.png``: one panel per test split, one line per model × halting with its
  interval band, the policy-halted pass as a point at the compute it spent.

The peak is picked on the test split itself, so it is an optimistic number (what the papers report
as "best over iterations"); the accuracy at the largest count is not selected.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from looped_hrm.atomic import atomic_write_text
from looped_hrm.evaluation.catalogue import BASELINE, array_at_step, key, lookup
from looped_hrm.report import intervals
from looped_hrm.report.cells import Cell, by_item, estimate, items_of
from looped_hrm.report.formatting import ci_text, markdown

OWN = "(trained size)"
"""How the task's own test split is named beside the extrapolation splits."""


def _split_examples(cell: Cell, variant: str | None) -> list[dict[str, Any]] | None:
    return cell.examples if variant is None else cell.variant_examples(variant)


def _metric(cell: Cell, name: str, mode: str, variant: str | None) -> float | None:
    found = [(r.get("metrics") or {}).get(key(name, mode, variant=variant)) for r in cell.ok]
    values = [float(v) for v in found if isinstance(v, (int, float))]
    return float(np.mean(values)) if values else None


def curve_rows(cell_list: list[Cell]) -> pd.DataFrame:
    """Long frame: cell × test split × step, with the mean and its interval."""
    rows = []
    for cell in cell_list:
        for variant in [None, *cell.variant_labels]:
            ex = _split_examples(cell, variant)
            per_segment = _metric(cell, "steps_per_segment", "fixed", variant)
            if not ex or per_segment is None or len({e["n"] for e in ex}) != 1:
                continue
            fixed = [e.get("fixed", {}) for e in ex]
            total = 0
            while all(array_at_step(total + 1) in f for f in fixed):
                total += 1
            if total == 0:
                continue
            trained = _training_count(cell, int(per_segment))
            for t in range(total):
                est = intervals.mean_ci(by_item(np.stack([f[array_at_step(t + 1)] for f in fixed]), items_of(ex)))
                rows.append(
                    {
                        "task": cell.task,
                        "model": cell.model,
                        "halting": cell.halting,
                        "split": variant or OWN,
                        "step": t + 1,
                        "x_training": (t + 1) / trained,
                        "mean": est.mean,
                        "ci_low": est.low,
                        "ci_high": est.high,
                        "seeds": len(ex),
                        "examples": est.examples,
                    }
                )
    return pd.DataFrame(rows)


def _training_count(cell: Cell, per_segment: int) -> int:
    """Steps one training example runs: the training segment cap × steps per segment."""
    found = [(r.get("metrics") or {}).get(key("train_max_segments")) for r in cell.ok]
    caps = [int(c) for c in found if isinstance(c, (int, float))]
    return max(1, (max(caps) if caps else 1) * per_segment)


def summary_rows(cell_list: list[Cell], curves: pd.DataFrame) -> pd.DataFrame:
    """One row per cell and test split: peak, largest count, overthinking, and the halting policy's choice."""
    rows: list[dict[str, Any]] = []
    if curves.empty:
        return pd.DataFrame(rows)
    by_cell = {(c.task, c.model, c.halting): c for c in cell_list}
    for (task, model, halting, split), group in curves.groupby(["task", "model", "halting", "split"], sort=False):
        cell = by_cell[(task, model, halting)]
        variant = None if split == OWN else split
        group = group.sort_values("step")
        means = group["mean"].to_numpy()
        peak, last = int(means.argmax()), len(means) - 1
        peak_row, last_row = group.iloc[peak], group.iloc[last]
        trained = last_row.step / last_row.x_training
        row = {
            "task": task,
            "test split": split,
            "model": model,
            "halting": halting,
            "seeds": _seeds(cell, int(last_row.seeds)),
            "peak exact acc": _ci(peak_row),
            "peak at step (× train)": _at(peak_row),
            "largest count (× train)": _at(last_row),
            "exact acc there": _ci(last_row),
            "overthinking (points)": f"{100 * (means[peak] - means[last]):.1f}",
            "best trivial baseline": _best_baseline(cell, variant),
            "puzzles/s (fixed pass)": _rate(cell, variant),
        }
        policy = estimate(cell, key("exact_accuracy", "policy", variant=variant))
        per_segment = _metric(cell, "steps_per_segment", "fixed", variant) or 1
        spent_name = "mean_inner_steps" if per_segment > 1 else "mean_segments"
        spent = _metric(cell, spent_name, "policy", variant)
        if policy is not None and spent is not None and halting != "fixed":
            at = int(np.clip(round(spent), 1, len(means)))
            row["policy exact acc"] = ci_text(policy, "pct")
            row["policy steps (× train)"] = f"{spent:.1f} ({spent / trained:.2g}×)"
            row["fixed acc at those steps"] = f"{100 * means[at - 1]:.1f}"
        rows.append(row)
    return pd.DataFrame(rows)


def _seeds(cell: Cell, ok: int) -> str:
    """The seeds behind a row, and how many of the cell's runs failed (a diverged training is a
    failed run: its seed is not in the interval, and the row says so rather than hide it)."""
    failed = sum(r["status"] == "failed" for r in cell.records)
    return f"{ok} of {ok + failed} ({failed} failed)" if failed else str(ok)


def _rate(cell: Cell, variant: str | None) -> str | None:
    """Test puzzles per second of the fixed pass, which runs every example to the largest count
    (mean over seeds; one process as the run gave it threads)."""
    rate = _metric(cell, "examples_per_s", "fixed", variant)
    return None if rate is None else f"{rate:.3g}"


def _best_baseline(cell: Cell, variant: str | None) -> str | None:
    """The exact accuracy [95 % CI] of the trivial baseline that scores best on this test split
    (`looped_hrm.evaluation.baselines`: copy, majority, the task's own), and its name."""
    refs = [lookup(k) for r in cell.ok for k in (r.get("metrics") or {})]
    modes = {ref.mode for ref in refs if ref is not None and ref.variant == variant and ref.mode is not None}
    modes = {mode for mode in modes if mode.startswith(BASELINE)}
    found = [
        (mode, est) for mode in sorted(modes) if (est := estimate(cell, key("exact_accuracy", mode, variant=variant)))
    ]
    if not found:
        return None
    mode, est = max(found, key=lambda pair: pair[1].mean)
    return f"{ci_text(est, 'pct')} ({mode[len(BASELINE) :]})"


def _at(row: pd.Series) -> str:
    return f"{row.step:.0f} ({row.x_training:.2g}×)"


def _ci(row: pd.Series) -> str:
    est = intervals.Estimate(row["mean"], row.ci_low, row.ci_high, int(row.seeds), int(row.examples))
    return ci_text(est, "pct")


def write(out_dir: str | Path, cell_list: list[Cell], head: str = "") -> list[Path]:
    """``extrapolation.csv``/``.md`` and the plots, when some cell kept a step curve; the paths written."""
    out_dir = Path(out_dir)
    curves = curve_rows(cell_list)
    if curves.empty:
        return []
    atomic_write_text(out_dir / "extrapolation.csv", curves.to_csv(index=False))
    table = summary_rows(cell_list, curves)
    atomic_write_text(
        out_dir / "extrapolation.md",
        head + f"{intervals.METHOD}.\n\n"
        "Exact accuracy (%) of the fixed pass against test-time steps (iterations or segments, "
        "`steps_per_segment`), per test split: the peak [95 % CI] and the step where it is first "
        "reached (selected on the test split: optimistic), the accuracy at the largest count [95 % CI] "
        "and the drop from the peak (overthinking), beside the best trivial baseline on the same test "
        "rows (copy the input, the majority label, the task's own; a model below it has learned nothing "
        "that transfers to that size). `× train` = steps / the steps of training "
        "(training segment cap × steps per segment). Under a halting policy: its exact accuracy, the "
        "steps it spent per example, and the fixed curve's accuracy at that many steps. `seeds`: the "
        "runs behind the row, and how many of the cell's runs failed (a diverged training: loss NaN; "
        "their seeds are not in the interval). `puzzles/s`: the fixed pass's throughput to the "
        "largest count (one process, the run's threads). extrapolation.csv has every step.\n\n"
        + markdown(table.fillna("—")),
    )
    return [out_dir / "extrapolation.csv", out_dir / "extrapolation.md", *plot(curves, cell_list, out_dir)]


def plot(curves: pd.DataFrame, cell_list: list[Cell], out_dir: Path) -> list[Path]:
    """``extrapolation_<task>.png``: one panel per test split, a line per model × halting."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib not installed; extrapolation plots skipped", file=sys.stderr)
        return []
    written = []
    by_cell = {(c.task, c.model, c.halting): c for c in cell_list}
    for task, rows in curves.groupby("task", sort=True):
        splits = list(dict.fromkeys(rows.split))
        series = sorted({(m, h) for m, h in zip(rows.model, rows.halting)})
        colours = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(series)}
        cols = min(3, len(splits))
        nrows = -(-len(splits) // cols)
        fig, axes = plt.subplots(
            nrows, cols, figsize=(4.4 * cols, 3.3 * nrows + 1.0), squeeze=False, layout="constrained"
        )
        for split, ax in zip(splits, axes.flat):
            for s in series:
                part = rows[(rows.split == split) & (rows.model == s[0]) & (rows.halting == s[1])].sort_values("step")
                if part.empty:
                    continue
                ax.plot(part.x_training, 100 * part["mean"], color=colours[s], linewidth=1.2)
                band = part.dropna(subset=["ci_low"])
                ax.fill_between(band.x_training, 100 * band.ci_low, 100 * band.ci_high, color=colours[s], alpha=0.2)
                _policy_point(ax, by_cell[(task, *s)], None if split == OWN else split, part, colours[s])
            ax.axvline(1, color="grey", linestyle=":", linewidth=1)
            ax.set_title(str(split), fontsize=9)
            ax.set_xlabel("test-time steps (× training)")
            ax.set_ylabel("exact accuracy (%)")
            ax.set_ylim(-3, 103)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(splits) :]:
            ax.axis("off")
        handles = [plt.Line2D([], [], color=colours[s], label=f"{s[0]} / {s[1]}") for s in series]
        handles.append(plt.Line2D([], [], color="grey", marker="o", linestyle="", label="halting policy's choice"))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=8, frameon=False)
        caption = (
            f"{task}: exact accuracy after every test-time step, per test split (dotted: the training count); "
            "mean over seeds, band: 95 % CI over seeds and test examples; point: the policy-halted pass"
        )
        fig.suptitle(textwrap.fill(caption, 110), fontsize=9)
        path = out_dir / f"extrapolation_{task}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written


def _policy_point(ax, cell: Cell, variant: str | None, part: pd.DataFrame, colour) -> None:
    """The policy-halted pass at the steps it spent (only when it may stop before the cap)."""
    per_segment = _metric(cell, "steps_per_segment", "fixed", variant) or 1
    spent = _metric(cell, "mean_inner_steps" if per_segment > 1 else "mean_segments", "policy", variant)
    est = estimate(cell, key("exact_accuracy", "policy", variant=variant))
    if spent is None or est is None or cell.halting == "fixed":
        return
    trained = float(part.step.iloc[-1] / part.x_training.iloc[-1])
    # (an interval clipped to the outcomes can sit a rounding error inside a mean of all-equal ones)
    err = np.clip([[est.mean - est.low], [est.high - est.mean]], 0, None) * 100 if est.has_interval else None
    ax.errorbar([spent / trained], [100 * est.mean], yerr=err, color=colour, marker="o", capsize=2)
