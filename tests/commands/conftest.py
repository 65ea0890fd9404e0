"""Run folders for the command guards: one tiny `train` run, made in-process once per module, that
each test copies before breaking it (a missing checkpoint, a moved folder, a foreign record)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from looped_hrm.commands import main

TRAIN = [
    "train",
    "--task",
    "sudoku",
    "--model",
    "hrm",
    "--preset",
    "tiny",
    "--set",
    "train.steps=2",
    "--set",
    "train.curve_fractions=[]",
    "--set",
    "eval.limit=8",
    "--no-progress",
]


def command(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``looped-hrm ARGV`` in-process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def refused(capsys, *argv: str, code: int = 2) -> str:
    """Run a command that must stop with ONE ``error:`` line (no traceback) and exit ``code``; the line."""
    got, _, err = command(capsys, *argv)
    assert got == code, err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished `train` folder: runs/<cell>.json and work/<key>/ with its checkpoint."""
    out = tmp_path_factory.mktemp("trained") / "run"
    assert main([*TRAIN, "--out", str(out)]) == 0
    return out


@pytest.fixture
def run_dir(trained, tmp_path) -> Path:
    """A private copy of the trained folder (``cp -a``: links copied as links), free to break."""
    copy = tmp_path / "run"
    shutil.copytree(trained, copy, symlinks=True)
    return copy


def checkpoint_file(run: Path) -> Path:
    """Where the run's checkpoint is (or should be): ``work/<key>/checkpoint.pt``."""
    (work,) = (run / "work").iterdir()
    return work / "checkpoint.pt"
