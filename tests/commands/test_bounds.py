"""Every value a command takes is bounded and checked before any work starts (issue 21, case 10):
one ``error:`` line naming the option, exit 2 — never a silent default, a run that prints nothing,
one that never ends, or a traceback after the work is done."""

from __future__ import annotations

import pytest

from .conftest import command, refused

RUN = ["run", "--tasks", "parity", "--models", "hrm", "--preset", "tiny"]


@pytest.mark.parametrize("value", ["0", "-1", "1000000000"])
def test_trace_segments_out_of_range(capsys, tmp_path, value):
    assert refused(capsys, "trace", str(tmp_path), "--segments", value).startswith(f"error: --segments {value}: ")


def test_trace_index_below_zero(capsys, tmp_path):
    assert refused(capsys, "trace", str(tmp_path), "--index", "-1").startswith("error: --index -1: ")


def test_trace_picture_kind_is_checked_before_the_trace_runs(capsys, tmp_path):
    err = refused(capsys, "trace", str(tmp_path), "--out", str(tmp_path / "x.jpg"))
    assert err == f"error: --out {tmp_path / 'x.jpg'}: a trace picture ends in .png (a strip) or .gif (an animation)"


@pytest.mark.slow
@pytest.mark.parametrize("value", ["0", "-1"])
def test_trace_segments_zero_or_negative_is_not_a_default(capsys, run_dir, value):
    """Checked in a real run folder: 0 once meant 'the default' and -1 printed nothing, both exit 0."""
    assert refused(capsys, "trace", str(run_dir), "--segments", value).startswith(f"error: --segments {value}: ")


@pytest.mark.slow
def test_trace_picture_kind_in_a_real_run(capsys, run_dir, tmp_path):
    err = refused(capsys, "trace", str(run_dir), "--segments", "2", "--out", str(tmp_path / "x.jpg"))
    assert "a trace picture ends in .png" in err


@pytest.mark.parametrize("option, value", [("--segments", "1000000000"), ("--segments", "0"), ("--limit", "-1")])
def test_analyze_values_out_of_range(capsys, tmp_path, option, value):
    assert refused(capsys, "analyze", str(tmp_path), option, value).startswith(f"error: {option} {value}: ")


@pytest.mark.slow
@pytest.mark.parametrize("option, value", [("--max-segments", "0"), ("--max-segments", "100000"), ("--limit", "0")])
def test_eval_values_out_of_range(capsys, run_dir, option, value):
    err = refused(capsys, "eval", str(run_dir), "--no-progress", option, value)
    assert err.startswith(f"error: {option} {value}: ")
    assert not (run_dir / "evals").exists()


@pytest.mark.parametrize("value", ["-1", str(2**40)])
def test_train_seed_out_of_range(capsys, tmp_path, value):
    out = tmp_path / "out"
    err = refused(capsys, "train", "--task", "parity", "--model", "hrm", "--seed", value, "--out", str(out))
    assert err.startswith(f"error: --seed {value}: ") and not out.exists()


def test_train_max_segments_that_would_never_finish_evaluating(capsys, tmp_path):
    out = tmp_path / "out"
    err = refused(
        capsys,
        "train",
        "--task",
        "parity",
        "--model",
        "hrm",
        "--set",
        "train.max_segments=1000000000",
        "--out",
        str(out),
    )
    assert "--set train.max_segments=1000000000: train.max_segments: max_segments must be <= 4096" in err


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--seeds=-1,0"], "seed -1 is outside 0..2147483647"),
        (["--seeds", str(2**40) + ","], f"seed {2**40} is outside"),
        (["--seeds", "1000000000"], "--seeds 1000000000: expected a count of seeds from 1 to 1000000"),
        (["--jobs", "100000"], "--jobs 100000: expected a number of worker processes from 1 to 1024"),
        (["--seeds", "400000", "--halting", "act_q,fixed,act_bce"], "the grid has 1,200,000 combinations"),
    ],
    ids=["negative-seed", "huge-seed", "seed-count", "jobs", "grid-size"],
)
def test_grid_values_out_of_range(capsys, tmp_path, args, expected):
    out = tmp_path / "out"
    err = refused(capsys, *RUN, *args, "--dry-run", "--out", str(out))
    assert expected in err and not out.exists()


@pytest.mark.parametrize("option", ["--batch", "--steps", "--warmup", "--threads"])
def test_speed_values_out_of_range(capsys, option):
    assert refused(capsys, "speed", "--model", "hrm", "--device", "cpu", option, "0").startswith(f"error: {option} 0: ")


def test_a_valid_grid_still_dry_runs(capsys, tmp_path):
    code, out, err = command(capsys, *RUN, "--seeds", "3", "--dry-run")
    assert code == 0, err
    assert "3 combinations" in out
