"""Result tables from the per-combination JSON records, every number with its 95 % interval.

``results.csv``      tidy: one row per combination and seed, every metric a column
``estimates.csv``    long: one row per cell × metric — mean, CI low/high, seeds, examples
``results.md``       task × model × halting: headline metrics, mean [95 % CI]
``leaderboard.md``   task × model pivot of exact accuracy; bold = best, or not significantly worse (Holm)
``comparisons.md``   every pair of cells of a task: paired difference, CI, p-value, Holm-adjusted p-value
``buckets.md``       accuracy and compute per difficulty bucket, buckets in the task's order; hardest − easiest gap
``task_metrics.md``  the tasks' own metrics (ARC pass@1/pass@2, arith_proof proof statistics)
``curves.md/.csv``   learning curves: accuracy at fractions of the budget, best / final / steps to X
``results.tex``      the summary as LaTeX (on request)

Intervals come from `looped_hrm.report.intervals` over the records' per-example outcomes (a t
interval over seeds that adds the test-set draw; none below 3 seeds, and the table says so); a record
without them (written before they were stored) contributes its seed-level metric, and the interval is
then over seeds only. A policy that reads the labels (``oracle``) is marked as an upper bound and never
ranked.

Everything here is a pure function of the records, so ``python -m looped_hrm.bench report DIR``
rebuilds identical tables without training.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
from tabulate import tabulate

from looped_hrm.atomic import atomic_write_text
from looped_hrm.evaluation import catalogue
from looped_hrm.evaluation.catalogue import key, lookup
from looped_hrm.evaluation.per_example import decode, unpack
from looped_hrm.report import intervals
from looped_hrm.report.records import read_record

ID_COLUMNS = ["task", "model", "halting", "seed"]
CELL = ["task", "model", "halting"]


@dataclass(frozen=True)
class Column:
    """A table column: the catalogued metric behind it (`catalogue.key`) and its header; the number
    format is the metric's ``kind``."""

    key: str
    header: str

    @property
    def kind(self) -> catalogue.Kind:
        ref = lookup(self.key)
        if ref is None or ref.metric is None:
            raise KeyError(f"table column {self.header!r}: no metric {self.key!r} in the catalogue")
        return ref.metric.kind


# ``policy`` = every example run until its halting policy stopped it; ``fixed`` = run to the maximum.
HEADLINE = [
    Column(key("exact_accuracy", "policy"), "exact acc"),
    Column(key("verified_accuracy", "policy"), "verified acc"),
    Column(key("token_accuracy", "policy"), "token acc"),
    Column(key("mean_segments", "policy"), "segments"),
    Column(key("flops_per_example", "policy"), "FLOPs/example"),
    Column(key("compute_saved"), "compute saved vs fixed"),
    Column(key("exact_accuracy", "fixed"), "exact acc @max"),
    Column(key("mean_segments", "fixed"), "segments @max"),
    Column(key("trainable_params"), "params"),
    Column(key("train/wall_s"), "train s"),
]
TIMINGS = {key("train/wall_s")}
"""Columns that measure the machine: mean ± std over seeds, no interval."""
LEADERBOARD_METRIC = key("exact_accuracy", "policy")
BUCKET_COLUMNS = [
    Column(key("exact_accuracy", "policy"), "exact acc"),
    Column(key("mean_segments", "policy"), "segments"),
    Column(key("flops_per_example", "policy"), "FLOPs/example"),
]
"""Shown per difficulty bucket (`in_bucket`)."""
UPPER_BOUND = "upper bound: uses labels"


def load_records(out_dir: str | Path) -> list[dict[str, Any]]:
    """Every usable record in ``<out_dir>/runs``; an unreadable or malformed file is reported and skipped."""
    records = (read_record(path) for path in sorted(Path(out_dir, "runs").glob("*.json")))
    return [r for r in records if r is not None]


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> slash-joined keys, the engine's naming (``policy/bucket/hard/exact_accuracy``)."""
    flat: dict[str, Any] = {}
    for part, value in data.items():
        name = f"{prefix}{part}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "/"))
        elif isinstance(value, (int, float, str, bool)) or value is None:
            flat[name] = value
    return flat


