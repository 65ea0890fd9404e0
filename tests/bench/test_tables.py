"""Aggregation and table writing from result records (no training involved)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from looped_hrm.evaluation import per_example
from looped_hrm.evaluation.metrics import ExampleResults
from looped_hrm.report.cells import cells, estimates, load_records, records_to_frame
from looped_hrm.report.curves import curve_summary, curves
from looped_hrm.report.formatting import mean_std
from looped_hrm.report.tables import (
    buckets,
    comparisons,
    difficulty_gap,
    leaderboard,
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
    bucket = np.repeat([2, 0, 1], 100)
    hrm = [  # each seed solves everything the baseline does, and more
        record(
            "sudoku", "hrm", "act_q", s, truth | (rng.random(300) < 0.6), segments=[2] * 100 + [4] * 200, bucket=bucket
        )
        for s in range(3)
    ]
    return hrm + [
        record("sudoku", "baseline", "act_q", 0, truth, bucket=bucket),
        record("sudoku", "baseline", "act_q", 1, truth, bucket=bucket),
        record("sudoku", "baseline", "act_q", 2, truth, bucket=bucket),
        record("sudoku", "baseline", "act_q", 3, status="failed"),
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
    assert len(frame) == 9
    assert not any(c.startswith("per_example") for c in frame.columns)


def test_summary_gives_intervals_counts_only_successful_seeds_and_marks_the_oracle(records):
    table = summary(cells(records)).set_index(["model", "halting"])
    hrm = table.loc[("hrm", "act_q")]
    assert hrm["seeds"] == "3/3" and "[" in hrm["exact acc"]
    assert hrm["compute saved vs fixed"].startswith("16.7")  # 100 of 300 examples stop at 2 of 4 segments
    assert table.loc[("baseline", "act_q"), "seeds"] == "3/4"
    oracle = table.loc[("baseline", "oracle (upper bound: uses labels)")]
    assert oracle["exact acc"] == "100.0 [no CI: 1 seed]"  # one seed says nothing about the next
    assert "boom" in table.loc[("baseline", "act_q"), "note"]
    assert ("baseline", "oracle (upper bound: uses labels)") in table.index
    assert table.loc[("baseline", "two_level"), "note"] == "no inner level"


def test_leaderboard_bolds_the_significant_best_and_never_ranks_the_oracle(records):
    board = leaderboard(cells(records)).set_index("task")
    assert board.loc["sudoku", "hrm (act_q)"].startswith("**")
    assert not board.loc["sudoku", "baseline (act_q)"].startswith("**")
    # the best number, not bold: an upper bound (and one seed: no interval)
    assert board.loc["sudoku", "baseline (oracle) †"] == "100.0 [no CI: 1 seed]"
    assert board.loc["sudoku", "baseline (two_level)"] == "skipped"
    pairs = comparisons(cells(records))
    assert list(pairs[["A", "B", "seeds", "significant"]].iloc[0]) == ["hrm (act_q)", "baseline (act_q)", 3, "yes"]


def _solving_first(model, solved, seeds=None):
    """One record per seed of ``model``: seed s solves the first ``solved[s]`` of 100 puzzles."""
    seeds = range(len(solved)) if seeds is None else seeds
    return [record("t", model, "fixed", s, np.arange(100) < k) for s, k in zip(seeds, solved)]


def test_bold_and_significance_use_holm_over_the_task_pairs():
    """a − c has p = 0.031 alone, 0.093 after Holm over the task's three testable pairs: c stays bold
    (tied with the best). b has two seeds, cannot be tested, and is not bold."""
    recs = _solving_first("a", (60, 62, 64)) + _solving_first("c", (56, 57, 61)) + _solving_first("d", (54, 58, 63))
    recs += _solving_first("b", (30, 31))
    pairs = comparisons(cells(recs)).set_index(["A", "B"])
    assert list(pairs.loc[("a (fixed)", "c (fixed)"), ["p", "p (Holm)", "significant"]]) == ["0.031", "0.093", "no"]
    assert list(pairs.loc[("a (fixed)", "d (fixed)"), ["p", "p (Holm)"]]) == ["0.138", "0.277"]
    ab = pairs.loc[("a (fixed)", "b (fixed)")]
    assert (ab["seeds"], ab["p"], ab["p (Holm)"], ab["significant"]) == (2, "—", "—", "—")
    assert ab["A − B (points)"] == "+30.5 [no CI: 2 seeds in common]"  # seeds 0 and 1: 61 − 30.5
    board = leaderboard(cells(recs)).set_index("task").loc["t"]
    assert all(board[m].startswith("**") for m in "acd")  # tied with the best after Holm
    assert board["b"] == "30.5 [no CI: 2 seeds]"  # untested: not bold


def test_pairs_use_the_common_seeds_only():
    recs = _solving_first("a", (70, 72, 69, 71), seeds=(0, 1, 2, 3)) + _solving_first(
        "b", (30, 31, 29, 30), (1, 2, 3, 4)
    )
    row = comparisons(cells(recs)).iloc[0]
    assert row["seeds"] == 3 and row["A − B (points)"].startswith("+40.7 ") and row["significant"] == "yes"


def test_buckets_come_in_the_task_order_with_compute(records):
    table = buckets(cells(records))
    hrm = table[table.model == "hrm"]
    assert list(hrm.bucket) == list(BUCKETS)
    assert list(hrm.segments) == ["4.00", "4.00", "2.00"]  # the '14-27' rows (the first 100) stopped at 2


def test_difficulty_gap_is_hardest_minus_easiest_within_each_run(records):
    gap = difficulty_gap(cells(records))
    hrm = gap[gap.model == "hrm"].iloc[0]
    # hardest '14-27' (the first 100 puzzles) stopped at 2, easiest '<7' at 4: 2 fewer segments, every seed
    assert (hrm.gap, hrm.seeds, hrm["extra segments"], hrm["each seed"]) == (
        "14-27 − <7",
        3,
        "-2.00",  # no width: the same gap in every seed, constant within each bucket
        "-2.00, -2.00, -2.00",
    )
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
    half = 4.303 / np.sqrt(3)  # t(2) × sd 1 of the seeds' gaps / sqrt(3); constant within each bucket
    assert row["extra segments"] == f"2.00 [{2 - half:.2f}, {2 + half:.2f}]"
    two = difficulty_gap(cells(recs[:2])).iloc[0]
    assert two["extra segments"] == "1.50 [no CI: 2 seeds]"


def test_estimates_are_long_over_seeds_and_examples(records):
    est = estimates(cells(records))
    row = est[(est.model == "hrm") & (est.metric == "policy/exact_accuracy")].iloc[0]
    assert row.ci_low < row["mean"] < row.ci_high and (row.seeds, row.examples) == (3, 300)
    oracle = est[(est.halting == "oracle") & (est.metric == "policy/exact_accuracy")].iloc[0]
    assert np.isnan(oracle.ci_low) and np.isnan(oracle.ci_high)  # one seed: no interval


def test_write_tables_and_reload(tmp_path, records):
    (tmp_path / "runs").mkdir()
    for i, rec in enumerate(records):
        (tmp_path / "runs" / f"{i}.json").write_text(json.dumps(rec))
    (tmp_path / "runs" / "broken.json").write_text("{not json")
    loaded = load_records(tmp_path)
    assert len(loaded) == 9
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
    assert "python -m looped_hrm.bench x" in text and "t(seeds − 1)" in text
    assert len(pd.read_csv(tmp_path / "results.csv")) == 9


def test_records_without_per_example_data_fall_back_to_seeds(records):
    for rec in records:
        rec.pop("per_example", None)
    table = summary(cells(records)).set_index(["model", "halting"])
    assert table.loc[("baseline", "act_q"), "exact acc"].count("[") == 0  # three equal seeds: no width
    hrm = [r["metrics"]["policy/exact_accuracy"] for r in records[:3]]
    half = 4.303 * np.std(hrm, ddof=1) / np.sqrt(3)  # the t interval on the seeds' values
    low = 100 * (np.mean(hrm) - half)
    assert table.loc[("hrm", "act_q"), "exact acc"].split(" [")[1].startswith(f"{low:.1f}, ")


def test_learning_curves_and_task_metrics_tables(records):
    rng = np.random.default_rng(5)
    for rec, acc in zip(records[:6], (0.6, 0.7, 0.65, 0.4, 0.4, 0.4)):
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
    assert (hrm.ci_low < hrm["mean"]).all() and hrm.seeds.tolist() == [3, 3, 3]
    table = curve_summary(curve).set_index("model")
    assert table.loc["hrm", "best within budget"].endswith("at 100%")
    assert table.loc["hrm", "steps to X"] == "100" and table.loc["baseline", "steps to X"] == "not reached"
    extra = task_metrics(cells(records)).set_index("model")
    assert extra.loc["hrm", "pass@2"].startswith("65.0")


def test_bucket_names_without_a_stored_order_sort_by_number():
    from looped_hrm.report.cells import natural_order

    names = ["14-27", ">=28", "7-13", "<7"]
    assert sorted(names, key=natural_order) == ["<7", "7-13", "14-27", ">=28"]
