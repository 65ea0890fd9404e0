"""Result tables from the per-combination JSON records, every number with its 95 % interval.

``results.csv``      tidy: one row per combination and seed, every metric a column
``estimates.csv``    long: one row per cell × metric — mean, CI low/high, seeds, examples
``results.md``       task × model × halting: headline metrics, mean [95 % CI]
``leaderboard.md``   task × model pivot of exact accuracy; bold = best, or not significantly worse (Holm);
                     the trivial baselines beside the models, and each cell's margin over the best of them
``comparisons.md``   every pair of cells of a task: paired difference, CI, p-value, Holm-adjusted p-value
``buckets.md``       accuracy and compute per difficulty bucket, buckets in the task's order, distinct items
                     in each (no interval below `intervals.MIN_DISTINCT`); hardest − easiest gap
``task_metrics.md``  the tasks' own metrics (ARC pass@1/pass@2 by HRM's and the ARC Prize's rule, proof statistics)
``curves.md/.csv``   learning curves: accuracy at fractions of the budget, best / final / steps to X
``results.tex``      the summary as LaTeX (on request)

Intervals come from `looped_hrm.report.intervals` over the records' per-example outcomes (a t
interval over seeds that adds the test-set draw; none below 3 seeds, and the table says so), one value
per test item (the augmented views of one input averaged, `cells.by_item`); a record without them
(written before they were stored) contributes its seed-level metric, and the interval is then over
seeds only. A policy that reads the labels (``oracle``) is marked as an upper bound and never ranked.
The trivial baselines the records hold (`cells.trivial_baselines`) are rows of their own in
results.md, leaderboard.md and buckets.md, with intervals over the test items only.

Everything here is a pure function of the records, so ``python -m looped_hrm.bench report DIR``
rebuilds identical tables without training. The records are grouped into cells and their metrics'
values and intervals found in `looped_hrm.report.cells`; numbers are printed by
`looped_hrm.report.formatting`; the learning curves are `looped_hrm.report.curves`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from looped_hrm.atomic import atomic_write_text
from looped_hrm.evaluation import catalogue
from looped_hrm.evaluation.catalogue import key, lookup
from looped_hrm.report import intervals, provenance
from looped_hrm.report.cells import (
    Baseline,
    Cell,
    baseline_modes,
    by_item,
    cells,
    estimate,
    estimates,
    in_bucket,
    margin,
    per_example_values,
    records_to_frame,
    trivial_baselines,
)
from looped_hrm.report.curves import REACH, curve_summary, curves
from looped_hrm.report.formatting import ci_text, fmt, markdown, mean_std, seeds_text


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


# ---------------------------------------------------------------------------------------- cells


# ---------------------------------------------------------------------------------- formatting


def _notes(cell: Cell) -> str:
    return "; ".join(sorted({r.get("reason") or r.get("error") or "" for r in cell.records} - {""}))


# --------------------------------------------------------------------------------------- tables


BASELINE_HALTING = "—"
"""The halting column of a trivial baseline's row: it runs no model, so nothing halts."""


def _baseline_row(base: Baseline) -> dict[str, str]:
    return {"task": base.task, "model": base.mode, "halting": BASELINE_HALTING, "seeds": "—"}


def _with_baselines(cell_list: list[Cell]) -> list[Cell | Baseline]:
    """The cells, each task's trivial baselines after its last cell."""
    bases = trivial_baselines(cell_list)
    out: list[Cell | Baseline] = []
    for task, group in itertools.groupby(cell_list, key=lambda c: c.task):
        out += list(group) + [b for b in bases if b.task == task]
    return out


