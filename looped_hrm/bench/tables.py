"""Result tables from the per-combination JSON records.

``results.csv``     tidy: one row per combination and seed, every metric a column
``results.md``      task × model × halting, mean ± std over seeds of the headline metrics
``leaderboard.md``  task × model pivot of exact accuracy (one column per halting policy if several)
``buckets.md``      accuracy and compute per difficulty bucket
``results.tex``     the summary as LaTeX (on request)

Everything here is a pure function of the records, so ``python -m looped_hrm.bench report DIR``
rebuilds identical tables without training.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from tabulate import tabulate

from looped_hrm.atomic import atomic_write_text

ID_COLUMNS = ["task", "model", "halting", "seed"]

# (metric key of the engine's flat metrics, column header, kind) — kind picks the number format.
# ``policy/`` = every example run until its halting policy stopped it; ``fixed/`` = run to the maximum.
HEADLINE = [
    ("policy/exact_accuracy", "exact acc", "pct"),
    ("policy/verified_accuracy", "verified acc", "pct"),
    ("policy/token_accuracy", "token acc", "pct"),
    ("policy/mean_segments", "segments", "num"),
    ("policy/mean_inner_steps", "inner steps", "num"),
    ("policy/flops_per_example", "FLOPs/example", "sci"),
    ("fixed/exact_accuracy", "exact acc @max", "pct"),
    ("fixed/mean_segments", "segments @max", "num"),
    ("trainable_params", "params", "int"),
    ("train/wall_s", "train s", "num"),
]
LEADERBOARD_METRIC = "policy/exact_accuracy"


def load_records(out_dir: str | Path) -> list[dict[str, Any]]:
    """Every readable record in ``<out_dir>/runs``; an unreadable file is reported and skipped."""
    records = []
    for path in sorted(Path(out_dir, "runs").glob("*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"warning: {path}: unreadable result record skipped ({exc})", file=sys.stderr)
    return records


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> slash-joined keys, the engine's naming (``policy/bucket/hard/exact_accuracy``)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "/"))
        elif isinstance(value, (int, float, str, bool)) or value is None:
            flat[name] = value
    return flat


def records_to_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The tidy frame: identity columns, status, reason/error, then every metric."""
    rows = []
    for rec in records:
        combo = rec["combination"]
        row = {
            "task": combo["task"]["label"], "model": combo["model"]["label"],
            "halting": combo["halting"]["label"], "seed": combo["seed"],
            "status": rec["status"], "note": rec.get("reason") or rec.get("error") or "",
            "key": rec["key"],
        }
        row.update(flatten(rec.get("metrics") or {}))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=ID_COLUMNS + ["status", "note", "key"])
    return frame.sort_values(ID_COLUMNS, kind="stable").reset_index(drop=True)


def _fmt(value: float, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if kind == "pct":
        return f"{100 * value:.1f}"
    if kind == "int":
        return f"{int(round(value)):,}"
    if kind == "sci":
        return f"{value:.3g}"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


def mean_std(values: pd.Series, kind: str) -> str:
    """``mean ± std`` over seeds (sample std; no ± for a single seed)."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return "—"
    text = _fmt(values.mean(), kind)
    if len(values) > 1 and kind != "int":
        text += f" ± {_fmt(values.std(ddof=1), kind)}"
    return text


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per task × model × halting: mean ± std of the headline metrics, and the status."""
    metrics = [(k, h, kind) for k, h, kind in HEADLINE if k in frame.columns]
    rows = []
    for (task, model, halting), group in frame.groupby(["task", "model", "halting"], sort=False):
        ok = group[group.status == "ok"]
        row = {"task": task, "model": model, "halting": halting, "seeds": f"{len(ok)}/{len(group)}"}
        for key, header, kind in metrics:
            row[header] = mean_std(ok[key], kind) if key in ok else "—"
        notes = sorted({n for n in group.note if n})
        row["note"] = "; ".join(notes)
        rows.append(row)
    return pd.DataFrame(rows)


def leaderboard(frame: pd.DataFrame, metric: str = LEADERBOARD_METRIC) -> pd.DataFrame:
    """Task rows × model (× halting, when several) columns of ``metric`` (mean ± std)."""
    ok = frame[frame.status == "ok"]
    several = frame.halting.nunique() > 1
    table: dict[str, dict[str, str]] = {}
    for (task, model, halting), group in frame.groupby(["task", "model", "halting"], sort=False):
        column = f"{model} ({halting})" if several else model
        cell = ok[(ok.task == task) & (ok.model == model) & (ok.halting == halting)]
        value = mean_std(cell[metric], "pct") if metric in cell and not cell.empty else "—"
        if cell.empty and not group.empty and (group.status == "skipped").all():
            value = "skipped"
        table.setdefault(task, {})[column] = value
    return pd.DataFrame.from_dict(table, orient="index").rename_axis("task").reset_index()


_BUCKET = re.compile(r"^policy/bucket/(?P<bucket>[^/]+)/(?P<metric>exact_accuracy|verified_accuracy|mean_segments|mean_inner_steps)$")


def buckets(frame: pd.DataFrame) -> pd.DataFrame:
    """Per difficulty bucket (policy-halted run): accuracy and compute, mean over seeds, in bucket order."""
    columns = [c for c in frame.columns if _BUCKET.match(c)]
    ok = frame[frame.status == "ok"]
    rows = []
    for (task, model, halting), group in ok.groupby(["task", "model", "halting"], sort=False):
        per_bucket: dict[str, dict[str, str]] = {}
        for col in columns:
            m = _BUCKET.match(col)
            if group[col].notna().any():
                kind = "pct" if "accuracy" in m["metric"] else "num"
                per_bucket.setdefault(m["bucket"], {})[m["metric"]] = mean_std(group[col], kind)
        for bucket, values in per_bucket.items():
            rows.append({"task": task, "model": model, "halting": halting, "bucket": bucket, **values})
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_no rows_\n"
    return tabulate(frame, headers="keys", tablefmt="github", showindex=False) + "\n"


def write_tables(out_dir: str | Path, records: list[dict[str, Any]], *, title: str = "", command: str = "",
                 latex: bool = False) -> pd.DataFrame:
    """Write every table for ``records`` into ``out_dir``; returns the tidy frame."""
    out_dir = Path(out_dir)
    frame = records_to_frame(records)
    atomic_write_text(out_dir / "results.csv", frame.to_csv(index=False))
    head = f"# {title}\n\n" if title else ""
    if command:
        head += f"Command: `{command}`\n\n"
    envs = {json.dumps({k: r["environment"].get(k) for k in ("device", "torch", "git_commit")}, sort_keys=True)
            for r in records if r.get("environment")}
    if envs:
        head += "Environment: " + "; ".join(sorted(envs)) + "\n\n"
    head += "Accuracies in %, mean ± std over seeds. `@max` = every example run to the maximum number of segments.\n\n"
    table = summary(frame)
    atomic_write_text(out_dir / "results.md", head + markdown(table))
    atomic_write_text(out_dir / "leaderboard.md", head.split("Accuracies")[0]
                      + "Exact accuracy (%), mean ± std over seeds.\n\n" + markdown(leaderboard(frame)))
    atomic_write_text(out_dir / "buckets.md", head.split("Accuracies")[0]
                      + "Per difficulty bucket: accuracy (%) and compute (segments), mean ± std over seeds.\n\n"
                      + markdown(buckets(frame)))
    if latex:
        atomic_write_text(out_dir / "results.tex",
                          tabulate(table, headers="keys", tablefmt="latex_booktabs", showindex=False) + "\n")
    return frame