def _labels(rec: dict[str, Any]) -> tuple[str, str, str]:
    combo = rec["combination"]
    return combo["task"]["label"], combo["model"]["label"], combo["halting"]["label"]


def records_to_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The tidy frame: identity columns, status, reason/error, then every metric."""
    rows = []
    for rec in records:
        task, model, halting = _labels(rec)
        row = {
            "task": task,
            "model": model,
            "halting": halting,
            "seed": rec["combination"]["seed"],
            "status": rec["status"],
            "note": rec.get("reason") or rec.get("error") or "",
            "key": rec["key"],
        }
        row.update(flatten(rec.get("metrics") or {}))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=ID_COLUMNS + ["status", "note", "key"])
    return frame.sort_values(ID_COLUMNS, kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------- cells


@dataclass
class Cell:
    """One task × model × halting: all its records, the successful ones, their per-example data."""

    task: str
    model: str
    halting: str
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> list[dict[str, Any]]:
        return sorted((r for r in self.records if r["status"] == "ok"), key=lambda r: r["combination"]["seed"])

    @property
    def uses_labels(self) -> bool:
        return any((r.get("metrics") or {}).get("policy_uses_labels") for r in self.ok)

    @property
    def examples(self) -> list[dict[str, Any]] | None:
        """Unpacked per-example data of every successful seed (None when a seed lacks it)."""
        if not hasattr(self, "_examples"):
            entries = [r.get("per_example") for r in self.ok]
            self._examples = [unpack(e) for e in entries if e] if entries and all(entries) else None
        return self._examples

    def bucket_names(self) -> list[str]:
        ex = self.examples
        if ex:
            return ex[0]["bucket_names"]
        names = {
            ref.bucket for r in self.ok for k in (r.get("metrics") or {}) if (ref := _policy_bucket(k)) and ref.bucket
        }
        return sorted(names, key=_natural)

    def label(self) -> str:
        return f"{self.halting} ({UPPER_BOUND})" if self.uses_labels else self.halting


def _natural(name: str) -> tuple:
    """Order bucket names by the first number in them, ``<N`` before and ``>=N`` after the names
    starting at N (``<7``, ``7-13``, ``14-27``, ``>=28``), then as text. Records that carry their
    task's bucket order (``per_example``) do not need this."""
    m = re.search(r"\d+", name)
    if not m:
        return (1, 0, 0, name)
    side = -1 if name.lstrip().startswith("<") else 1 if name.lstrip().startswith(">") else 0
    return (0, int(m.group()), side, name)


def cells(records: Iterable[dict[str, Any]]) -> list[Cell]:
    """Records grouped by task × model × halting, in sorted order."""
    groups: dict[tuple[str, str, str], Cell] = {}
    for rec in records:
        ident = _labels(rec)
        groups.setdefault(ident, Cell(*ident)).records.append(rec)
    return [groups[k] for k in sorted(groups)]


def _policy_bucket(metric: str) -> catalogue.Ref | None:
    """``metric`` read back (`catalogue.lookup`) when it is the policy pass's over one bucket.

    Only the policy pass's bucket metrics get intervals over examples and carry their bucket in
    ``estimates.csv``; the fixed pass's are treated as seed-level numbers (as the tables always have)."""
    ref = lookup(metric)
    return ref if ref is not None and ref.mode == "policy" and ref.bucket is not None else None


def in_bucket(metric: str, bucket: str) -> str:
    """The key of ``metric`` (a pass metric) over one difficulty bucket."""
    ref = lookup(metric)
    if ref is None or ref.mode is None:
        raise KeyError(f"{metric!r} is not a pass metric")
    return key(ref.name, ref.mode, bucket=bucket)


