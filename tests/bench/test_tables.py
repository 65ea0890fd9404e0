"""Aggregation and table writing from result records (no training involved)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from looped_hrm.evaluation import per_example
from looped_hrm.evaluation.baselines import BaselineResult
from looped_hrm.evaluation.metrics import ExampleResults
from looped_hrm.overlap import Overlap
from looped_hrm.report import intervals
from looped_hrm.report.cells import cells, estimate, estimates, load_records, margin, records_to_frame
from looped_hrm.report.curves import curve_summary, curves
from looped_hrm.report.formatting import mean_std
from looped_hrm.report.tables import (
    buckets,
    comparisons,
    difficulty_gap,
    leaderboard,
    margins,
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


def record(
    task,
    model,
    halting,
    seed,
    correct=None,
    segments=None,
    status="ok",
    bucket=None,
    uses_labels=False,
    item=None,
    baselines=None,
):
    """A synthetic record; ``item`` (one test item per row) and ``baselines`` (name -> correct per row)
    are stored as an evaluation stores them."""
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
        overlap = None if item is None else Overlap(item=np.asarray(item), seen=np.zeros(len(correct), bool))
        scored = {
            name: BaselineResult(torch.tensor(np.asarray(c, bool)), torch.tensor(np.asarray(c, float)), None)
            for name, c in (baselines or {}).items()
        }
        for name, c in (baselines or {}).items():
            rec["metrics"][f"baseline:{name}/exact_accuracy"] = float(np.mean(c))
        rec["per_example"] = per_example.pack(
            passes(correct.tolist(), seg), bucket=bucket, bucket_names=BUCKETS, overlap=overlap, baselines=scored
        )
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


# ------------------------------------------------------------------ trivial baselines, items, buckets


def _with_baselines(n=120, seeds=3):
    """A model that solves the first 60 % of ``n`` puzzles (and a few more per seed), next to a copy
    baseline that solves the first 30 % and a majority baseline that solves none."""
    rng = np.random.default_rng(3)
    copy, majority = np.arange(n) < 0.3 * n, np.zeros(n, bool)
    bases = {"copy": copy, "majority": majority}
    return [
        record("maze", "hrm", "fixed", s, (np.arange(n) < 0.6 * n) | (rng.random(n) < 0.1), baselines=bases)
        for s in range(seeds)
    ], copy


def test_baselines_are_rows_and_columns_with_an_interval_over_items_only():
    recs, copy = _with_baselines()
    table = summary(cells(recs)).set_index("model")
    row = table.loc["baseline:copy"]
    assert (row["halting"], row["seeds"]) == ("—", "—")
    half = 100 * stats.t.isf(0.025, len(copy) - 1) * copy.std(ddof=1) / np.sqrt(len(copy))
    assert row["exact acc"] == f"30.0 [{30 - half:.1f}, {30 + half:.1f}]"  # no seed: the items' t interval
    assert row["segments"] == "—" and table.loc["baseline:majority", "exact acc"] == "0.0"
    board = leaderboard(cells(recs)).set_index("task").loc["maze"]
    assert board["baseline:copy"] == row["exact acc"] and board["hrm"].startswith("**")  # baselines never bold
    one = intervals.over_items(copy)
    assert (one.seeds, one.examples) == (1, len(copy)) and one.low == pytest.approx(0.3 - half / 100)


def test_margin_over_the_best_baseline_is_paired_on_seeds_and_items():
    recs, copy = _with_baselines()
    cell = cells(recs)[0]
    found = margin(cell)
    assert found.baseline == "baseline:copy" and found.baseline_mean == pytest.approx(0.3)  # majority solves none
    model = np.stack([per_example.unpack(r["per_example"])["policy"]["correct"] for r in recs]).astype(float)
    expected = intervals.paired_difference(model, np.tile(copy.astype(float), (3, 1)))
    assert found.difference == expected and expected.testable
    row = margins(cells(recs)).set_index("task").loc["maze"]
    assert row["best trivial baseline"] == "baseline:copy (30.0)"
    assert row["hrm"] == f"{100 * expected.diff:+.1f} [{100 * expected.low:+.1f}, {100 * expected.high:+.1f}]"
    two = margins(cells(recs[:2])).set_index("task").loc["maze", "hrm"]
    assert two.endswith("[no CI: 2 seeds]")


def test_records_without_baselines_show_a_dash_and_say_why(tmp_path, records):
    table = margins(cells(records)).set_index("task").loc["sudoku"]
    assert table["best trivial baseline"] == "—" and table["hrm (act_q)"] == "—"
    assert table["baseline (two_level)"] == "skipped"
    assert not any(m.startswith("baseline:") for m in summary(cells(records)).model)
    write_tables(tmp_path, records)
    text = (tmp_path / "leaderboard.md").read_text()
    assert "predate the trivial baselines" in text and "Margin over the best trivial baseline" in text
    assert "predate item ids" in text
    recs, _ = _with_baselines()
    write_tables(tmp_path, recs)
    text = (tmp_path / "results.md").read_text()
    assert "over the test items only" in text and "predate" not in text.replace("predate item ids", "")


def test_views_of_one_item_count_once():
    """8 test inputs seen through 4 views each (32 rows, ARC-like): the interval is over the 8 inputs,
    each the mean of its views — as wide as that of the 8 averaged values, wider than over 32 rows."""
    rng = np.random.default_rng(7)
    item = np.repeat(np.arange(8), 4)
    solved = rng.random((3, 8)) < 0.5
    views = solved[:, item] ^ (rng.random((3, 32)) < 0.1)  # a view now and then disagrees with its input's
    recs = [record("arc", "hrm", "fixed", s, views[s], item=item) for s in range(3)]
    est = estimate(cells(recs)[0], "policy/exact_accuracy")
    by_input = views.reshape(3, 8, 4).mean(2)
    assert est == intervals.mean_ci(by_input) and est.examples == 8
    rows = intervals.mean_ci(views.astype(float))
    assert est.mean == pytest.approx(rows.mean) and est.high - est.low > rows.high - rows.low
    no_ids = [record("arc", "hrm", "fixed", s, views[s]) for s in range(3)]  # older records: rows
    assert estimate(cells(no_ids)[0], "policy/exact_accuracy") == rows


def test_a_bucket_with_too_few_distinct_items_prints_no_interval():
    """Bucket '<7': 40 rows that are 2 puzzles up to symmetry; '7-13': 40 distinct puzzles."""
    rng = np.random.default_rng(2)
    bucket = np.repeat([0, 1], 40)
    item = np.r_[np.arange(40) % 2, 2 + np.arange(40)]
    recs = [
        record(
            "sudoku",
            "hrm",
            "act_q",
            s,
            rng.random(80) < 0.5,
            segments=rng.integers(1, 5, 80),
            bucket=bucket,
            item=item,
            baselines={"copy": np.arange(80) % 4 == 0},
        )
        for s in range(3)
    ]
    table = buckets(cells(recs)).set_index(["model", "bucket"])
    few, many = table.loc[("hrm", "<7")], table.loc[("hrm", "7-13")]
    assert (few["examples"], few["distinct"], many["distinct"]) == (40, "2", "40")
    assert few["exact acc"].endswith("[no CI: 2 distinct]") and few["segments"].endswith("[no CI: 2 distinct]")
    assert "no CI" not in many["exact acc"] and "[" in many["exact acc"]
    base = table.loc[("baseline:copy", "<7")]
    assert base["halting"] == "—" and base["exact acc"].endswith("[no CI: 2 distinct]")
    assert table.loc[("baseline:copy", "7-13"), "segments"] == "—"
    gap = difficulty_gap(cells(recs)).iloc[0]
    assert gap["extra segments"].endswith("[no CI: 2 distinct]")
    est = estimates(cells(recs)).set_index(["model", "metric"])  # what the plots and the site draw
    assert np.isnan(est.loc[("hrm", "policy/bucket/<7/exact_accuracy"), "ci_low"])
    assert not np.isnan(est.loc[("hrm", "policy/bucket/7-13/exact_accuracy"), "ci_low"])
    for rec in recs:  # records without item ids: rows are counted, 40 of them
        del rec["per_example"]["item"], rec["per_example"]["seen"]
    old = buckets(cells(recs)).set_index(["model", "bucket"]).loc[("hrm", "<7")]
    assert old["distinct"] == "—" and "no CI" not in old["exact acc"]


def test_a_baseline_that_a_task_lacks_is_a_dash():
    recs, _ = _with_baselines()
    n = 120
    other = [
        record("parity", "hrm", "fixed", s, np.ones(n, bool), baselines={"copy": np.zeros(n, bool)}) for s in range(3)
    ]
    board = leaderboard(cells(recs + other)).set_index("task")
    assert board.loc["parity", "baseline:majority"] == "—" and board.loc["parity", "baseline:copy"] == "0.0"
    # the same answers in every seed and a constant gap: a margin without width prints no interval
    assert margins(cells(other)).set_index("task").loc["parity", "hrm"] == "+100.0"
