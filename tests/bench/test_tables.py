"""Aggregation and table writing from result records (no training involved)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from looped_hrm.bench.tables import leaderboard, load_records, mean_std, records_to_frame, summary, write_tables


def record(task, model, halting, seed, status="ok", buckets=None, fixed=None, **policy):
    combo = {"task": {"label": task}, "model": {"label": model}, "halting": {"label": halting}, "seed": seed}
    rec = {"key": f"{task}{model}{halting}{seed}", "combination": combo, "status": status}
    if status == "ok":
        metrics = {f"policy/{k}": v for k, v in policy.items()}
        for bucket, values in (buckets or {}).items():
            metrics.update({f"policy/bucket/{bucket}/{k}": v for k, v in values.items()})
        metrics.update({f"fixed/{k}": v for k, v in (fixed or {}).items()})
        rec["metrics"] = metrics
    elif status == "skipped":
        rec["reason"] = "no inner level"
    else:
        rec["error"] = "RuntimeError: boom"
    return rec


@pytest.fixture
def records():
    return [
        record("sudoku", "hrm", "act_q", 0, exact_accuracy=0.50, token_accuracy=0.9, mean_segments=4.0,
               buckets={"easy": {"exact_accuracy": 0.8, "mean_segments": 3.0}, "hard": {"exact_accuracy": 0.2, "mean_segments": 5.0}},
               fixed={"exact_accuracy": 0.55}),
        record("sudoku", "hrm", "act_q", 1, exact_accuracy=0.70, token_accuracy=0.95, mean_segments=6.0,
               buckets={"easy": {"exact_accuracy": 1.0, "mean_segments": 5.0}, "hard": {"exact_accuracy": 0.4, "mean_segments": 7.0}},
               fixed={"exact_accuracy": 0.75}),
        record("sudoku", "baseline", "act_q", 0, exact_accuracy=0.10, token_accuracy=0.7, mean_segments=2.0),
        record("sudoku", "baseline", "act_q", 1, status="failed"),
        record("sudoku", "baseline", "two_level", 0, status="skipped"),
    ]


def test_mean_std_over_seeds():
    assert mean_std(pd.Series([0.5, 0.7]), "pct") == "60.0 ± 14.1"
    assert mean_std(pd.Series([0.5]), "pct") == "50.0"
    assert mean_std(pd.Series([], dtype=float), "pct") == "—"


def test_frame_is_tidy_with_flattened_metrics(records):
    frame = records_to_frame(records)
    assert list(frame.columns[:4]) == ["task", "model", "halting", "seed"]
    assert len(frame) == 5
    row = frame[(frame.model == "hrm") & (frame.seed == 1)].iloc[0]
    assert row["policy/bucket/hard/exact_accuracy"] == 0.4 and row["fixed/exact_accuracy"] == 0.75


def test_summary_aggregates_only_successful_seeds_and_keeps_reasons(records):
    table = summary(records_to_frame(records)).set_index(["model", "halting"])
    assert table.loc[("hrm", "act_q"), "exact acc"] == "60.0 ± 14.1"
    assert table.loc[("hrm", "act_q"), "exact acc @max"] == "65.0 ± 14.1"
    assert table.loc[("hrm", "act_q"), "seeds"] == "2/2"
    assert table.loc[("baseline", "act_q"), "seeds"] == "1/2"
    assert "boom" in table.loc[("baseline", "act_q"), "note"]
    assert table.loc[("baseline", "two_level"), "note"] == "no inner level"


def test_leaderboard_pivots_task_by_model(records):
    board = leaderboard(records_to_frame(records)).set_index("task")
    assert board.loc["sudoku", "hrm (act_q)"] == "60.0 ± 14.1"
    assert board.loc["sudoku", "baseline (two_level)"] == "skipped"


def test_write_tables_and_reload(tmp_path, records):
    (tmp_path / "runs").mkdir()
    for i, rec in enumerate(records):
        (tmp_path / "runs" / f"{i}.json").write_text(json.dumps(rec))
    (tmp_path / "runs" / "broken.json").write_text("{not json")
    loaded = load_records(tmp_path)
    assert len(loaded) == 5
    write_tables(tmp_path, loaded, title="t", command="python -m looped_hrm.bench x", latex=True)
    for name in ("results.csv", "results.md", "leaderboard.md", "buckets.md", "results.tex"):
        assert (tmp_path / name).stat().st_size > 0
    assert "python -m looped_hrm.bench x" in (tmp_path / "results.md").read_text()
    buckets = (tmp_path / "buckets.md").read_text()
    assert "easy" in buckets and "90.0 ± 14.1" in buckets
    assert len(pd.read_csv(tmp_path / "results.csv")) == 5
