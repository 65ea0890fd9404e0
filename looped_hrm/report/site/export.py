"""The numbers of a results folder as one JSON object that the site's pages read.

Nothing here computes a statistic of its own: every table is the frame that the Markdown table of the
same name is printed from (`looped_hrm.report.tables`), as text exactly as there, and the charts read
the long ``estimates`` and ``curves`` frames (the numbers behind ``estimates.csv`` and ``curves.csv``).
A change of interval method, a new baseline row or a new column therefore reaches the site without
touching it.

A table is ``{"title", "source", "caption", "columns", "rows"}`` with every cell a string; columns
named ``task``, ``model``, ``halting`` or ``seed`` are what the site filters on. The leaderboard's pivot
also says which model and halting policy each of its columns holds (``column_keys``).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from looped_hrm.config import config_hash
from looped_hrm.report import bootstrap, tables
from looped_hrm.report.tables import Cell

# (name, title, Markdown file it matches, what it shows)
TABLES = (
    ("summary", "Every cell", "results.md", "Headline metrics per task × model × halting, mean [95 % CI]."),
    (
        "leaderboard",
        "Leaderboard",
        "leaderboard.md",
        "Exact accuracy (%), mean [95 % CI]. Bold: the best label-free cell of the task and every cell not "
        "significantly worse (paired bootstrap on the same test examples, 5 %). † = halting that reads the labels.",
    ),
    (
        "comparisons",
        "Comparisons",
        "comparisons.md",
        "Every pair of label-free cells of a task on exact accuracy: A − B in points, paired-bootstrap 95 % CI, "
        "two-sided p-value.",
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

RUN_METRICS = (
    ("policy/exact_accuracy", "exact acc", "pct"),
    ("policy/token_accuracy", "token acc", "pct"),
    ("policy/mean_segments", "segments", "num"),
    ("fixed/exact_accuracy", "exact acc @max", "pct"),
    ("train/wall_s", "train s", "num"),
)
"""The per-seed runs table (one row per record: what ``results.csv`` holds, a few columns of it)."""

ENVIRONMENT = ("git_commit", "hostname", "platform", "device", "cpu_count", "torch", "torch_threads", "python", "numpy")


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


CHARTED = re.compile(
    r"^(policy/bucket/[^/]+/(exact_accuracy|mean_segments)|fixed/exact_accuracy@\d+|train_max_segments)$"
)
"""The estimates the charts draw: accuracy and segments by bucket, accuracy vs test-time segments, the
segments trained with (``estimates.csv`` holds every metric)."""


def leaderboard_table(cell_list: list[Cell]) -> dict[str, Any]:
    table = frame_table(tables.leaderboard(cell_list))
    several = len({c.halting for c in cell_list}) > 1
    table["column_keys"] = {
        tables.leaderboard_column(c, several): {"model": c.model, "halting": c.halting} for c in cell_list
    }
    return table


def runs_table(tidy: pd.DataFrame) -> dict[str, Any]:
    """One row per record of the tidy frame (``results.csv``): identity, status, a few headline metrics."""
    rows = []
    for _, rec in tidy.iterrows():
        row = [str(rec[c]) for c in ("task", "model", "halting", "seed", "status")]
        for key, _, kind in RUN_METRICS:
            value = number(rec.get(key))
            row.append("—" if value is None else f"{100 * value:.1f}" if kind == "pct" else f"{value:.2f}")
        row += [str(rec["note"]), str(rec["key"])]
        rows.append(row)
    columns = ["task", "model", "halting", "seed", "status", *(h for _, h, _ in RUN_METRICS), "note", "key"]
    return {"columns": columns, "rows": rows}


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
                "environment": {k: env[k] for k in ENVIRONMENT if k in env},
                "config": config_id,
            }
        )
    return {"command": str(meta.get("command") or ""), "scope": scope, "runs": runs, "configs": configs}


def site_data(
    records: list[dict[str, Any]], *, title: str, meta: dict[str, Any], scope: str, puzzles: list[dict[str, Any]]
) -> dict[str, Any]:
    """Everything the site shows of ``records`` (the selection the Markdown tables hold)."""
    tidy = tables.records_to_frame(records)
    cell_list = tables.cells(records)
    curve = tables.curves(cell_list)
    frames = {
        "summary": lambda: frame_table(tables.summary(cell_list)),
        "leaderboard": lambda: leaderboard_table(cell_list),
        "comparisons": lambda: frame_table(tables.comparisons(cell_list)),
        "buckets": lambda: frame_table(tables.buckets(cell_list)),
        "gap": lambda: frame_table(tables.difficulty_gap(cell_list)),
        "task_metrics": lambda: frame_table(tables.task_metrics(cell_list)),
        "curve_summary": lambda: frame_table(tables.curve_summary(curve) if not curve.empty else pd.DataFrame()),
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
    estimates = tables.estimates(cell_list)
    estimates = estimates[estimates.metric.str.match(CHARTED)] if not estimates.empty else estimates
    return {
        "title": title,
        "method": bootstrap.METHOD,
        "tables": out_tables,
        "estimates": columns_of(estimates, tables.ESTIMATE_COLUMNS),
        "curves": columns_of(curve, tables.CURVE_COLUMNS),
        "buckets": {f"{c.task}": c.bucket_names() for c in cell_list if c.ok},
        "provenance": provenance(tidy, records, meta, scope),
        "puzzles": puzzles,
    }
