"""Result records grouped into cells (task × model × halting) and the values behind each metric.

A cell holds all the records of one task × model × halting; its successful seeds' per-example
arrays (`looped_hrm.evaluation.per_example`) are what the intervals are computed from. `values`
finds the ``[seeds, items]`` outcomes behind a metric through the metric catalogue
(`looped_hrm.evaluation.catalogue`); a record without them contributes its seed-level number.
`estimates` is every cell × metric with its interval: ``estimates.csv`` and what the plots draw.

The unit of the test-set draw is the test *item*, not the row: the augmented views of one ARC test
input, or two symmetry copies of one puzzle, are one item (the records' ``item`` ids,
`looped_hrm.overlap`), so `by_item` averages each item's rows before any interval sees them. Records
written before item ids were stored count rows.

A record also holds the trivial baselines (`looped_hrm.evaluation.baselines`) scored on the same test
rows, under the modes ``baseline:<name>``: `baseline_modes` lists a cell's, `margin` pairs the cell
with its best one, and `trivial_baselines` gives each task's as rows of their own (`Baseline`).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from looped_hrm.evaluation import catalogue
from looped_hrm.evaluation.catalogue import key, lookup
from looped_hrm.evaluation.config import variant_label
from looped_hrm.evaluation.per_example import unpack
from looped_hrm.report import intervals
from looped_hrm.report.records import read_records

ID_COLUMNS = ["task", "model", "halting", "seed"]


CELL = ["task", "model", "halting"]


UPPER_BOUND = "upper bound: uses labels"


def load_records(out_dir: str | Path) -> list[dict[str, Any]]:
    """Every usable record in ``<out_dir>/runs``, each run once; an unreadable or malformed file, a
    copy or a rename is reported (`looped_hrm.report.records.read_records`)."""
    return [record for _, record in read_records(records_folder(out_dir))]


def records_folder(out_dir: str | Path) -> Path:
    """Where ``out_dir``'s records are: ``runs/`` of a results folder, or ``out_dir`` itself when it
    holds records and no ``runs/`` — the ``evals/`` that ``looped-hrm eval`` writes into a results
    folder, so evaluations of its runs at new sizes are tabled as the runs are."""
    runs = Path(out_dir, "runs")
    if not runs.is_dir() and any(Path(out_dir).glob("*.json")):
        return Path(out_dir)
    return runs


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


@dataclass
class Cell:
    """One task × model × halting: all its records, the successful ones, their per-example data.

    Built once from all its records (`cells`). What is derived from them (the successful seeds, their
    unpacked per-example data, the values behind a metric) is computed on first use and kept: every
    table asks again, and over thousands of seeds the asking, not the arithmetic, was the cost."""

    task: str
    model: str
    halting: str
    records: list[dict[str, Any]] = field(default_factory=list)
    _values: dict[tuple[str, str], np.ndarray | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @cached_property
    def ok(self) -> list[dict[str, Any]]:
        return sorted((r for r in self.records if r["status"] == "ok"), key=lambda r: r["combination"]["seed"])

    @cached_property
    def uses_labels(self) -> bool:
        return any((r.get("metrics") or {}).get("policy_uses_labels") for r in self.ok)

    @cached_property
    def examples(self) -> list[dict[str, Any]] | None:
        """Unpacked per-example data of every successful seed (None when a seed lacks it)."""
        entries = [r.get("per_example") for r in self.ok]
        return [unpack(e) for e in entries if e] if entries and all(entries) else None

    @cached_property
    def metric_names(self) -> set[str]:
        """Every key of the successful seeds' ``metrics``, each once (to be read back with `lookup`)."""
        return {k for r in self.ok for k in (r.get("metrics") or {})}

    @cached_property
    def variant_labels(self) -> list[str]:
        """The cell's extrapolation test splits in the order its config lists them (``eval.extrapolate``)."""
        names: dict[str, None] = {}
        for rec in self.ok:
            asked = (rec.get("combination") or {}).get("eval", {}).get("extrapolate") or {}
            names.update(dict.fromkeys(variant_label(k, v) for k, values in asked.items() for v in values))
            names.update(dict.fromkeys(rec.get("extrapolation") or {}))
        return list(names)

    @cached_property
    def variants(self) -> dict[str, list[dict[str, Any]] | None]:
        """`examples` of each extrapolation test split (the records' ``extrapolation``) by its label."""
        labels = dict.fromkeys(label for r in self.ok for label in r.get("extrapolation") or {})
        out = {}
        for label in labels:
            entries = [(r.get("extrapolation") or {}).get(label) for r in self.ok]
            out[label] = [unpack(e) for e in entries if e] if entries and all(entries) else None
        return out

    def variant_examples(self, variant: str) -> list[dict[str, Any]] | None:
        """`examples` of the extrapolation test split ``variant`` (None when a seed lacks it)."""
        return self.variants.get(variant)

    @cached_property
    def items(self) -> np.ndarray | None:
        """The test item of each row of the own test split (`by_item`, `items_of`)."""
        return items_of(self.examples)

    def distinct(self, bucket: str | None = None) -> tuple[int, bool] | None:
        """How many test items the test set (or one ``bucket`` of it) holds, and whether that is a count
        of distinct items (True) or of rows (False: no item ids; without per-example data, the rows the
        record counted); None when nothing says."""
        ex = self.examples
        if not ex:
            n = (self.ok[0].get("metrics") or {}).get(key("examples", "policy", bucket=bucket)) if self.ok else None
            return (int(n), False) if isinstance(n, (int, float)) and not isinstance(n, bool) else None
        rows = np.ones(ex[0]["n"], dtype=bool)
        if bucket is not None:
            names = ex[0]["bucket_names"]
            if bucket not in names:
                return None
            rows = ex[0]["bucket"] == names.index(bucket)
        items = self.items
        return (len(np.unique(items[rows])), True) if items is not None else (int(rows.sum()), False)

    def bucket_names(self) -> list[str]:
        ex = self.examples
        if ex:
            return ex[0]["bucket_names"]
        names = {ref.bucket for k in self.metric_names if (ref := _policy_bucket(k)) and ref.bucket}
        return sorted(names, key=natural_order)

    def label(self) -> str:
        return f"{self.halting} ({UPPER_BOUND})" if self.uses_labels else self.halting


