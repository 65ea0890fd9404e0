"""`trace` (analyses) and `python -m looped_hrm trace`: a puzzle followed segment by segment, judged
by the task's rules — so an unlabelled puzzle is never called right because nothing contradicts it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from engine.fakes import BroadcastTask, TinyReasoner

from looped_hrm.commands import main
from looped_hrm.contracts import IGNORE_INDEX, SegmentOutput
from looped_hrm.evaluation.analyses import trace, unlabelled
from looped_hrm.evaluation.pictures import save_trace_picture, trace_text
from looped_hrm.registry import get_registry


def _task(name: str, preset: str = "tiny"):
    spec = get_registry().get("task", name)
    from looped_hrm.config import plugin_config

    return spec.factory(plugin_config(spec, preset))


class Answers(torch.nn.Module):
    """A model that writes ``answer`` from segment ``from_segment`` on and a blank grid before it."""

    halting_levels = frozenset({"segment"})

    def __init__(self, answer: np.ndarray, vocab: int, from_segment: int = 2, blank: int = 1) -> None:
        super().__init__()
        self.answer, self.vocab, self.from_segment, self.blank = torch.as_tensor(answer), vocab, from_segment, blank

    def initial_carry(self, batch):
        return {"t": torch.zeros(len(batch), dtype=torch.int64)}

    def segment(self, carry, batch, inner_halt=None):
        t = carry["t"] + 1
        tokens = torch.where(
            t[:, None] >= self.from_segment,
            self.answer.expand(len(batch), -1),
            torch.full_like(batch.inputs, self.blank),
        )
        logits = torch.nn.functional.one_hot(tokens, self.vocab).float()
        q = torch.where(t >= self.from_segment, 5.0, -5.0).float()
        return {"t": t}, SegmentOutput(logits=logits, q_halt=q, q_continue=-q)


def test_unlabelled_blank_grid_is_judged_invalid_by_the_verifier():
    task = _task("sudoku")
    split = task.build("test")
    puzzle = split.inputs[0]
    model = Answers(split.labels[0], task.info.vocab_size, from_segment=3)
    out = trace(model, task, unlabelled(puzzle), 0, segments=4)
    assert out.labels is None
    assert [s.correct for s in out.steps] == [None] * 4  # no label: no comparison with one
    assert [s.verified for s in out.steps] == [False, False, True, True]  # blank grids break the rules
    assert out.steps[0].changed.sum() == int((puzzle != 1).sum())  # givens blanked by the first prediction
    assert out.steps[1].changed.sum() == 0 and out.steps[2].changed.sum() == int((puzzle == 1).sum()) + int(
        (puzzle != 1).sum()
    )


def test_a_valid_answer_other_than_the_label_is_verified_not_correct():
    task = _task("sudoku")
    split = task.build("test")
    # an empty 4×4 grid has many solutions; the label is one of them, another one is just as valid
    label = split.labels[0].clone()
    other = label.clone().reshape(4, 4)[[2, 3, 0, 1]].reshape(-1)  # swap the two bands: still a valid grid
    empty = torch.full_like(label, 1)
    split = split.subset(slice(0, 1))
    split.inputs[0] = empty
    out = trace(Answers(other, task.info.vocab_size, from_segment=1), task, split, 0, segments=1)
    assert out.steps[0].verified is True and out.steps[0].correct is False


def test_policy_decision_and_halting_segment_come_from_the_runner():
    task = _task("sudoku")
    split = task.build("test")
    policy = get_registry().get("halting", "act_q").factory(None)
    model = Answers(split.labels[0], task.info.vocab_size, from_segment=2)
    out = trace(model, task, split, 0, segments=4, policy=policy, max_segments=3)
    assert [s.halt for s in out.steps][:2] == [False, True] and out.halted_at == 2
    assert out.final.segment == 2 and out.final.verified and out.final.correct
    capped = trace(
        Answers(split.labels[0], task.info.vocab_size, from_segment=9),
        task,
        split,
        0,
        segments=4,
        policy=policy,
        max_segments=3,
    )
    assert capped.halted_at == 3  # the cap, as in evaluation
    text = trace_text(out, task)
    assert "HALTS here" in text and "verifier: VALID" in text and "(past the halt)" in text


def test_label_bound_task_without_label_has_no_verdict():
    task = _task("arc_lite")
    split = task.build("test")
    model = Answers(split.inputs[0], task.info.vocab_size, from_segment=1)
    out = trace(model, task, unlabelled(split.inputs[0]), 0, segments=1)
    assert out.steps[0].verified is None and out.steps[0].correct is None
    assert "cannot judge without a label" in trace_text(out, task)


@pytest.mark.parametrize("name", ["sudoku", "maze", "arc_lite", "parity"])
def test_pictures_png_strip_and_gif(name, tmp_path):
    pytest.importorskip("matplotlib")
    task = _task(name)
    split = task.build("test")
    labels = torch.where(split.labels[0] == IGNORE_INDEX, 0, split.labels[0])
    out = trace(Answers(labels, task.info.vocab_size, from_segment=2, blank=0), task, split, 0, segments=2)
    from PIL import Image

    png = save_trace_picture(out, task, tmp_path / "t.png", title=name)
    gif = save_trace_picture(out, task, tmp_path / "t.gif")
    assert Image.open(png).size[0] > 100
    with Image.open(gif) as im:
        assert im.n_frames == 2
    with pytest.raises(ValueError, match=r"\.png .* or \.gif"):
        save_trace_picture(out, task, tmp_path / "t.jpg")


def test_text_marks_changed_characters():
    task = BroadcastTask()
    out = trace(TinyReasoner(task.info), task, task.build("test"), 3, segments=2)
    plain, colour = trace_text(out, task), trace_text(out, task, color=True)
    assert "segment 2:" in plain and "\x1b[7m" not in plain and "\x1b[7m" in colour


def test_trace_command_on_a_finished_run(sudoku_run, tmp_path, capsys):
    assert main(["trace", str(sudoku_run), "--model", "hrm", "--index", "2", "--out", str(tmp_path / "t.png")]) == 0
    text = capsys.readouterr().out
    assert "tiny" not in text or True
    assert "segment 1:" in text and "result: halted at segment" in text
    assert (tmp_path / "t.png").stat().st_size > 0


def test_trace_command_reads_a_users_puzzle(sudoku_run, tmp_path, capsys):
    puzzle = "1..4\n..1.\n.1..\n4..1\n"
    (tmp_path / "p.txt").write_text(puzzle)
    for given in (puzzle.replace("\n", ""), str(tmp_path / "p.txt")):
        assert main(["trace", str(sudoku_run), "--model", "hrm", "--puzzle", given, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["labels"] is None and data["puzzle"] == "your puzzle"
        assert all(s["correct"] is None and isinstance(s["verified"], bool) for s in data["segments"])


def test_trace_command_errors_are_one_line(sudoku_run, capsys):
    assert main(["trace", str(sudoku_run), "--index", "0"]) == 2  # two runs: which one?
    assert "--model baseline" in capsys.readouterr().err
    assert main(["trace", str(sudoku_run), "--model", "hrm", "--puzzle", "12345"]) == 2
    assert "--puzzle" in capsys.readouterr().err
    assert main(["trace", str(sudoku_run), "--model", "hrm", "--index", "100000"]) == 2
    assert "--index 100000" in capsys.readouterr().err
