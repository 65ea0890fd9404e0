"""The numbers of a results folder as one JSON object that the site's pages read.

Nothing here computes a statistic of its own: every table is the frame that the Markdown table of the
same name is printed from (`looped_hrm.report.tables`), as text exactly as there, and the charts read
the long ``estimates`` and ``curves`` frames (the numbers behind ``estimates.csv`` and ``curves.csv``),
picking their metrics through the metric catalogue (`looped_hrm.evaluation.catalogue`).
A change of interval method, a new baseline row or a new column therefore reaches the site without
touching it.

A table is ``{"title", "source", "caption", "columns", "rows"}`` with every cell a string; columns
named ``task``, ``model``, ``halting`` or ``seed`` are what the site filters on. The leaderboard's pivot
also says which model and halting policy each of its columns holds (``column_keys``).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pandas as pd

from looped_hrm.config import config_hash
from looped_hrm.evaluation import catalogue
from looped_hrm.evaluation.catalogue import key, lookup
from looped_hrm.report import intervals, tables
from looped_hrm.report.cells import ESTIMATE_COLUMNS, Cell, cells, estimates, records_to_frame
from looped_hrm.report.curves import CURVE_COLUMNS, curve_summary, curves
from looped_hrm.report.formatting import mean_std
from looped_hrm.report.provenance import commits

# (name, title, Markdown file it matches, what it shows)
TABLES = (
    ("summary", "Every cell", "results.md", "Headline metrics per task × model × halting, mean [95 % CI]."),
    (
        "leaderboard",
        "Leaderboard",
        "leaderboard.md",
        "Exact accuracy (%), mean [95 % CI]. Bold: the best label-free cell of the task and every cell not "
        "significantly worse (paired test on the same test examples and seeds, 5 % after Holm's correction over "
        "the task's pairs). † = halting that reads the labels. baseline:* = the trivial baselines, never ranked.",
    ),
    (
        "margins",
        "Margin over the best trivial baseline",
        "leaderboard.md",
        "Each cell's exact accuracy minus that of the best trivial baseline its records hold, in points, with "
        "the 95 % CI of the paired difference over the same seeds and test items. — : the records predate "
        "the baselines.",
    ),
    (
        "comparisons",
        "Comparisons",
        "comparisons.md",
        "Every pair of label-free cells of a task on exact accuracy: A − B in points on their common seeds, "
        "paired 95 % CI, two-sided p-value and the p-value adjusted by Holm over the task's pairs.",
    ),
    (
        "buckets",
        "Per difficulty bucket",
        "buckets.md",
        "Under the halting policy: accuracy (%) and compute per bucket, easy to hard, mean [95 % CI].",
    ),
    (
        "gap",
        "Hardest − easiest bucket, within each run",
        "buckets.md",
        "Extra segments spent on the hardest bucket over the easiest, on the same puzzles; each seed's own gap.",
    ),
    ("task_metrics", "The tasks' own metrics", "task_metrics.md", "ARC pass@k, proof statistics, … (%)."),
    (
        "curve_summary",
        "Learning curves",
        "curves.md",
        "Final accuracy, best within the budget, steps and FLOPs to reach X = 90 % of the task's best final accuracy.",
    ),
)

RUN_COLUMNS = ("exact acc", "token acc", "segments", "exact acc @max", "train s")
"""The per-seed runs table: these columns of the headline table (`tables.HEADLINE`), each seed's value."""


def frame_table(frame: pd.DataFrame) -> dict[str, Any]:
    """A frame of text cells as ``{"columns", "rows"}`` (every value a string, as in the Markdown)."""
    if frame.empty:
        return {"columns": [], "rows": []}
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": [["" if v is None else str(v) for v in row] for row in frame.itertuples(index=False)],
    }


def number(value: Any) -> float | int | None:
    """A JSON number (None for NaN, missing or not a number)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else value


def columns_of(frame: pd.DataFrame, columns: list[str]) -> dict[str, list[Any]]:
    """A numeric long frame as one list per column (NaN as null): the charts' data."""
    return {c: [v if isinstance(v, str) else number(v) for v in frame[c]] for c in columns}


BUCKET_CHARTS = (catalogue.metric("exact_accuracy").name, catalogue.metric("mean_segments").name)
SCALING_CHART = catalogue.metric("exact_accuracy").name


def charts(estimates: pd.DataFrame) -> dict[str, dict[str, list[Any]]]:
    """The estimates each chart draws, picked through the metric catalogue (`catalogue.lookup`):
    ``by_bucket`` accuracy and segments per bucket under the policy (``measure``: which), ``scaling``
    accuracy after ``segments`` segments of the fixed pass, ``trained_segments`` the segments each
    cell trained with. ``estimates.csv`` holds every metric."""
    picked: dict[str, list[int]] = {"by_bucket": [], "scaling": [], "trained_segments": []}
    extra: dict[str, list[Any]] = {"by_bucket": [], "scaling": [], "trained_segments": []}
    for i, metric in enumerate(estimates.metric):
        ref = lookup(metric)
        if ref is None or ref.variant is not None:
            continue  # (an extrapolation test split's: its figures are extrapolation_<task>.png)
        if ref.mode == "policy" and ref.bucket is not None and ref.name in BUCKET_CHARTS:
            picked["by_bucket"].append(i)
            extra["by_bucket"].append(ref.name)
        elif ref.mode == "fixed" and ref.at is not None and ref.name == SCALING_CHART:
            picked["scaling"].append(i)
            extra["scaling"].append(ref.at)
        elif metric == key("train_max_segments"):
            picked["trained_segments"].append(i)
    out = {}
    for chart, rows in picked.items():
        out[chart] = columns_of(estimates.iloc[rows], ESTIMATE_COLUMNS)
    out["by_bucket"]["measure"] = extra["by_bucket"]
    out["scaling"]["segments"] = extra["scaling"]
    return out