def natural_order(name: str) -> tuple:
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
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rec in records:
        groups.setdefault(_labels(rec), []).append(rec)
    return [Cell(*ident, groups[ident]) for ident in sorted(groups)]


def _policy_bucket(metric: str) -> catalogue.Ref | None:
    """``metric`` read back (`catalogue.lookup`) when it is the policy pass's over one bucket.

    Only the policy pass's bucket metrics get intervals over examples and carry their bucket in
    ``estimates.csv``; the fixed pass's are treated as seed-level numbers (as the tables always have)."""
    ref = lookup(metric)
    return ref if ref is not None and ref.variant is None and ref.mode == "policy" and ref.bucket is not None else None


def in_bucket(metric: str, bucket: str) -> str:
    """The key of ``metric`` (a pass metric) over one difficulty bucket."""
    ref = lookup(metric)
    if ref is None or ref.mode is None:
        raise KeyError(f"{metric!r} is not a pass metric")
    return key(ref.name, ref.mode, bucket=bucket, variant=ref.variant)


def values(cell: Cell, metric: str) -> np.ndarray | None:
    """``[seeds, items]`` outcomes behind ``metric`` (per test item when stored, else ``[seeds, 1]``)."""
    if ("values", metric) not in cell._values:
        cell._values["values", metric] = _values(cell, metric)
    return cell._values["values", metric]


