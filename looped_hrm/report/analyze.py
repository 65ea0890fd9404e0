"""``python -m looped_hrm.bench analyze DIR``: look inside the trained models of a results folder.

For every finished combination whose checkpoint is in ``DIR/work/`` (filters: task, model,
halting, seed), on the first ``--limit`` test puzzles:

* **convergence** — the mean forward residual ``||z_t - z_{t-1}||`` of each level after every
  update, segment after segment (`analyses.segment_profile`): does the state settle?
* **participation ratio** of each level's states after the evaluation's last segment, and the
  ratio of the levels (the HRM paper reports PR_H / PR_L = 89.95 / 30.22 ≈ 2.98 on Sudoku-Extreme
  with its 27M model: a higher-dimensional high level, as in the cortex); samples are (puzzle, cell)
  pairs, so a small model or few puzzles bound the ratio (it cannot exceed the hidden size);
* **inference-time scaling** — exact and verified accuracy after every segment count 1..S, with S
  beyond the training maximum (``--segments``, default the run's ``eval.fixed_segments``);
* **compute vs difficulty** — the halting policy's evaluation, per puzzle: segments used against the
  task's difficulty measure (Spearman's rho), per bucket and per difficulty value.

Everything goes to ``DIR/analysis/``: ``analysis.md`` (tables and the command), one CSV per table,
``residuals.png``, ``scaling.png``, ``compute_vs_difficulty.png``.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from tabulate import tabulate

from looped_hrm.atomic import atomic_write_text
from looped_hrm.config import ConfigError
from looped_hrm.report.records import load_record
from looped_hrm.report.restore import Restored, checkpoint_of, find_records, nothing_matches, restore

MAX_DIFFICULTY_ROWS = 12  # more distinct difficulty values than this are grouped into quantile bins


def analyze_run(
    run: Restored, *, limit: int | None, segments: int | None, batch_size: int = 128
) -> dict[str, pd.DataFrame]:
    """The four analyses of one restored run as tidy frames (see the module docstring)."""
    import torch

    from looped_hrm.evaluation.analyses import segment_profile

    torch.manual_seed(0)
    split = run.task.build(run.eval.split)
    if limit is not None and limit < len(split):
        split = split.subset(slice(0, limit))
    segments = segments or run.fixed_segments
    prof = segment_profile(
        run.model,
        run.task,
        split,
        segments=segments,
        pr_segment=min(run.eval_max_segments, segments),
        device=run.device,
        policy=run.policy,
        batch_size=batch_size,
        verify=run.eval.verify,
    )
    name, names = run.name, tuple(run.task.bucket_names)
    scaling = pd.DataFrame(
        {
            "run": name,
            "segments": np.arange(1, segments + 1),
            "exact_accuracy": prof.exact,
            "verified_accuracy": prof.verified if prof.verified is not None else np.nan,
            "mean_halt_prob": prof.halt_prob if prof.halt_prob is not None else np.nan,
            "train_max_segments": run.train.max_segments,
            "examples": prof.examples,
        }
    )
    per_example = _halted_examples(run, split, names)
    return {
        "residuals": _residuals(name, prof),
        "participation": _participation(name, prof, run.model),
        "scaling": scaling,
        "difficulty": _difficulty_table(name, per_example, names),
        "spearman": _spearman(name, per_example),
    }


def _residuals(name: str, prof: Any) -> pd.DataFrame:
    """One row per level, segment and update: the forward residual of the state."""
    rows = []
    for level, res in prof.residuals.items():
        per = res.shape[1]
        for s in range(res.shape[0]):
            for u in range(per):
                rows.append(
                    {
                        "run": name,
                        "level": level,
                        "segment": s + 1,
                        "update": u + 1,
                        "step": s * per + u + 1,
                        "residual": float(res[s, u]),
                    }
                )
    return pd.DataFrame(rows, columns=["run", "level", "segment", "update", "step", "residual"])


def _participation(name: str, prof: Any, model: Any) -> pd.DataFrame:
    """The participation ratio of each level's states (and H/L when the model has both levels)."""
    pr = prof.participation
    columns = ["run", "level", "participation_ratio", "segment", "samples", "hidden_size"]
    rows = [
        {
            "run": name,
            "level": level,
            "participation_ratio": value,
            "segment": prof.pr_segment,
            "samples": prof.pr_samples,
            "hidden_size": None,
        }
        for level, value in pr.items()
    ]
    part = pd.DataFrame(rows, columns=columns)
    if "H" in pr and "L" in pr and pr["L"] > 0:
        ratio = {
            "run": name,
            "level": "H/L",
            "participation_ratio": pr["H"] / pr["L"],
            "segment": prof.pr_segment,
            "samples": prof.pr_samples,
        }
        part = pd.concat([part, pd.DataFrame([ratio])], ignore_index=True)
    part["hidden_size"] = getattr(getattr(model, "config", None), "hidden_size", None)
    return part