def leaderboard_table(
    cell_list: list[Cell], layout: Callable[[list[Cell]], pd.DataFrame] = tables.leaderboard
) -> dict[str, Any]:
    """A table in the leaderboard's layout (task rows, one column per cell), with the cell each column is."""
    table = frame_table(layout(cell_list))
    several = len({c.halting for c in cell_list}) > 1
    table["column_keys"] = {
        tables.leaderboard_column(c, several): {"model": c.model, "halting": c.halting} for c in cell_list
    }
    return table


def runs_table(tidy: pd.DataFrame) -> dict[str, Any]:
    """One row per record of the tidy frame (``results.csv``): identity, status, a few headline metrics."""
    columns = [c for c in tables.HEADLINE if c.header in RUN_COLUMNS]
    rows = []
    for _, rec in tidy.iterrows():
        row = [str(rec[c]) for c in ("task", "model", "halting", "seed", "status")]
        for column in columns:
            # one seed's value, printed as the tables print a number (mean_std of one value: no ±)
            row.append(mean_std(pd.Series([number(rec.get(column.key))], dtype=float), column.kind))
        row += [str(rec["note"]), str(rec["key"])]
        rows.append(row)
    headers = ["task", "model", "halting", "seed", "status", *(c.header for c in columns), "note", "key"]
    return {"columns": headers, "rows": rows}


def provenance(tidy: pd.DataFrame, records: list[dict[str, Any]], meta: dict[str, Any], scope: str) -> dict[str, Any]:
    """What produced the numbers: the command, each record's commit, data fingerprint, machine and
    resolved config (each config stored once: the seeds of a cell share theirs)."""
    by_key = {r["key"]: r for r in records}
    configs: dict[str, dict[str, Any]] = {}
    runs = []
    for _, row in tidy.iterrows():
        rec = by_key[row["key"]]
        env = rec.get("environment") or {}
        config = {k: v for k, v in rec["combination"].items() if k != "seed"}
        config_id = config_hash(config, length=8)
        configs.setdefault(config_id, config)
        runs.append(
            {
                "key": rec["key"],
                **{c: str(row[c]) for c in ("task", "model", "halting", "seed", "status")},
                "finished_at": rec.get("finished_at"),
                "wall_time_s": number(rec.get("wall_time_s")),
                "data": rec.get("data") or rec["combination"].get("data") or {},
                "environment": {k: v for k, v in env.items() if isinstance(v, (str, int, float, bool)) or v is None},
                "config": config_id,
            }
        )
    return {
        "command": str(meta.get("command") or ""),
        "scope": scope,
        "commits": commits(records),
        "runs": runs,
        "configs": configs,
    }


def site_data(
    records: list[dict[str, Any]], *, title: str, meta: dict[str, Any], scope: str, puzzles: list[dict[str, Any]]
) -> dict[str, Any]:
    """Everything the site shows of ``records`` (the selection the Markdown tables hold)."""
    tidy = records_to_frame(records)
    cell_list = cells(records)
    curve = curves(cell_list)
    frames = {
        "summary": lambda: frame_table(tables.summary(cell_list)),
        "leaderboard": lambda: leaderboard_table(cell_list),
        "margins": lambda: leaderboard_table(cell_list, tables.margins),
        "comparisons": lambda: frame_table(tables.comparisons(cell_list)),
        "buckets": lambda: frame_table(tables.buckets(cell_list)),
        "gap": lambda: frame_table(tables.difficulty_gap(cell_list)),
        "task_metrics": lambda: frame_table(tables.task_metrics(cell_list)),
        "curve_summary": lambda: frame_table(curve_summary(curve) if not curve.empty else pd.DataFrame()),
    }
    out_tables = {}
    for name, heading, source, caption in TABLES:
        table = frames[name]()
        out_tables[name] = {"title": heading, "source": source, "caption": caption, **table}
    out_tables["runs"] = {
        "title": "Runs (one per seed)",
        "source": "results.csv",
        "caption": "One row per combination and seed.",
        **runs_table(tidy),
    }
    return {
        "title": title,
        "method": intervals.METHOD,
        "tables": out_tables,
        "charts": charts(estimates(cell_list)),
        "curves": columns_of(curve, CURVE_COLUMNS),
        "buckets": {f"{c.task}": c.bucket_names() for c in cell_list if c.ok},
        "provenance": provenance(tidy, records, meta, scope),
        "puzzles": puzzles,
    }