def _values(cell: Cell, metric: str) -> np.ndarray | None:
    ok = cell.ok
    if not ok:
        return None
    matrix = per_example_values(cell, metric)
    if matrix is not None:
        return matrix
    seed_values = [(r.get("metrics") or {}).get(metric) for r in ok]
    seed_values = [v for v in seed_values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return np.array(seed_values, dtype=np.float64)[:, None] if seed_values else None


def items_of(ex: list[dict[str, Any]] | None) -> np.ndarray | None:
    """The test item of each row of one test split's per-example data, the same in every seed; None
    when the records predate item ids or their seeds disagree (then every row counts as an item)."""
    if not ex or any("item" not in e for e in ex):
        return None
    first = ex[0]["item"]
    return first if all(np.array_equal(e["item"], first) for e in ex[1:]) else None


def by_item(matrix: np.ndarray, item: np.ndarray | None) -> np.ndarray:
    """``[seeds, rows]`` -> ``[seeds, items]``: each test item's rows averaged, so that the augmented
    views of one input count once when an interval resamples the test set (``item``: one id per row;
    None, or no two rows of one item: the matrix unchanged). The mean is then over items — equal to
    the mean over rows when every item has as many rows (ARC: views per test input)."""
    if item is None:
        return matrix
    ids, inverse, counts = np.unique(item, return_inverse=True, return_counts=True)
    if len(ids) == len(item):
        return matrix
    sums = np.stack([np.bincount(inverse, weights=row, minlength=len(ids)) for row in matrix])
    return sums / counts


def per_example_values(cell: Cell, metric: str) -> np.ndarray | None:
    """``[seeds, items]`` per-item values behind ``metric`` when every seed stored them (`by_item`)."""
    if ("per_example", metric) not in cell._values:
        cell._values["per_example", metric] = _per_example_values(cell, metric)
    return cell._values["per_example", metric]


def _per_example_values(cell: Cell, metric: str) -> np.ndarray | None:
    ref = lookup(metric)
    if ref is None:
        return None
    ex = cell.examples if ref.variant is None else cell.variant_examples(ref.variant)
    if not ex or len({e["n"] for e in ex}) != 1:
        return None
    if ref.metric is catalogue.COMPUTE_SAVED:
        saved = _compute_saved(cell, ex)
        return None if saved is None else by_item(saved, items_of(ex))
    if ref.bucket is not None and _policy_bucket(metric) is None and not _baseline(ref.mode):
        return None
    array, mode = ref.array, ref.mode
    if array is None or mode is None or any(array not in e.get(mode, {}) for e in ex):
        return None
    matrix = np.stack([e[mode][array] for e in ex])
    items = cell.items if ref.variant is None else items_of(ex)
    if ref.bucket is None:
        return by_item(matrix, items)
    names = ex[0]["bucket_names"]
    if ref.bucket not in names:
        return None
    rows = ex[0]["bucket"] == names.index(ref.bucket)
    return by_item(matrix[:, rows], None if items is None else items[rows])


def _baseline(mode: str | None) -> bool:
    return mode is not None and mode.startswith(catalogue.BASELINE) and catalogue.is_pass(mode)


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


# --------------------------------------------------------------------------- trivial baselines


BASELINE_METRIC = "exact_accuracy"
"""What "the best trivial baseline" of a cell is best at, and what its margin is over."""


def baseline_modes(cell: Cell) -> list[str]:
    """The trivial baselines (``baseline:copy``, ...) that every successful seed's record holds."""
    ex = cell.examples
    if not ex:
        return []
    return sorted(set.intersection(*({m for m in e if _baseline(m)} for e in ex)))


@dataclass(frozen=True)
class Margin:
    """A cell minus its best trivial baseline, paired on the same seeds' records and test items."""

    baseline: str  # its mode, ``baseline:copy``
    baseline_mean: float
    difference: intervals.Comparison


def margin(cell: Cell, name: str = BASELINE_METRIC) -> Margin | None:
    """The cell's policy-pass ``name`` minus that of its best trivial baseline (the highest mean among
    the baselines its records hold), paired per seed and test item (`intervals.paired_difference`:
    the baseline is deterministic, so its rows agree and the interval is the model's seed spread plus
    the draw of the items); None when the records predate baselines or lack per-example data."""
    model = per_example_values(cell, key(name, "policy"))
    if model is None:
        return None
    scored = [(m, v) for m in baseline_modes(cell) if (v := per_example_values(cell, key(name, m))) is not None]
    if not scored:
        return None
    best, base = max(scored, key=lambda mv: float(mv[1].mean()))  # first (by name) among equals
    return Margin(best, float(base.mean()), intervals.paired_difference(model, base))


@dataclass(frozen=True)
class Baseline:
    """One trivial baseline on one task's test split, as a row of the tables: its values come from the
    per-example arrays of ``source``'s first seed (a baseline is the same in every record of one split)."""

    task: str
    mode: str
    source: Cell
    note: str = ""

    def values(self, metric: str) -> np.ndarray | None:
        """Per-item values of ``metric`` (a pass metric's key; its mode is replaced by this baseline's)."""
        ref = lookup(metric)
        if ref is None or ref.mode is None or ref.metric is None:
            return None
        try:
            own = key(ref.name, self.mode, bucket=ref.bucket)
        except KeyError:
            return None
        mat = per_example_values(self.source, own)
        return None if mat is None else mat[0]

    def estimate(self, metric: str) -> intervals.Estimate | None:
        """Mean with its interval over the test items only (`intervals.over_items`: no seed to vary)."""
        vec = self.values(metric)
        return intervals.over_items(vec) if vec is not None and vec.size else None


def trivial_baselines(cell_list: list[Cell]) -> list[Baseline]:
    """Each task's trivial baselines, one row per baseline and test split: the records of one task
    normally share one test split, and then one row stands for all of them; rows of a second split
    name the cell they come from."""
    out: list[Baseline] = []
    for task, grouped in itertools.groupby(cell_list, key=lambda c: c.task):
        seen: dict[tuple[str, bytes], Cell] = {}
        for cell in grouped:
            for mode in baseline_modes(cell):
                first = cell.examples[0] if cell.examples else {}
                arrays = first[mode]
                fingerprint = b"".join(
                    np.ascontiguousarray(a).tobytes()
                    for a in (first["bucket"], first.get("item", np.empty(0)), *(arrays[k] for k in sorted(arrays)))
                )
                seen.setdefault((mode, fingerprint), cell)
        several = {mode for mode, _ in seen if sum(m == mode for m, _ in seen) > 1}
        for (mode, _), cell in sorted(seen.items(), key=lambda kv: kv[0][0]):
            note = f"on the test split of {cell.model} ({cell.halting})" if mode in several else ""
            out.append(Baseline(task, mode, cell, note))
    return out


def estimate(cell: Cell, metric: str) -> intervals.Estimate | None:
    mat = values(cell, metric)
    return intervals.mean_ci(mat) if mat is not None and mat.size else None


def estimates(cell_list: list[Cell]) -> pd.DataFrame:
    """Long frame: every cell × metric with a per-example or per-seed source, mean and 95 % CI (none, as
    in buckets.md, for a bucket of fewer than `intervals.MIN_DISTINCT` distinct items)."""
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
            ref = lookup(metric)  # buckets of the own test split: the policy pass's and the baselines'
            own = ref is not None and ref.variant is None and (ref.mode == "policy" or _baseline(ref.mode))
            bucket = ref.bucket if ref is not None and own else None
            size = cell.distinct(bucket) if bucket is not None else None
            if size is not None and size[0] < intervals.MIN_DISTINCT:  # too few puzzles: no interval
                est = replace(est, low=np.nan, high=np.nan)
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
