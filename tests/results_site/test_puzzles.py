"""The puzzle browser's data (looped_hrm/report/site/puzzles.py): which puzzles a large run shows,
and that every frame drawn by the task's own picture (or its text) comes back from the compact encoding."""

from __future__ import annotations

import json

import numpy as np
import pytest
from engine.fakes import BroadcastTask

from looped_hrm.contracts import IGNORE_INDEX
from looped_hrm.registry import get_registry
from looped_hrm.report.site.puzzles import ALPHABET, Drawer, Glyphs, Puzzle, choose, puzzle_runs, run_puzzles, spell
from looped_hrm.resolve import instantiate


def sample(index, inputs, predictions, label, *, bucket="easy", halt_probs=None, correct=False, verified=False):
    return {
        "index": index,
        "puzzle_id": 0,
        "input": [int(t) for t in inputs],
        "label": [int(t) for t in label],
        "difficulty": 1.0,
        "bucket": bucket,
        "mode": "policy",
        "predictions": [[int(t) for t in p] for p in predictions],
        "halt_probs": halt_probs,
        "halted_at": len(predictions),
        "inner_steps": 0.0,
        "correct": correct,
        "verified": verified,
        "token_accuracy": 0.5,
    }


def decode(frames, width, has_label):
    """The site's reading of a puzzle's frames (app.js frameStates), in Python."""
    states = []
    for f, frame in enumerate(frames):
        if isinstance(frame, str):
            ids = [frame[i : i + width] for i in range(0, len(frame), width)]
            states.append(
                [sum(ALPHABET.index(ch) * len(ALPHABET) ** (width - 1 - k) for k, ch in enumerate(i)) for i in ids]
            )
        else:
            base = states[0] if has_label and f == len(frames) - 1 else states[f - 1]
            cells = list(base)
            for cell, glyph in zip(frame[::2], frame[1::2]):
                cells[cell] = glyph
            states.append(cells)
    return states


@pytest.fixture(scope="module")
def sudoku4():
    """The built-in Sudoku at 4x4 (tokens: 0 pad, 1 blank, 2..5 digits 1..4), drawn by its picture()."""
    spec = get_registry().get("task", "sudoku")
    return instantiate(
        get_registry(),
        "task",
        {"plugin": "sudoku", "label": "sudoku", "preset": "tiny", "config": spec.presets["tiny"]},
    )


# 4x4 Sudoku: a solution and a puzzle with four blanks
SOLUTION = np.array([1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1]) + 1
PUZZLE = SOLUTION.copy()
PUZZLE[[0, 5, 10, 15]] = 1


def test_choose_keeps_small_logs_whole_and_takes_large_ones_in_turn_from_each_bucket():
    rows = [{"bucket": b} for b in ["easy"] * 6 + ["hard"] * 2 + ["medium"] * 4]
    assert choose(rows, None) == list(range(12)) == choose(rows, 12)
    picked = choose(rows, 6)
    assert picked == [0, 1, 6, 7, 8, 9]  # 2 easy, both hard, 2 medium: in test order
    assert choose(rows, 0) == []


def test_glyph_ids_are_spelled_in_as_many_characters_as_the_file_needs():
    glyphs = Glyphs()
    for i in range(len(ALPHABET) + 1):
        glyphs.cell(np.ones(3), str(i), np.zeros(3))
    assert glyphs.width() == 2 and spell([0, 65], 2) == "00" + "11"
    assert decode(["0011"], 2, False) == [[0, 65]]


def test_sudoku_frames_come_back_with_the_tasks_own_picture_and_the_changed_tokens(sudoku4):
    step1 = PUZZLE.copy()
    step1[[0, 5]] = SOLUTION[[0, 5]]
    step2 = step1.copy()
    step2[10] = SOLUTION[10]
    glyphs = Glyphs()
    puzzle = Puzzle(sample(0, PUZZLE, [step1, step2], SOLUTION, halt_probs=[0.1, 0.2]), Drawer(sudoku4, "x"), glyphs)
    states = decode(puzzle.frames(glyphs.width()), glyphs.width(), True)
    assert states == puzzle.ids and len(states) == 4  # input, 2 segments, label
    digits = [[glyphs.cells[g][1] for g in s] for s in states]
    assert digits[-1] == [str(d - 1) for d in SOLUTION]
    assert digits[0][0] == "" and digits[1][0] == str(SOLUTION[0] - 1)
    # the changed cells are the tokens that changed (stored only where the drawing says otherwise)
    shown = [
        c if c is not None else [i for i, (a, b) in enumerate(zip(states[s], states[s + 1])) if a != b]
        for s, c in enumerate(puzzle.changed)
    ]
    assert shown == [[0, 5], [10]]
    assert puzzle.correct_steps == "00" and puzzle.verified_steps == "00"
    assert puzzle.box == [2, 2, 0, 0] and (puzzle.height, puzzle.width) == (4, 4) and puzzle.cellwise


