"""A user's data files under the commands' guards (issue 21, cases 9 and 10): a fault in a file is
blamed on that file and line, a test file that holds training puzzles is scored with them counted
(never blamed on the training data), and test puzzles a task cannot hold are said and recorded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from looped_hrm.registry import get_registry
from looped_hrm.resolve import plugin_config

from .conftest import command, refused

MAZE = "".join(
    [
        "#########",
        "#S      #",
        "# ##### #",
        "#       #",
        "####### #",
        "#       #",
        "# #######",
        "#      G#",
        "#########",
    ]
)


def test_a_maze_csv_row_without_its_answer_names_the_file_and_line(capsys, tmp_path):
    """Was ``cannot build its data: list index out of range``, naming neither the file nor the row."""
    path = tmp_path / "mazes.csv"
    path.write_text(f"source,question,answer,rating\nmine,{MAZE},{MAZE},0\nmine,{MAZE}\n")
    err = refused(
        capsys,
        *("train", "--task", "maze", "--model", "hrm", "--preset", "tiny", "--no-progress"),
        *("--set", "task.size=9", "--set", f"task.test_file={path}", "--set", "task.num_test=-1"),
        *("--out", str(tmp_path / "out")),
    )
    assert f"{path}:3: 2 column(s), no answer" in err, err


def _sudoku_csv(path: Path, rows: int) -> None:
    """``rows`` distinct 4x4 Sudokus (the tiny preset's test puzzles) in HRM's CSV format."""
    spec = get_registry().get("task", "sudoku")
    split = spec.factory(plugin_config(spec, "tiny")).build("test")

    def text(tokens) -> str:
        return "".join("." if d == 0 else str(d) for d in tokens.numpy() - 1)

    lines = [f"mine,{text(split.inputs[i])},{text(split.labels[i])},0" for i in range(rows)]
    path.write_text("\n".join(["source,question,answer,rating", *lines]) + "\n")


def test_eval_on_a_file_of_training_puzzles_counts_them(capsys, tmp_path):
    """A run trained on 30 puzzles of a file (10 more held out), evaluated on the whole file: the
    evaluation used to rebuild a training split held out against the test file, so it failed with
    "<file>: train split wants 30 puzzles but only 0 are usable" — blaming the training data. It scores
    the file, counts its 30 training puzzles, and says so."""
    puzzles = tmp_path / "puzzles.csv"
    _sudoku_csv(puzzles, 40)
    run = tmp_path / "run"
    code, _, err = command(
        capsys,
        *("train", "--task", "sudoku", "--model", "hrm", "--preset", "tiny", "--no-progress"),
        *("--set", f"task.train_file={puzzles}", "--set", f"task.test_file={puzzles}"),
        *("--set", "task.num_train=30", "--set", "task.num_test=10", "--set", "train.steps=2"),
        *("--set", "train.curve_fractions=[]", "--set", "eval.limit=8", "--out", str(run)),
    )
    assert code == 0, err
    code, out, err = command(
        capsys, "eval", str(run), "--test-file", str(puzzles), "--limit", "40", "--max-segments", "2", "--no-progress"
    )
    assert code == 0, err
    assert "30 of 40 test rows are training items" in err
    (path,) = (run / "evals").glob("puzzles-*.json")
    metrics = json.loads(path.read_text())["metrics"]
    assert metrics["data/test_rows"] == 40 and metrics["data/test_in_train"] == 30
    assert metrics["train/steps"] == 2  # the run's weights


def _arc_task(rng: np.random.Generator, side: int) -> dict:
    pairs = []
    for _ in range(3):
        grid = rng.integers(0, 10, (side, side))
        pairs.append({"input": grid.tolist(), "output": np.flipud(grid).tolist()})
    return {"train": pairs[:2], "test": pairs[2:]}


def test_arc_tasks_larger_than_the_canvas_are_said_and_recorded(capsys, tmp_path):
    """A folder of 3 ARC tasks, one 12x12, on the tiny preset's 10x10 canvas: the big one was left out
    without a word (the score over 2 tasks read as the score over the folder)."""
    folder = tmp_path / "arc"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, side in (("a", 3), ("b", 4), ("big", 12)):
        (folder / f"{name}.json").write_text(json.dumps(_arc_task(rng, side)))
    out = tmp_path / "out"
    code, _, err = command(
        capsys,
        *("train", "--task", "arc_agi", "--model", "hrm", "--preset", "tiny", "--no-progress"),
        *("--set", "task.train_sets=[]", "--set", f"task.test_file={folder}", "--set", "train.steps=1"),
        *("--set", "train.curve_fractions=[]", "--out", str(out)),
    )
    assert code == 0, err
    assert "1 test puzzle(s) left out, the task cannot hold them" in err
    (record,) = (out / "runs").glob("*.json")
    assert json.loads(record.read_text())["metrics"]["data/left_out"] == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "text, expected",
    [
        (None, "puzzle file '{path}' not found"),
        ("source,question,answer,rating\nmine,1234\n", "{path}:2: 2 fields, the header has 4"),
        ("x\n", "{path}:1: puzzle has 1 characters"),
    ],
)
def test_eval_on_a_test_file_it_cannot_read_is_refused_before_it_runs(capsys, run_dir, tmp_path, text, expected):
    """Was a failed evaluation (exit 1, ``error: SudokuFileError: ...``); bad input is exit 2 before
    anything runs, as `train` refuses a data file."""
    path = tmp_path / "mine.csv"
    if text is not None:
        path.write_text(text)
    err = refused(capsys, "eval", str(run_dir), "--test-file", str(path), "--no-progress")
    assert err.startswith(f"error: --test-file {path}: ") and expected.format(path=path) in err, err
    assert not (run_dir / "evals").exists() or not list((run_dir / "evals").glob("*.json"))