def values(cell: Cell, metric: str) -> np.ndarray | None:
    """``[seeds, examples]`` outcomes behind ``metric`` (per example when stored, else ``[seeds, 1]``)."""
    ok = cell.ok
    if not ok:
        return None
    matrix = _per_example_values(cell, metric)
    if matrix is not None:
        return matrix
    seed_values = [(r.get("metrics") or {}).get(metric) for r in ok]
    seed_values = [v for v in seed_values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return np.array(seed_values, dtype=np.float64)[:, None] if seed_values else None


def _per_example_values(cell: Cell, metric: str) -> np.ndarray | None:
    """``[seeds, examples]`` per-example values behind ``metric`` when every seed stored them."""
    ex = cell.examples
    ref = lookup(metric)
    if not ex or len({e["n"] for e in ex}) != 1 or ref is None:
        return None
    if ref.metric is catalogue.COMPUTE_SAVED:
        return _compute_saved(cell, ex)
    if ref.bucket is not None and _policy_bucket(metric) is None:
        return None
    array, mode = ref.array, ref.mode
    if array is None or mode is None or any(array not in e.get(mode, {}) for e in ex):
        return None
    matrix = np.stack([e[mode][array] for e in ex])
    if ref.bucket is None:
        return matrix
    names = ex[0]["bucket_names"]
    return matrix[:, ex[0]["bucket"] == names.index(ref.bucket)] if ref.bucket in names else None


def _compute_saved(cell: Cell, ex: list[dict[str, Any]]) -> np.ndarray | None:
    """`catalogue.compute_saved` of every seed, from both passes' per-example FLOPs."""
    flops = catalogue.metric("flops_per_example").array
    if any(flops not in e.get("policy", {}) or flops not in e.get("fixed", {}) for e in ex):
        return None
    return np.stack(
        [
            catalogue.compute_saved(
                e["policy"][flops],
                e["fixed"][flops],
                rec["metrics"][key("eval_max_segments")],
                rec["metrics"][key("fixed_segments")],
            )
            for rec, e in zip(cell.ok, ex)
        ]
    )


def estimate(cell: Cell, metric: str) -> intervals.Estimate | None:
    mat = values(cell, metric)
    return intervals.mean_ci(mat) if mat is not None and mat.size else None


def estimates(cell_list: list[Cell]) -> pd.DataFrame:
    """Long frame: every cell × metric with a per-example or per-seed source, mean and 95 % CI."""
    rows = []
    for cell in cell_list:
        if not cell.ok:
            continue
        keys = {
            k
            for r in cell.ok
            for k, v in flatten(r.get("metrics") or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        order = {name: i for i, name in enumerate(cell.bucket_names())}
        passes = [k for k in sorted(keys) if (ref := lookup(k)) is not None and ref.mode is not None]
        wanted = passes + [key("compute_saved"), key("train/wall_s"), key("train_max_segments")]
        for metric in wanted:
            est = estimate(cell, metric)
            if est is None:
                continue
            bucket = ref.bucket if (ref := _policy_bucket(metric)) else None
            rows.append(
                {
                    "task": cell.task,
                    "model": cell.model,
                    "halting": cell.halting,
                    "uses_labels": cell.uses_labels,
                    "metric": metric,
                    "mean": est.mean,
                    "ci_low": est.low,
                    "ci_high": est.high,
                    "seeds": est.seeds,
                    "examples": est.examples,
                    "bucket": bucket or "",
                    "bucket_index": order.get(bucket, -1) if bucket is not None else -1,
                }
            )
    return pd.DataFrame(rows, columns=ESTIMATE_COLUMNS)


ESTIMATE_COLUMNS = [
    "task",
    "model",
    "halting",
    "uses_labels",
    "metric",
    "mean",
    "ci_low",
    "ci_high",
    "seeds",
    "examples",
    "bucket",
    "bucket_index",
]


# ---------------------------------------------------------------------------------- formatting


def _fmt(value: float | None, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if kind == "pct":
        text = f"{100 * value:.1f}"
    elif kind == "int":
        text = f"{int(round(value)):,}"
    elif kind == "sci":
        text = f"{value:.3g}"
    else:
        text = f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text  # "-0.00": float noise


def ci_text(est: intervals.Estimate | None, kind: str) -> str:
    """``mean [low, high]``; ``mean [no CI: 2 seeds]`` below `intervals.MIN_SEEDS`; the interval is left
    out when it has no width at the printed precision (nothing varies)."""
    if est is None:
        return "—"
    text = _fmt(est.mean, kind)
    if kind == "int":
        return text
    if not est.has_interval:
        return text + f" [no CI: {_seeds(est.seeds)}]"
    low, high = _fmt(est.low, kind), _fmt(est.high, kind)
    return text if low == high == text else f"{text} [{low}, {high}]"


def _seeds(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def mean_std(values: pd.Series, kind: str) -> str:
    """``mean ± std`` over seeds (sample std; no ± for a single seed): for machine timings."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return "—"
    text = _fmt(values.mean(), kind)
    if len(values) > 1 and kind != "int":
        text += f" ± {_fmt(values.std(ddof=1), kind)}"
    return text


def _notes(cell: Cell) -> str:
    return "; ".join(sorted({r.get("reason") or r.get("error") or "" for r in cell.records} - {""}))


# --------------------------------------------------------------------------------------- tables


def summary(cell_list: list[Cell]) -> pd.DataFrame:
    """One row per cell: mean [95 % CI] of the headline metrics, seeds, notes."""
    rows = []
    for cell in cell_list:
        row = {
            "task": cell.task,
            "model": cell.model,
            "halting": cell.label(),
            "seeds": f"{len(cell.ok)}/{len(cell.records)}",
        }
        for col in HEADLINE:
            if col.key in TIMINGS:
                seeds = pd.Series([(r["metrics"] or {}).get(col.key) for r in cell.ok], dtype=float)
                row[col.header] = mean_std(seeds, col.kind)
            elif col.kind == "int":
                row[col.header] = _fmt(
                    np.mean([r["metrics"][col.key] for r in cell.ok])
                    if cell.ok and all(col.key in r["metrics"] for r in cell.ok)
                    else None,
                    col.kind,
                )
            else:
                row[col.header] = ci_text(estimate(cell, col.key), col.kind)
        row["note"] = _notes(cell)
        rows.append(row)
    frame = pd.DataFrame(rows)
    # drop columns no cell has (e.g. verified accuracy for tasks without a verifier pass)
    return frame.loc[:, [c for c in frame.columns if c in ("note",) or (frame[c] != "—").any()]] if rows else frame


def task_metrics(cell_list: list[Cell]) -> pd.DataFrame:
    """The tasks' own metrics (their ``extra_metrics`` hook: ARC pass@k, proof statistics) under the
    halting policy, mean [95 % CI over seeds], one row per cell that has any."""
    rows = []
    for cell in cell_list:
        names = sorted({ref.name for r in cell.ok for k in (r.get("metrics") or {}) if (ref := _policy_task(k))})
        if not names:
            continue
        row = {"task": cell.task, "model": cell.model, "halting": cell.label(), "seeds": len(cell.ok)}
        for name in names:
            kind = "num" if name in ("proof_balance",) else "pct"
            row[name] = ci_text(estimate(cell, catalogue.task_key(name, "policy")), kind)
        rows.append(row)
    return pd.DataFrame(rows).fillna("—")


def _policy_task(metric: str) -> catalogue.Ref | None:
    ref = lookup(metric)
    return ref if ref is not None and ref.mode == "policy" and ref.section == catalogue.TASK else None


def leaderboard_column(cell: Cell, several_halting: bool) -> str:
    """The leaderboard's column header of ``cell``: its model, and its halting policy when the table has several."""
    name = f"{cell.model} ({cell.halting})" if several_halting else cell.model
    return name + " †" if cell.uses_labels else name


def leaderboard(cell_list: list[Cell], metric: str = LEADERBOARD_METRIC) -> pd.DataFrame:
    """Task rows × model (× halting, when several) columns of ``metric``, mean [95 % CI].

    Per task, the best label-free cell is **bold**, and so is every cell whose paired difference from
    it is not significant at 5 % after Holm's correction over every pair of the task (`comparisons`);
    a cell that cannot be tested against the best (fewer than 3 common seeds) is not bold.
    † = uses labels (upper bound)."""
    several = len({c.halting for c in cell_list}) > 1
    table: dict[str, dict[str, str]] = {}
    for task, grouped in itertools.groupby(cell_list, key=lambda c: c.task):
        group = list(grouped)
        ests = {id(c): estimate(c, metric) for c in group}
        means = {i: e.mean for i, e in ests.items() if e is not None}
        ranked = [c for c in group if id(c) in means and not c.uses_labels]
        best = max(ranked, key=lambda c: means[id(c)], default=None)
        tests = _task_tests(ranked, metric)
        for cell in group:
            est = ests[id(cell)]
            text = ci_text(est, "pct")
            if est is None and cell.records and all(r["status"] == "skipped" for r in cell.records):
                text = "skipped"
            elif best is not None and (cell is best or _tied(tests.get((id(cell), id(best))))):
                text = f"**{text}**"
            table.setdefault(task, {})[leaderboard_column(cell, several)] = text
    return pd.DataFrame.from_dict(table, orient="index").rename_axis("task").reset_index()


def _tied(test: tuple[intervals.Comparison, float] | None) -> bool:
    """Not shown different from the best after Holm's correction (an untestable pair is not tied)."""
    return test is not None and test[0].testable and not test[1] < 1 - intervals.LEVEL


def compare(a: Cell, b: Cell, metric: str = LEADERBOARD_METRIC) -> intervals.Comparison | None:
    """Paired test of ``a - b`` on their common seeds, when both have per-example outcomes on the same
    test examples (None otherwise)."""
    va, vb = _per_example_values(a, metric), _per_example_values(b, metric)
    if va is None or vb is None or va.shape[1] != vb.shape[1] or not a.examples or not b.examples:
        return None
    if not np.array_equal(a.examples[0]["bucket"], b.examples[0]["bucket"]):
        return None  # not the same test split
    seeds_a, seeds_b = ([r["combination"]["seed"] for r in c.ok] for c in (a, b))
    common = [s for s in seeds_a if s in seeds_b]
    if not common:
        return None
    return intervals.paired_difference(va[[seeds_a.index(s) for s in common]], vb[[seeds_b.index(s) for s in common]])


def _task_tests(ranked: list[Cell], metric: str) -> dict[tuple[int, int], tuple[intervals.Comparison, float]]:
    """Every pair of ``ranked`` (one task's label-free cells), both ways round: the paired comparison and
    its p-value adjusted by Holm over all the task's pairs."""
    pairs = [(a, b, cmp) for a, b in itertools.combinations(ranked, 2) if (cmp := compare(a, b, metric)) is not None]
    adjusted = intervals.holm([cmp.p_value for _, _, cmp in pairs])
    tests = {}
    for (a, b, cmp), p in zip(pairs, adjusted):
        tests[(id(a), id(b))] = (cmp, p)
        tests[(id(b), id(a))] = (cmp.flipped(), p)
    return tests


def _p_text(p: float) -> str:
    return "—" if np.isnan(p) else "< 0.001" if p < 0.001 else f"{p:.3f}"


def comparisons(cell_list: list[Cell], metric: str = LEADERBOARD_METRIC) -> pd.DataFrame:
    """Every pair of label-free cells of a task, better mean first: difference, 95 % CI, p-value, and the
    p-value adjusted by Holm over the task's pairs (what "significant" and the leaderboard's bold use)."""
    rows = []
    for task, group in itertools.groupby(cell_list, key=lambda c: c.task):
        ranked = [c for c in group if c.ok and not c.uses_labels]
        tests = _task_tests(ranked, metric)
        for a, b in itertools.combinations(ranked, 2):
            if (id(a), id(b)) not in tests:
                continue
            cmp, p_holm = tests[(id(a), id(b))]
            if cmp.diff < 0:
                a, b, cmp = b, a, cmp.flipped()
            if cmp.testable:
                diff = f"{100 * cmp.diff:+.1f} [{100 * cmp.low:+.1f}, {100 * cmp.high:+.1f}]"
            else:
                diff = f"{100 * cmp.diff:+.1f} [no CI: {_seeds(cmp.seeds)} in common]"
            rows.append(
                {
                    "task": task,
                    "A": f"{a.model} ({a.halting})",
                    "B": f"{b.model} ({b.halting})",
                    "seeds": cmp.seeds,
                    "A − B (points)": diff,
                    "p": _p_text(cmp.p_value),
                    "p (Holm)": _p_text(p_holm),
                    "significant": "—" if not cmp.testable else "yes" if p_holm < 1 - intervals.LEVEL else "no",
                }
            )
    return pd.DataFrame(rows)


def buckets(cell_list: list[Cell]) -> pd.DataFrame:
    """Per difficulty bucket (policy-halted run): examples, accuracy and compute, mean [95 % CI]."""
    rows = []
    for cell in cell_list:
        if not cell.ok:
            continue
        for name in cell.bucket_names():
            n = (cell.ok[0]["metrics"] or {}).get(key("examples", "policy", bucket=name))
            if n is None:
                continue
            row = {"task": cell.task, "model": cell.model, "halting": cell.label(), "bucket": name, "examples": n}
            for col in BUCKET_COLUMNS:
                row[col.header] = ci_text(estimate(cell, in_bucket(col.key, name)), col.kind)
            rows.append(row)
    return pd.DataFrame(rows)


def difficulty_gap(cell_list: list[Cell]) -> pd.DataFrame:
    """Per cell: mean segments on the hardest bucket minus the easiest, within each run, mean [95 % CI].

    The claim "more compute on harder puzzles" is a comparison inside a run, on the same puzzles. Its
    absolute parts (segments per bucket) move with a run's halt head from seed to seed and machine to
    machine far more than the gap does, so the gap gets its own interval (`intervals.subset_gap`: a
    t interval over the seeds' own gaps that adds the draw of the puzzles in both buckets). Each seed's
    own gap is listed beside it.
    """
    rows = []
    for cell in cell_list:
        ex, names = cell.examples, cell.bucket_names()
        segments_array = catalogue.metric("mean_segments").array
        if not ex or len(names) < 2 or any(segments_array not in e.get("policy", {}) for e in ex):
            continue
        bucket = ex[0]["bucket"]
        if not all(np.array_equal(e["bucket"], bucket) for e in ex):
            continue  # not the same test puzzles
        present = np.unique(bucket)  # a task may name buckets its test set does not use
        if len(present) < 2:
            continue
        easiest, hardest = bucket == present[0], bucket == present[-1]
        segments = np.stack([e["policy"][segments_array] for e in ex]).astype(np.float64)
        per_seed = segments[:, hardest].mean(1) - segments[:, easiest].mean(1)
        rows.append(
            {
                "task": cell.task,
                "model": cell.model,
                "halting": cell.label(),
                "gap": f"{names[present[-1]]} − {names[present[0]]}",
                "seeds": len(ex),
                "extra segments": ci_text(intervals.subset_gap(segments, hardest, easiest), "num"),
                "each seed": ", ".join(f"{v:+.2f}" for v in per_seed),
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ learning curves

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
                mat = np.stack([decode(p[correct], n) for p in points]).astype(np.float64)
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
                    "target X": _fmt(target, "pct"),
                    "steps to X": f"{first.step:,.0f}" if first is not None else "not reached",
                    "FLOPs to X": f"{first.train_flops:.3g}" if first is not None else "not reached",
                    "budget (steps, FLOPs)": f"{c.step.max():,.0f}, {c.train_flops.max():.3g}",
                }
            )
    return pd.DataFrame(rows)


def _row_estimate(row: pd.Series) -> intervals.Estimate:
    return intervals.Estimate(row["mean"], row.ci_low, row.ci_high, int(row.seeds), int(row.examples))


def markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_no rows_\n"
    return tabulate(frame, headers="keys", tablefmt="github", showindex=False, disable_numparse=True) + "\n"


def _gap_section(cell_list: list[Cell]) -> str:
    gap = difficulty_gap(cell_list)
    if gap.empty:
        return ""
    return (
        "\n\nMore compute on harder puzzles, within each run: mean segments on the hardest bucket minus the "
        "easiest, on the same puzzles, mean [95 % CI] (t interval over the seeds' own gaps, adding the draw of "
        "the puzzles of both buckets) and each seed's own gap. Above 0: the halting policy spends "
        "more on harder puzzles. The gap compares puzzles inside each run; the per-bucket segments above also carry "
        "how early a run's halt head stops overall, which varies from seed to seed and machine to machine.\n\n"
        + markdown(gap)
    )


def write_tables(
    out_dir: str | Path,
    records: list[dict[str, Any]],
    *,
    title: str = "",
    command: str = "",
    scope: str = "",
    latex: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Write every table for ``records`` into ``out_dir``; returns (tidy, estimates, curves) frames."""
    out_dir = Path(out_dir)
    frame = records_to_frame(records)
    cell_list = cells(records)
    est = estimates(cell_list)
    curve = curves(cell_list)
    atomic_write_text(out_dir / "results.csv", frame.to_csv(index=False))
    atomic_write_text(out_dir / "estimates.csv", est.to_csv(index=False))
    head = f"# {title}\n\n" if title else ""
    if command:
        head += f"Command: `{command}`\n\n"
    if scope:  # which records the tables hold (`looped_hrm.report.records.select`)
        head += scope + "\n\n"
    envs = {
        json.dumps({k: r["environment"].get(k) for k in ("device", "torch", "git_commit")}, sort_keys=True)
        for r in records
        if r.get("environment")
    }
    if envs:
        head += "Environment: " + "; ".join(sorted(envs)) + "\n\n"
    method = f"{intervals.METHOD}.\n\n"
    table = summary(cell_list)
    atomic_write_text(
        out_dir / "results.md",
        head + method + "Accuracies in %, mean [95 % CI]. `@max` = every example run to the maximum number of "
        "segments. Compute saved vs fixed = 1 − FLOPs spent under the halting policy / FLOPs of "
        "the same model running every example to the policy's cap. `train s` is wall time "
        "(mean ± std over seeds; machine-dependent).\n\n" + markdown(table),
    )
    atomic_write_text(
        out_dir / "leaderboard.md",
        head + method + "Exact accuracy (%), mean [95 % CI]. **Bold**: the best label-free cell of the task, and "
        "every cell whose difference from it is not significant (paired test on the same test examples "
        "and seeds, 5 % after Holm's correction over every pair of the task; see comparisons.md); a cell "
        "with fewer than 3 seeds in common with the best cannot be tested and is not bold. † = halting "
        "that reads the labels (`oracle`): an upper bound, not ranked.\n\n" + markdown(leaderboard(cell_list)),
    )
    atomic_write_text(
        out_dir / "comparisons.md",
        head + method + "Every pair of label-free cells of a task on exact accuracy: A − B in points on their "
        "common seeds (`seeds`) and the same test examples, with the 95 % CI and two-sided p-value of the "
        "paired test (the interval of the per-seed, per-example differences), and the p-value adjusted by "
        "Holm over every pair of the task. *significant* = adjusted p < 0.05; the CI is not adjusted.\n\n"
        + markdown(comparisons(cell_list)),
    )
    atomic_write_text(
        out_dir / "buckets.md",
        head + method + "Per difficulty bucket, under the halting policy: accuracy (%) and compute (segments, "
        "FLOPs per example), mean [95 % CI], buckets in the task's order from easy to hard.\n\n"
        + markdown(buckets(cell_list))
        + _gap_section(cell_list),
    )
    extra = task_metrics(cell_list)
    if not extra.empty:
        atomic_write_text(
            out_dir / "task_metrics.md",
            head + "Each task's own metrics under the halting policy (%, mean [95 % CI over seeds: "
            "t interval of the seed values; none below 3 seeds]). ARC: pass@k = share of puzzles whose every "
            "test input has the right grid among the k most-voted answers over its augmented views "
            "(the official metric; one view per input makes pass@2 = pass@1). arith_proof: shares of "
            "predicted proofs that are well formed, arithmetically correct, valid under the task's "
            "rules, trivial (a factor 1), with a smaller factor 2, with a zero addend; balance = "
            "mean log(min factor) / log(sqrt(T)).\n\n" + markdown(extra),
        )
    if not curve.empty:
        atomic_write_text(out_dir / "curves.csv", curve.to_csv(index=False))
        atomic_write_text(
            out_dir / "curves.md",
            head + method + "Learning curves: test exact accuracy (%, policy-halted, mean [95 % CI]) evaluated at set "
            "fractions of each run's training budget (curves.csv has every point). *Best within "
            "budget* is selected on the test split itself, so it is optimistic; *final* is not "
            f"selected. X = {REACH:.0%} of the best final accuracy of the task; steps and FLOPs to X "
            "are the first evaluated point at or above it (mean curve over seeds).\n\n"
            + markdown(curve_summary(curve)),
        )
    if latex:
        atomic_write_text(
            out_dir / "results.tex",
            tabulate(table, headers="keys", tablefmt="latex_booktabs", showindex=False, disable_numparse=True) + "\n",
        )
    return frame, est, curve
