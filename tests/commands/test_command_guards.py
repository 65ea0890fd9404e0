"""Every command that writes into a folder holds it, as `run`, `train` and `eval` do (issue 21, what
must be true 1): `report` (the tables of DIR), `analyze` (DIR/analysis) and `speed` (speed.json,
which it merges into); and `speed` validates the table it reads, as the readers of records do."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from looped_hrm.commands import main
from looped_hrm.experiment import speed
from looped_hrm.runner.lock import FolderLock

from .conftest import refused

RESULTS = Path(__file__).resolve().parents[2] / "results" / "sudoku4-difficulty"


def test_report_waits_for_a_folder_another_command_holds(capsys, tmp_path):
    """A report while a grid runs in DIR could replace the grid's final tables with ones made from
    fewer records (both write the same files)."""
    out = tmp_path / "results"
    shutil.copytree(RESULTS / "runs", out / "runs")
    with FolderLock(out):
        err = refused(capsys, "report", str(out))
    assert f"report {out}: in use by another looped_hrm command (PID {os.getpid()})" in err
    assert not (out / "results.md").exists()


def test_report_of_a_missing_folder_creates_nothing(capsys, tmp_path):
    missing = tmp_path / "nothing"
    assert refused(capsys, "report", str(missing)) == f"error: {missing}: no such results folder"
    assert not missing.exists()


@pytest.mark.slow
def test_analyze_waits_for_another_analysis_of_the_folder(capsys, run_dir):
    with FolderLock(run_dir / "analysis"):
        err = refused(capsys, "analyze", str(run_dir), "--limit", "4", "--segments", "2")
    assert f"--out {run_dir / 'analysis'}: in use by another looped_hrm command" in err
    assert sorted(p.name for p in (run_dir / "analysis").iterdir()) == [".lock"]


SPEED = ["speed", "--model", "hrm", "--preset", "tiny", "--task", "sudoku", "--task-preset", "tiny"]
QUICK = [*SPEED, "--batch", "2", "--steps", "1", "--warmup", "1", "--device", "cpu"]


@pytest.mark.parametrize("text", ["{not json", "[]", '{"rows": [{"model": "hrm"}]}'])
def test_speed_refuses_a_damaged_table_before_timing(capsys, tmp_path, monkeypatch, text):
    """Was a traceback (JSONDecodeError, TypeError, KeyError) after the whole measurement."""
    (tmp_path / "speed.json").write_text(text)

    def never(*args, **kwargs):
        raise AssertionError("timed before the table was checked")

    monkeypatch.setattr(speed, "measure", never)
    err = refused(capsys, *QUICK, "--out", str(tmp_path))
    assert err.startswith(f"error: {tmp_path / 'speed.json'}: not a"), err
    assert (tmp_path / "speed.json").read_text() == text  # kept as it was


def test_speed_out_that_is_a_file_is_refused_before_timing(capsys, tmp_path, monkeypatch):
    """Was the same one line, but after the whole measurement."""
    (tmp_path / "file").write_text("x")

    def never(*args, **kwargs):
        raise AssertionError("timed before --out was checked")

    monkeypatch.setattr(speed, "measure", never)
    err = refused(capsys, *QUICK, "--out", str(tmp_path / "file"))
    assert err == f"error: --out {tmp_path / 'file'}: exists and is not a folder"


def test_speed_waits_for_a_folder_another_command_holds(capsys, tmp_path):
    """Two commands merging rows into one speed.json: the second to write would drop the first's row."""
    with FolderLock(tmp_path):
        err = refused(capsys, *QUICK, "--out", str(tmp_path))
    assert f"--out {tmp_path}: in use by another looped_hrm command" in err
    assert not (tmp_path / "speed.json").exists()


def test_speed_merges_into_its_table(tmp_path):
    """The guards leave the ordinary case alone: two measurements, two rows."""
    assert main([*QUICK, "--out", str(tmp_path)]) == 0
    assert main([*QUICK, "--batch", "3", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "speed.json").read_text())["rows"]
    assert sorted(r["batch"] for r in rows) == [2, 3]
