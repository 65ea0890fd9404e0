"""`report`, `trace` and `analyze` read records through one validation (issue 21, cases 5 and 8): a
record counts by its identity (key and seed), never by its file, and a malformed record or a
checkpoint that is not the run's is one line naming the file — never a traceback, never a number."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from looped_hrm.commands.report import report

from .conftest import checkpoint_file, command, refused

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = next((ROOT / "results" / "ci-cpu" / "runs").glob("parity__hrm__*.json"))


def results_with(tmp_path: Path, **files: str) -> Path:
    """A results folder holding the reference record under its own name and ``files`` beside it."""
    runs = tmp_path / "res" / "runs"
    runs.mkdir(parents=True)
    shutil.copy(REFERENCE, runs / REFERENCE.name)
    for name, text in files.items():
        (runs / name).write_text(text)
    return runs.parent


def rows(folder: Path) -> int:
    return (folder / "results.csv").read_text().count("\n") - 1


# -------------------------------------------------------------------- one record, counted once


def test_a_copied_record_is_reported_and_counted_once(capsys, tmp_path):
    folder = results_with(tmp_path, **{"copy of it.json": REFERENCE.read_text()})
    assert report(folder) == 0
    err = capsys.readouterr().err
    assert f"{folder / 'runs' / 'copy of it.json'}: the same run as {folder / 'runs' / REFERENCE.name}" in err
    assert rows(folder) == 1  # one seed, not two


def test_a_renamed_record_is_reported_and_counted_once(capsys, tmp_path):
    folder = results_with(tmp_path)
    (folder / "runs" / REFERENCE.name).rename(folder / "runs" / "mine.json")
    assert report(folder) == 0
    assert f"{folder / 'runs' / 'mine.json'}: holds the record of {REFERENCE.name}" in capsys.readouterr().err
    assert rows(folder) == 1


# ----------------------------------------------------------------------- a record that is wrong


@pytest.mark.parametrize(
    "field, value",
    [
        ("per_example", "garbage"),
        ("per_example", {"n": 3, "bucket": "u8:!!"}),
        ("learning_curve", [1, 2]),
        ("extrapolation", [1]),
        ("extrapolation", {"test_length=64": {"n": 3, "bucket": "u8:!!"}}),
    ],
    ids=[
        "per_example-string",
        "per_example-undecodable",
        "learning_curve-numbers",
        "extrapolation-list",
        "extrapolation-undecodable",
    ],
)
def test_a_record_with_a_garbage_field_is_named_and_skipped(capsys, tmp_path, field, value):
    record = json.loads(REFERENCE.read_text())
    record.update({field: value, "key": "0" * 16})
    folder = results_with(tmp_path, **{"bad.json": json.dumps(record)})
    assert report(folder) == 0
    err = capsys.readouterr().err
    assert f"{folder / 'runs' / 'bad.json'}: result record skipped: '{field}'" in err
    assert rows(folder) == 1


@pytest.mark.parametrize("command_line", ["trace", "analyze"])
def test_a_malformed_record_in_the_folder_is_named_not_a_traceback(capsys, tmp_path, command_line):
    folder = tmp_path / "res"
    (folder / "runs").mkdir(parents=True)
    (folder / "runs" / "bad.json").write_text("[]")
    code, _, err = command(capsys, command_line, str(folder))
    warning, error = err.splitlines()
    assert code == 2 and warning == f"warning: {folder / 'runs' / 'bad.json'}: result record skipped: " + (
        "expected a JSON object, got list"
    )
    assert error == f"error: {folder}: no finished run in runs/", error


def test_trace_of_a_malformed_record_file_names_it(capsys, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"key": "x", "status": "ok"}')
    assert refused(capsys, "trace", str(path)) == f"error: {path}: not a usable result record: no 'combination' object"


def test_report_all_labels_every_record_outside_the_grid(capsys, tmp_path):
    """An older config whose cell is not in the current grid gets its config id too (was unlabelled)."""
    older = json.loads(REFERENCE.read_text())
    older["key"] = "0" * 16
    older["combination"]["model"] = {**older["combination"]["model"], "label": "hrm-old"}
    name = f"parity__hrm-old__{older['combination']['halting']['label']}__s0__{older['key']}.json"
    folder = results_with(tmp_path, **{name: json.dumps(older)})
    current = json.loads(REFERENCE.read_text())["key"]
    (folder / "run.json").write_text(json.dumps({"name": "x", "command": "", "keys": [current]}))
    assert report(folder, everything=True) == 0
    models = sorted(set(line.split(",")[1] for line in (folder / "results.csv").read_text().splitlines()[1:]))
    assert models[0] == "hrm" and models[1].startswith("hrm-old [cfg ")


# --------------------------------------------------------------- a checkpoint that is not the run's


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "another model", "missing"])
def test_trace_refuses_a_checkpoint_that_is_not_the_runs(capsys, run_dir, damage):
    path = checkpoint_file(run_dir)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
        expected = f"{path}: cannot be read (truncated, or not a checkpoint)"
    elif damage == "another model":
        state = torch.load(path, weights_only=True)
        state.pop("key", None)
        state["model"] = {"w": torch.zeros(2)}
        torch.save(state, path)
        expected = f"{path}: does not fit model HRM"
    else:
        path.unlink()
        expected = f"{path}: missing"
    assert expected in refused(capsys, "trace", str(run_dir), "--segments", "2")


@pytest.mark.slow
def test_analyze_refuses_another_runs_checkpoint(capsys, run_dir):
    path = checkpoint_file(run_dir)
    state = torch.load(path, weights_only=True)
    state["key"] = "f" * 16
    torch.save(state, path)
    assert f"{path}: written by another run (key {'f' * 16})" in refused(capsys, "analyze", str(run_dir))


@pytest.mark.slow
def test_trace_of_a_moved_run_folder_uses_its_own_checkpoint(capsys, run_dir, tmp_path):
    moved = tmp_path / "moved"
    run_dir.rename(moved)
    code, out, err = command(capsys, "trace", str(moved), "--segments", "2", "--json")
    assert code == 0, err
    assert json.loads(out)["record"].startswith(str(moved))
