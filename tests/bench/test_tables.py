"""Aggregation and table writing from result records (no training involved)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from looped_hrm.evaluation import per_example
from looped_hrm.evaluation.metrics import ExampleResults
from looped_hrm.report.tables import (
    buckets,
    cells,
    comparisons,
    curve_summary,
    curves,
    difficulty_gap,
    estimates,
    leaderboard,
    load_records,
    mean_std,
    records_to_frame,
    summary,
    task_metrics,
    write_tables,
)

BUCKETS = ("<7", "7-13", "14-27")  # sorted as text these would come out 14-27, 7-13, <7


def passes(correct, segments, flops_per_segment=10.0, cap=4):
    correct = torch.tensor(correct)
    segments = torch.tensor(segments)
    n = len(correct)

    def res(c, s):
        return ExampleResults(
            predictions=torch.zeros(n, 2, dtype=torch.int64),
            correct=c,
            token_accuracy=c.float(),
            segments=s,
            inner_steps=torch.zeros(n),
            flops=s.float() * flops_per_segment,
            first_correct=torch.zeros(n, dtype=torch.int64),
        )

    return {"policy": res(correct, segments), "fixed": res(correct, torch.full((n,), cap))}


def record(task, model, halting, seed, correct=None, segments=None, status="ok", bucket=None, uses_labels=False):
    combo = {"task": {"label": task}, "model": {"label": model}, "halting": {"label": halting}, "seed": seed}
    rec = {"key": f"{task}{model}{halting}{seed}", "combination": combo, "status": status}
    if status == "ok":
        correct = np.asarray(correct, dtype=bool)
        seg = segments if segments is not None else [4] * len(correct)
        bucket = torch.tensor(bucket if bucket is not None else [0] * len(correct))
        rec["metrics"] = {
            "policy/exact_accuracy": float(correct.mean()),
            "policy/mean_segments": float(np.mean(seg)),
            "fixed/exact_accuracy": float(correct.mean()),
            "eval_max_segments": 4,
            "fixed_segments": 4,
            "policy_uses_labels": uses_labels,
            "trainable_params": 1000,
            "train/wall_s": 1.0,
        }
        for b, name in enumerate(BUCKETS):
            rows = (bucket == b).numpy()
            if rows.any():
                rec["metrics"][f"policy/bucket/{name}/examples"] = int(rows.sum())
                rec["metrics"][f"policy/bucket/{name}/exact_accuracy"] = float(correct[rows].mean())
        rec["per_example"] = per_example.pack(passes(correct.tolist(), seg), bucket=bucket, bucket_names=BUCKETS)
    elif status == "skipped":
        rec["reason"] = "no inner level"
    else:
        rec["error"] = "RuntimeError: boom"
    return rec


@pytest.fixture
def records():
    rng = np.random.default_rng(0)
    truth = rng.random(300) < 0.5
    strong = truth | (rng.random(300) < 0.6)  # solves everything the weak one does, and more
    bucket = np.repeat([2, 0, 1], 100)
    return [
        record("sudoku", "hrm", "act_q", 0, strong, segments=[2] * 100 + [4] * 200, bucket=bucket),
        record("sudoku", "hrm", "act_q", 1, strong, segments=[2] * 100 + [4] * 200, bucket=bucket),
        record("sudoku", "baseline", "act_q", 0, truth, bucket=bucket),
        record("sudoku", "baseline", "act_q", 1, status="failed"),
        record("sudoku", "baseline", "oracle", 0, np.ones(300, bool), bucket=bucket, uses_labels=True),
        record("sudoku", "baseline", "two_level", 0, status="skipped"),
    ]


def test_mean_std_over_seeds():
    assert mean_std(pd.Series([0.5, 0.7]), "pct") == "60.0 ± 14.1"
    assert mean_std(pd.Series([0.5]), "pct") == "50.0"
    assert mean_std(pd.Series([], dtype=float), "pct") == "—"


def test_frame_is_tidy_with_flattened_metrics(records):
    frame = records_to_frame(records)
    assert list(frame.columns[:4]) == ["task", "model", "halting", "seed"]
    assert len(frame) == 6
    assert not any(c.startswith("per_example") for c in frame.columns)


def test_summary_gives_intervals_counts_only_successful_seeds_and_marks_the_oracle(records):
    table = summary(cells(records)).set_index(["model", "halting"])
    hrm = table.loc[("hrm", "act_q")]
    assert hrm["seeds"] == "2/2" and "[" in hrm["exact acc"]
    assert hrm["compute saved vs fixed"].startswith("16.7")  # 100 of 300 examples stop at 2 of 4 segments
    assert table.loc[("baseline", "act_q"), "seeds"] == "1/2"
    assert "boom" in table.loc[("baseline", "act_q"), "note"]
    assert ("baseline", "oracle (upper bound: uses labels)") in table.index
    assert table.loc[("baseline", "two_level"), "note"] == "no inner level"


def test_leaderboard_bolds_the_significant_best_and_never_ranks_the_oracle(records):
    board = leaderboard(cells(records)).set_index("task")
    assert board.loc["sudoku", "hrm (act_q)"].startswith("**")
    assert not board.loc["sudoku", "baseline (act_q)"].startswith("**")
    assert board.loc["sudoku", "baseline (oracle) †"] == "100.0"  # the best number, not bold: an upper bound
    assert board.loc["sudoku", "baseline (two_level)"] == "skipped"
    pairs = comparisons(cells(records))
    assert list(pairs[["A", "B", "significant"]].iloc[0]) == ["hrm (act_q)", "baseline (act_q)", "yes"]


def test_buckets_come_in_the_task_order_with_compute(records):
    table = buckets(cells(records))
    hrm = table[table.model == "hrm"]
    assert list(hrm.bucket) == list(BUCKETS)
    assert list(hrm.segments) == ["4.00", "4.00", "2.00"]  # the '14-27' rows (the first 100) stopped at 2


def test_difficulty_gap_is_hardest_minus_easiest_within_each_run(records):
    gap = difficulty_gap(cells(records))
    hrm = gap[gap.model == "hrm"].iloc[0]
    # hardest '14-27' (the first 100 puzzles) stopped at 2, easiest '<7' at 4: 2 fewer segments, every seed
    assert (hrm.gap, hrm.seeds, hrm["extra segments"], hrm["each seed"]) == ("14-27 − <7", 2, "-2.00", "-2.00, -2.00")
    assert gap[gap.model == "baseline"].iloc[0]["extra segments"] == "0.00"  # 4 segments everywhere


def test_difficulty_gap_interval_follows_the_seeds(records):
    rng = np.random.default_rng(1)
    bucket = np.repeat([0, 1, 2], 100)
    recs = [
        record(
            "sudoku",
            "hrm",
            "act_bce",
            s,
            rng.random(300) < 0.5,
            bucket=bucket,
            segments=[3] * 100 + [4] * 100 + [3 + extra] * 100,
        )
        for s, extra in enumerate((1, 2, 3))
    ]
    row = difficulty_gap(cells(recs)).iloc[0]
    assert row["each seed"] == "+1.00, +2.00, +3.00"
    mean, interval = row["extra segments"].split(" [")
    low, high = (float(v) for v in interval.rstrip("]").split(", "))
    assert mean == "2.00" and 1.0 <= low < 2.0 < high <= 3.0  # seeds resampled: spans their spread


def test_estimates_are_long_and_bootstrap_over_examples(records):
    est = estimates(cells(records))
    row = est[(est.model == "hrm") & (est.metric == "policy/exact_accuracy")].iloc[0]
    assert row.ci_low < row["mean"] < row.ci_high and (row.seeds, row.examples) == (2, 300)


def test_write_tables_and_reload(tmp_path, records):
    (tmp_path / "runs").mkdir()
    for i, rec in enumerate(records):
        (tmp_path / "runs" / f"{i}.json").write_text(json.dumps(rec))
    (tmp_path / "runs" / "broken.json").write_text("{not json")
    loaded = load_records(tmp_path)
    assert len(loaded) == 6
    write_tables(tmp_path, loaded, title="t", command="python -m looped_hrm.bench x", latex=True)
    for name in (
        "results.csv",
        "estimates.csv",
        "results.md",
        "leaderboard.md",
        "comparisons.md",
        "buckets.md",
        "results.tex",
    ):
        assert (tmp_path / name).stat().st_size > 0
    text = (tmp_path / "results.md").read_text()
    assert "python -m looped_hrm.bench x" in text and "percentile bootstrap" in text
    assert len(pd.read_csv(tmp_path / "results.csv")) == 6


def test_records_without_per_example_data_fall_back_to_seeds(records):
    for rec in records:
        rec.pop("per_example", None)
    table = summary(cells(records)).set_index(["model", "halting"])
    assert table.loc[("hrm", "act_q"), "exact acc"].count("[") == 0  # two equal seeds: no width


def test_learning_curves_and_task_metrics_tables(records):
    rng = np.random.default_rng(5)
    for rec, acc in zip(records[:3], (0.6, 0.7, 0.4)):
        rec["learning_curve"] = [
            {
                "fraction": f,
                "step": int(100 * f),
                "train_flops": 1e9 * f,
                "exact_accuracy": acc * f,
                "correct": per_example.encode(rng.random(300) < acc * f, "bits"),
            }
            for f in (0.25, 0.5, 1.0)
        ]
        rec["metrics"]["policy/task/pass@2"] = acc
    curve = curves(cells(records))
    hrm = curve[curve.model == "hrm"].sort_values("fraction")
    assert list(hrm.fraction) == [0.25, 0.5, 1.0] and list(hrm.step) == [25, 50, 100]
    assert (hrm.ci_low < hrm["mean"]).all() and hrm.seeds.tolist() == [2, 2, 2]
    table = curve_summary(curve).set_index("model")
    assert table.loc["hrm", "best within budget"].endswith("at 100%")
    assert table.loc["hrm", "steps to X"] == "100" and table.loc["baseline", "steps to X"] == "not reached"
    extra = task_metrics(cells(records)).set_index("model")
    assert extra.loc["hrm", "pass@2"].startswith("65.0")


def test_bucket_names_without_a_stored_order_sort_by_number():
    from looped_hrm.report.tables import _natural

    names = ["14-27", ">=28", "7-13", "<7"]
    assert sorted(names, key=_natural) == ["<7", "7-13", "14-27", ">=28"]