def _halted_examples(run: Restored, split: Any, names: tuple[str, ...]) -> pd.DataFrame:
    """Each test puzzle under the halting policy: difficulty, bucket, compute used, correct."""
    from looped_hrm.evaluation.evaluate import evaluate

    halted = evaluate(
        run.model,
        run.policy,
        run.task,
        split,
        mode="policy",
        max_segments=run.eval_max_segments,
        batch_size=run.eval.batch_size,
        device=run.device,
        loss=run.train.loss,
        precision=run.train.precision,
        seed=int(run.record["combination"]["seed"]),
        verify=False,
    )
    return pd.DataFrame(
        {
            "difficulty": split.difficulty.numpy(),
            "bucket": [names[b] if b < len(names) else str(b) for b in split.bucket.tolist()],
            "segments": halted.segments.numpy(),
            "inner_steps": halted.inner_steps.numpy(),
            "flops": halted.flops.numpy(),
            "correct": halted.correct.numpy(),
        }
    )


def _difficulty_table(name: str, ex: pd.DataFrame, bucket_order: tuple[str, ...]) -> pd.DataFrame:
    """Segments and accuracy per bucket and per difficulty value (or quantile bin)."""

    def summary(group: pd.DataFrame) -> dict[str, Any]:
        return {
            "examples": len(group),
            "mean_segments": group.segments.mean(),
            "std_segments": group.segments.std(ddof=0),
            "mean_inner_steps": group.inner_steps.mean(),
            "exact_accuracy": group.correct.mean(),
        }

    rows = []
    for bucket in [b for b in bucket_order if b in set(ex.bucket)] + sorted(set(ex.bucket) - set(bucket_order)):
        rows.append({"run": name, "by": "bucket", "value": bucket, **summary(ex[ex.bucket == bucket])})
    values = np.unique(ex.difficulty)
    if len(values) <= MAX_DIFFICULTY_ROWS:
        groups = [(f"{v:g}", ex[ex.difficulty == v]) for v in values]
    else:
        bins = pd.qcut(ex.difficulty, q=min(8, len(values)), duplicates="drop")
        groups = [(str(interval), ex[bins == interval]) for interval in bins.cat.categories]
    for label, group in groups:
        if len(group):
            rows.append({"run": name, "by": "difficulty", "value": label, **summary(group)})
    return pd.DataFrame(rows)


def _spearman(name: str, ex: pd.DataFrame) -> pd.DataFrame:
    """Rank correlation of difficulty with the segments spent (NaN when either is constant)."""
    if ex.difficulty.nunique() < 2 or ex.segments.nunique() < 2:
        rho = float("nan")
    else:
        rho = float(ex.difficulty.rank().corr(ex.segments.rank()))
    return pd.DataFrame(
        [
            {
                "run": name,
                "examples": len(ex),
                "distinct_difficulties": int(ex.difficulty.nunique()),
                "spearman_difficulty_vs_segments": rho,
            }
        ]
    )