def test_a_wrong_digit_is_red_and_a_solved_grid_is_verified(sudoku4):
    wrong = SOLUTION.copy()
    wrong[0] = wrong[1]  # a clash in the first row
    glyphs = Glyphs()
    puzzle = Puzzle(sample(0, PUZZLE, [wrong, SOLUTION], SOLUTION), Drawer(sudoku4, "x"), glyphs)
    colours = {glyphs.colours[glyphs.cells[g][2]] for g in puzzle.ids[1]}
    assert "#d91a1a" in colours  # the picture's clash colour
    assert puzzle.correct_steps == "01" and puzzle.verified_steps == "01"


def test_a_task_without_a_picture_is_drawn_as_its_text_and_changes_are_characters():
    task = BroadcastTask()
    glyphs = Glyphs()
    inputs, label = [0, 0, 3, 0], [3, 3, 3, 3]
    puzzle = Puzzle(sample(0, inputs, [[3, 3, 3, 0], label], label), Drawer(task, "x"), glyphs)
    assert not puzzle.cellwise
    states = decode(puzzle.frames(glyphs.width()), glyphs.width(), True)
    assert ["".join(glyphs.cells[g][1] for g in s) for s in states] == ["..3.", "333.", "3333", "3333"]
    assert puzzle.changed == [None, None] and puzzle.verified_steps == "01"


def test_an_unknown_task_shows_tokens_and_a_failing_picture_falls_back_to_text(capsys):
    glyphs = Glyphs()
    puzzle = Puzzle(sample(0, [1, 2], [[2, 2]], [2, IGNORE_INDEX]), Drawer(None, "x"), glyphs)
    assert "".join(glyphs.cells[g][1] for g in puzzle.ids[1]) == "2 2" and puzzle.verified_steps == "-"
    assert puzzle.correct_steps == "1"  # the unscored position is not compared

    class Broken(BroadcastTask):
        def picture(self, tokens, inputs):
            raise RuntimeError("no")

    Puzzle(sample(0, [0, 3], [[3, 3]], [3, 3]), Drawer(Broken(), "runs/x.samples.jsonl"), Glyphs())
    assert "runs/x.samples.jsonl: the task's picture() failed (no); drawn as text" in capsys.readouterr().err


def test_run_file_is_columnar_and_limits_the_puzzles(tmp_path, sudoku4):
    path = tmp_path / "r.samples.jsonl"
    rows = [sample(i, PUZZLE, [SOLUTION], SOLUTION, bucket=["easy", "hard"][i % 2], correct=True) for i in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    payload, total = run_puzzles(path, sudoku4, limit=4, where="x")
    assert total == 6 and payload["count"] == 4 and payload["puzzles"]["index"] == [0, 1, 2, 3]
    assert all(len(v) == 4 for v in payload["puzzles"].values())
    json.dumps(payload, allow_nan=False)


def test_a_damaged_log_is_named_with_its_line_and_left_out(tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    good = sample(0, PUZZLE, [SOLUTION], SOLUTION)
    tiny = get_registry().get("task", "sudoku").presets["tiny"]
    combo = {
        "task": {"plugin": "sudoku", "label": "sudoku", "preset": "tiny", "config": tiny},
        "model": {"label": "m"},
        "halting": {"label": "h"},
        "seed": 0,
    }
    records = []
    for key, lines in [("ok", [good, good]), ("bad", [good, "{not json"]), ("short", [{**good, "label": [1]}])]:
        (runs / f"{key}.samples.jsonl").write_text(
            "".join((json.dumps(r) if isinstance(r, dict) else r) + "\n" for r in lines)
        )
        records.append(
            {"key": key, "status": "ok", "samples": f"{key}.samples.jsonl", "combination": combo, "metrics": {}}
        )
    written = {}
    index = puzzle_runs(tmp_path, records, limit=None, write=lambda k, p: written.setdefault(k, f"data/{k}.js"))
    assert [r["key"] for r in index] == ["ok"] and list(written) == ["ok"] and index[0]["total"] == 2
    err = capsys.readouterr().err
    assert "picture() failed" not in err  # the record's own task config drew the good one
    assert f"{runs / 'bad.samples.jsonl'}:2: not JSON" in err
    assert f"{runs / 'short.samples.jsonl'}:1: input, label and predictions must be token lists of one length" in err