def summary(cell_list: list[Cell]) -> pd.DataFrame:
    """One row per cell: mean [95 % CI] of the headline metrics, seeds, notes; after each task's cells,
    one row per trivial baseline (the metrics a baseline has, over the test items only)."""
    rows = []
    for entry in _with_baselines(cell_list):
        if isinstance(entry, Baseline):
            row = _baseline_row(entry)
            for col in HEADLINE:  # a baseline's answers are scored as a policy pass's are
                ref = lookup(col.key)
                row[col.header] = ci_text(entry.estimate(col.key) if ref and ref.mode == "policy" else None, col.kind)
            row["note"] = entry.note
            rows.append(row)
            continue
        cell = entry
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
                row[col.header] = fmt(
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
        names = sorted({ref.name for k in cell.metric_names if (ref := _policy_task(k))})
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
    return (
        ref
        if ref is not None and ref.variant is None and ref.mode == "policy" and ref.section == catalogue.TASK
        else None
    )


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
        for base in trivial_baselines(group):  # never ranked: the floor a model must clear
            table[task][_baseline_column(base)] = ci_text(base.estimate(metric), "pct")
    return _pivot(table)


def _pivot(table: dict[str, dict[str, str]]) -> pd.DataFrame:
    """Task rows × columns; ``—`` where a task has no such cell or baseline."""
    return pd.DataFrame.from_dict(table, orient="index").fillna("—").rename_axis("task").reset_index()


def _baseline_column(base: Baseline) -> str:
    return f"{base.mode} ({base.note})" if base.note else base.mode


MARGIN_BEST = "best trivial baseline"


def margins(cell_list: list[Cell]) -> pd.DataFrame:
    """The leaderboard's layout, each cell's exact accuracy minus that of its best trivial baseline
    (`cells.margin`: the baseline with the highest mean among those its records hold), in points with
    the 95 % CI of the paired difference over seeds × test items; ``—`` for records that predate
    baselines. The first column names each task's best baseline and its accuracy."""
    several = len({c.halting for c in cell_list}) > 1
    table: dict[str, dict[str, str]] = {}
    for task, grouped in itertools.groupby(cell_list, key=lambda c: c.task):
        row: dict[str, str] = {MARGIN_BEST: "—"}
        best: set[str] = set()
        for cell in grouped:
            found = margin(cell)
            if found is None:
                skipped = cell.records and all(r["status"] == "skipped" for r in cell.records)
                text = "skipped" if skipped else "—"
            else:
                text = _points(found.difference)
                best.add(f"{found.baseline} ({fmt(found.baseline_mean, 'pct')})")
            row[leaderboard_column(cell, several)] = text
        row[MARGIN_BEST] = ", ".join(sorted(best)) or "—"
        table[task] = row
    return _pivot(table)


def _points(cmp: intervals.Comparison) -> str:
    """A difference of two shares in points with its 95 % CI (or why it has none)."""
    diff = f"{100 * cmp.diff:+.1f}"
    if not cmp.testable:
        return f"{diff} [no CI: {seeds_text(cmp.seeds)}]"
    low, high = f"{100 * cmp.low:+.1f}", f"{100 * cmp.high:+.1f}"
    return diff if low == high == diff else f"{diff} [{low}, {high}]"  # no width: nothing varies


def _tied(test: tuple[intervals.Comparison, float] | None) -> bool:
    """Not shown different from the best after Holm's correction (an untestable pair is not tied)."""
    return test is not None and test[0].testable and not test[1] < 1 - intervals.LEVEL


def compare(a: Cell, b: Cell, metric: str = LEADERBOARD_METRIC) -> intervals.Comparison | None:
    """Paired test of ``a - b`` on their common seeds, when both have per-example outcomes on the same
    test examples (None otherwise)."""
    va, vb = per_example_values(a, metric), per_example_values(b, metric)
    if va is None or vb is None or va.shape[1] != vb.shape[1] or not a.examples or not b.examples:
        return None
    items_a, items_b = a.items, b.items
    same_items = (
        items_a is None
        and items_b is None
        or (items_a is not None and items_b is not None and np.array_equal(items_a, items_b))
    )
    if not np.array_equal(a.examples[0]["bucket"], b.examples[0]["bucket"]) or not same_items:
        return None  # not the same test split
    seeds_a, seeds_b = ([r["combination"]["seed"] for r in c.ok] for c in (a, b))
    row_a, row_b = _first_rows(seeds_a), _first_rows(seeds_b)
    common = [s for s in seeds_a if s in row_b]
    if not common:
        return None
    return intervals.paired_difference(va[[row_a[s] for s in common]], vb[[row_b[s] for s in common]])


def _first_rows(seeds: list[int]) -> dict[int, int]:
    """Each seed's first row (a dict, not ``list.index``: 5,000 seeds made that seconds)."""
    rows: dict[int, int] = {}
    for i, seed in enumerate(seeds):
        rows.setdefault(seed, i)
    return rows


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
                diff = f"{100 * cmp.diff:+.1f} [no CI: {seeds_text(cmp.seeds)} in common]"
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
    """Per difficulty bucket (policy-halted run): examples, distinct items, accuracy and compute, mean
    [95 % CI]; after each task's cells its trivial baselines' accuracy per bucket. A bucket with fewer
    than `intervals.MIN_DISTINCT` distinct test items (rows, for records without entry ids) prints no
    interval, and says why."""
    rows = []
    for entry in _with_baselines(cell_list):
        cell = entry.source if isinstance(entry, Baseline) else entry
        if not cell.ok:
            continue
        for name in cell.bucket_names():
            n = (cell.ok[0]["metrics"] or {}).get(key("examples", "policy", bucket=name))
            if n is None:
                continue
            count, distinct = cell.distinct(name) or (int(n), False)
            if isinstance(entry, Baseline):
                row = _baseline_row(entry)
                del row["seeds"]
            else:
                row = {"task": cell.task, "model": cell.model, "halting": cell.label()}
            row.update({"bucket": name, "examples": n, "distinct": str(count) if distinct else "—"})
            for col in BUCKET_COLUMNS:
                metric = in_bucket(col.key, name)
                est = entry.estimate(metric) if isinstance(entry, Baseline) else estimate(cell, metric)
                row[col.header] = _bucket_text(est, col.kind, count, distinct)
            rows.append(row)
    return pd.DataFrame(rows)


def _bucket_text(est: intervals.Estimate | None, kind: catalogue.Kind, count: int, distinct: bool) -> str:
    """`ci_text`, but no interval for a bucket of fewer than `intervals.MIN_DISTINCT` test items."""
    if est is None or count >= intervals.MIN_DISTINCT or kind == "int":
        return ci_text(est, kind)
    text = fmt(est.mean, kind)
    if est.has_interval and fmt(est.low, kind) == fmt(est.high, kind) == text:
        return text  # nothing varies: no interval to refuse
    return f"{text} [no CI: {count} {'distinct' if distinct else 'examples'}]"


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
        rows_of = [bucket == present[-1], bucket == present[0]]  # hardest, easiest
        segments = np.stack([e["policy"][segments_array] for e in ex]).astype(np.float64)
        items = cell.items  # each bucket's items (an item's views averaged), hardest first
        hard, easy = (by_item(segments[:, r], None if items is None else items[r]) for r in rows_of)
        per_seed = hard.mean(1) - easy.mean(1)
        both = np.concatenate([hard, easy], 1)
        first = np.arange(both.shape[1]) < hard.shape[1]
        est = intervals.subset_gap(both, first, ~first)
        fewest = min(hard.shape[1], easy.shape[1])
        rows.append(
            {
                "task": cell.task,
                "model": cell.model,
                "halting": cell.label(),
                "gap": f"{names[present[-1]]} − {names[present[0]]}",
                "seeds": len(ex),
                "extra segments": _bucket_text(est, "num", fewest, items is not None),
                "each seed": ", ".join(f"{v:+.2f}" for v in per_seed),
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ learning curves


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


CAPTIONS = {
    "results.md": "Accuracies in %, mean [95 % CI]. `@max` = every example run to the maximum number of "
    "segments. Compute saved vs fixed = 1 − FLOPs spent under the halting policy / FLOPs of "
    "the same model running every example to the policy's cap. `train s` is wall time "
    "(mean ± std over seeds; machine-dependent).\n\n",
    "leaderboard.md": "Exact accuracy (%), mean [95 % CI]. **Bold**: the best label-free cell of the task, and "
    "every cell whose difference from it is not significant (paired test on the same test examples "
    "and seeds, 5 % after Holm's correction over every pair of the task; see comparisons.md); a cell "
    "with fewer than 3 seeds in common with the best cannot be tested and is not bold. † = halting "
    "that reads the labels (`oracle`): an upper bound, not ranked. `baseline:*` columns: the trivial "
    "baselines, never ranked.\n\n",
    "comparisons.md": "Every pair of label-free cells of a task on exact accuracy: A − B in points on their "
    "common seeds (`seeds`) and the same test examples, with the 95 % CI and two-sided p-value of the "
    "paired test (the interval of the per-seed, per-example differences), and the p-value adjusted by "
    "Holm over every pair of the task. *significant* = adjusted p < 0.05; the CI is not adjusted.\n\n",
    "buckets.md": "Per difficulty bucket, under the halting policy: accuracy (%) and compute (segments, "
    "FLOPs per example), mean [95 % CI], buckets in the task's order from easy to hard. `examples` = test "
    "rows, `distinct` = distinct test items among them up to the task's symmetries (`—`: the records predate "
    f"item ids, and rows are counted instead). A bucket of fewer than {intervals.MIN_DISTINCT} distinct items "
    "gets no interval (`[no CI: 2 distinct]`): too few puzzles for an interval over them to hold its 95 % "
    "(docs/statistics.md); the same holds for the hardest − easiest gap below when either bucket is that "
    "small.\n\n",
    "task_metrics.md": "Each task's own metrics under the halting policy (%, mean [95 % CI over seeds: "
    "t interval of the seed values; none below 3 seeds]). ARC: pass@k by two rules, each over the k "
    "most-voted answers among a test input's augmented views (one view per input makes pass@2 = pass@1): "
    "`hrm_pass@k` by HRM's rule (its evaluation notebook: a puzzle counts when every one of its test inputs "
    "is solved; share of puzzles), `prize_pass@k` by the ARC Prize's rule (each test output scored on its "
    "own; share of test outputs). Records written before both were measured hold HRM's rule only, as "
    "`pass@k`. arith_proof: shares of "
    "predicted proofs that are well formed, arithmetically correct, valid under the task's "
    "rules, trivial (a factor 1), with a smaller factor 2, with a zero addend; balance = "
    "mean log(min factor) / log(sqrt(T)).\n\n",
    "curves.md": "Learning curves: test exact accuracy (%, policy-halted, mean [95 % CI]) evaluated at set "
    "fractions of each run's training budget (curves.csv has every point). *Best within "
    "budget* is selected on the test split itself, so it is optimistic; *final* is not "
    f"selected. X = {REACH:.0%} of the best final accuracy of the task; steps and FLOPs to X "
    "are the first evaluated point at or above it (mean curve over seeds).\n\n",
}
"""What each Markdown table shows, printed above it (after the folder's heading and the interval method)."""

MARGIN_CAPTION = (
    "Margin over the best trivial baseline: each cell's exact accuracy minus that of the best trivial "
    "baseline its records hold (the highest mean exact accuracy among `copy`, `majority` and the task's "
    "own), in points, with the 95 % CI of the paired difference over the same seeds and test items (the "
    "baseline gives the same answers in every seed). A margin whose interval is above 0 shows that the "
    "model learned more than an answer that needs no training.\n\n"
)


def _data_note(cell_list: list[Cell]) -> str:
    """What the records let the tables count: trivial baselines, and test items rather than rows."""
    with_data = [c for c in cell_list if c.examples]
    if not with_data:
        return ""
    with_bases = [c for c in with_data if baseline_modes(c)]
    notes = []
    if with_bases:
        notes.append(
            "`baseline:*` rows (halting `—`) are the trivial baselines scored on the same test rows: `copy` "
            "answers with the input, `majority` with the most common training label at each position, the "
            "others are the task's own rules (Sudoku's `givens_random`: the givens and a random allowed digit "
            "in every blank). A baseline is deterministic (no training, no seed), so its interval is over the "
            "test items only (t interval)."
        )
    if len(with_bases) < len(with_data):
        notes.append(
            f"{'Some of these' if with_bases else 'These'} records predate the trivial baselines (written before "
            "records stored them): no baseline rows or margins for them (`—`)."
        )
    with_items = [c for c in with_data if c.items is not None]
    if with_items:
        notes.append(
            "Intervals resample test items up to the task's symmetries: the rows of one item (ARC's augmented "
            "views of one test input, symmetry copies of one puzzle) are averaged into one value, and means are "
            "over items (results.csv keeps each run's means over rows; they differ only where an item has more "
            "rows than another)."
        )
    if len(with_items) < len(with_data):
        notes.append(
            f"{'Some of these' if with_items else 'These'} records predate item ids: their intervals resample "
            "test rows, and rows of one item (ARC's augmented views of one test input) count as separate examples."
        )
    return " ".join(notes) + "\n\n"


def _heading(records: list[dict[str, Any]], title: str, command: str, scope: str) -> str:
    """Title, command, which records (`looped_hrm.report.records.select`) and their environments."""
    head = f"# {title}\n\n" if title else ""
    if command:
        head += f"Command: `{command}`\n\n"
    if scope:
        head += scope + "\n\n"
    for line in (provenance.commits(records), provenance.machines(records)):
        head += line + "\n\n" if line else ""
    return head


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
    head, method = _heading(records, title, command, scope), f"{intervals.METHOD}.\n\n"
    method += _data_note(cell_list)
    table = summary(cell_list)
    board = markdown(leaderboard(cell_list)) + "\n" + MARGIN_CAPTION + markdown(margins(cell_list))
    files = {
        "results.csv": frame.to_csv(index=False),
        "estimates.csv": est.to_csv(index=False),
        "results.md": head + method + CAPTIONS["results.md"] + markdown(table),
        "leaderboard.md": head + method + CAPTIONS["leaderboard.md"] + board,
        "comparisons.md": head + method + CAPTIONS["comparisons.md"] + markdown(comparisons(cell_list)),
        "buckets.md": head + method + CAPTIONS["buckets.md"] + markdown(buckets(cell_list)) + _gap_section(cell_list),
    }
    extra = task_metrics(cell_list)
    if not extra.empty:  # task metrics' intervals are over seeds only: no per-example method line
        files["task_metrics.md"] = head + CAPTIONS["task_metrics.md"] + markdown(extra)
    if not curve.empty:
        files["curves.csv"] = curve.to_csv(index=False)
        files["curves.md"] = head + method + CAPTIONS["curves.md"] + markdown(curve_summary(curve))
    if latex:
        latex_table = tabulate(table, headers="keys", tablefmt="latex_booktabs", showindex=False, disable_numparse=True)
        files["results.tex"] = latex_table + "\n"
    for name, text in files.items():
        atomic_write_text(out_dir / name, text)
    return frame, est, curve