# ------------------------------------------------------------------------------------------ output


def _plots(frames: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "note: matplotlib not installed; analysis plots skipped (pip install 'looped-hrm[plot]')", file=sys.stderr
        )
        return []
    written = []
    res = frames["residuals"]
    runs = list(dict.fromkeys(frames["scaling"].run))
    if not res.empty:
        with_res = [r for r in runs if (res.run == r).any()]
        fig, axes = plt.subplots(
            1, len(with_res), figsize=(5 * len(with_res), 3.6), squeeze=False, layout="constrained"
        )
        for ax, run in zip(axes.flat, with_res):
            sub = res[res.run == run]
            for level, group in sub.groupby("level"):
                ax.plot(group.step, group.residual.clip(lower=1e-12), marker=".", label=f"level {level}")
            per = sub.groupby("segment").step.max()
            for boundary in per.values[:-1]:
                ax.axvline(boundary + 0.5, color="grey", lw=0.5, linestyle=":")
            ax.set_yscale("log")
            ax.set_xlabel("update (dotted: segment boundaries)")
            ax.set_ylabel("mean ||z_t - z_{t-1}||")
            ax.set_title(run, fontsize=9)
            ax.legend(fontsize=8)
        fig.suptitle("Forward residuals per update")
        written.append(out / "residuals.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    scaling = frames["scaling"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    for run, group in scaling.groupby("run", sort=False):
        (line,) = ax.plot(group.segments, 100 * group.exact_accuracy, marker="o", ms=3, label=f"{run} exact")
        if group.verified_accuracy.notna().any():
            ax.plot(
                group.segments,
                100 * group.verified_accuracy,
                linestyle="--",
                color=line.get_color(),
                label=f"{run} verified",
            )
        ax.axvline(group.train_max_segments.iloc[0], color=line.get_color(), linestyle=":", lw=1)
    ax.set_xlabel("segments at test time (dotted: trained with)")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=7)
    ax.set_title("Inference-time scaling", fontsize=10)
    written.append(out / "scaling.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    diff = frames["difficulty"]
    diff = diff[diff.by == "difficulty"]
    if not diff.empty:
        fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
        for run, group in diff.groupby("run", sort=False):
            x = np.arange(len(group))
            ax.errorbar(x, group.mean_segments, yerr=group.std_segments, marker="o", capsize=3, label=run)
            ax.set_xticks(x, group.value, rotation=30, fontsize=7)
        ax.set_xlabel("difficulty (the task's measure)")
        ax.set_ylabel("segments used (mean ± std)")
        ax.set_title("Compute vs difficulty (halting policy's decision)", fontsize=10)
        ax.legend(fontsize=7)
        written.append(out / "compute_vs_difficulty.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    return written


def _md(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    return tabulate(frame, headers="keys", tablefmt="github", showindex=False, floatfmt=floatfmt)


def write_analysis(frames: dict[str, pd.DataFrame], out: Path, *, command: str, notes: Sequence[str] = ()) -> Path:
    """Write the CSVs, plots and ``analysis.md`` of ``frames`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for key, frame in frames.items():
        atomic_write_text(out / f"{key}.csv", frame.to_csv(index=False))
    plots = _plots(frames, out)
    res = frames["residuals"]
    first_last = pd.DataFrame()
    if not res.empty:
        g = res.groupby(["run", "level", "segment"]).residual
        first_last = pd.concat([g.first().rename("first update"), g.last().rename("last update")], axis=1).reset_index()
        first_last = first_last[
            first_last.segment.isin(sorted({1, 2, int(first_last.segment.max() // 2), int(first_last.segment.max())}))
        ]
    scaling = frames["scaling"].copy()
    for col in ("exact_accuracy", "verified_accuracy"):
        scaling[col] = 100 * scaling[col]
    text = [
        "# Analysis: inside the trained models",
        "",
        f"Made by `{command}` (`python -m looped_hrm.bench analyze`; checkpoints from `work/`).",
        *notes,
        "",
        "## Convergence: mean forward residual ||z_t - z_{t-1}|| (first and last update of some segments)",
        "",
        _md(first_last) if not first_last.empty else "No model here reports residuals (e.g. the one-pass baseline).",
        "",
        "Every update: `residuals.csv`, `residuals.png`.",
        "",
        "## Participation ratio of the states after the evaluation's last segment",
        "",
        "PR = (Σλ)² / Σλ² of the covariance of a level's states over (puzzle, cell) samples; the HRM paper reports "
        "PR_H / PR_L = 89.95 / 30.22 ≈ 2.98 for its trained 27M model on Sudoku-Extreme. A PR cannot exceed the hidden size.",
        "",
        _md(frames["participation"]) if not frames["participation"].empty else "No model here reports its states.",
        "",
        "## Inference-time scaling: accuracy (%) after each number of segments (all puzzles run every segment)",
        "",
        _md(scaling, ".2f"),
        "",
        "## Compute vs difficulty (the halting policy's decision, per puzzle)",
        "",
        _md(frames["spearman"]),
        "",
        _md(frames["difficulty"]),
        "",
        "Plots: " + (", ".join(f"[{p.name}]({p.name})" for p in plots) or "none (matplotlib missing)"),
        "",
    ]
    path = atomic_write_text(out / "analysis.md", "\n".join(text))
    return path


def analyze(
    where: str | Path,
    *,
    task: str | None = None,
    model: str | None = None,
    halting: str | None = None,
    seed: int | None = None,
    limit: int | None = 1000,
    segments: int | None = None,
    device: str = "cpu",
    out: str | Path | None = None,
    command: str = "",
    hold: Callable[[Path], AbstractContextManager[Any]] = nullcontext,
) -> Path:
    """Analyse every matching finished run of ``where`` that has its checkpoint; see the module docstring.

    ``hold(folder)``: the command's lock on the output folder, taken once the runs are found (a typo
    in ``where`` creates no folder) and held while the analysis runs and writes."""
    where = Path(where)
    paths = find_records(where, task=task, model=model, halting=halting, seed=seed)
    if not paths:
        raise nothing_matches(where, task=task, model=model, halting=halting, seed=seed)
    runnable: list[Path] = []
    missing: list[Path] = []
    for path in paths:
        (runnable if checkpoint_of(path, load_record(path)).exists() else missing).append(path)
    if not runnable:
        raise ConfigError(
            f"{where}: none of the {len(paths)} finished runs has its checkpoint in work/ (work/ folders "
            "are not committed with results; rerun the benchmark command into this folder to train them)"
        )
    out_dir = Path(out) if out else (where if where.is_dir() else where.parent.parent) / "analysis"
    with hold(out_dir):
        notes = [f"Runs without a checkpoint, not analysed: {', '.join(p.stem for p in missing)}."] if missing else []
        frames: dict[str, list[pd.DataFrame]] = {}
        used: dict[str, int] = {}  # run -> test puzzles analysed
        for path in runnable:
            run = restore(path, device=device)
            used[run.name] = min(limit or 10**12, len(run.task.build(run.eval.split)))
            print(f"analyzing {run.name} ({used[run.name]} test puzzles)", file=sys.stderr)
            for key, frame in analyze_run(run, limit=limit, segments=segments).items():
                frames.setdefault(key, []).append(frame)
        merged = {k: pd.concat(v, ignore_index=True) for k, v in frames.items()}
        counts = ", ".join(f"{name}: {n}" for name, n in used.items())
        notes.append(
            f"Test puzzles: the first {limit} of each run's evaluation split, or all when it has fewer ({counts})."
            if limit
            else f"Test puzzles: all ({counts})."
        )
        return write_analysis(
            merged, out_dir, command=command or f"python -m looped_hrm.bench analyze {where}", notes=notes
        )
