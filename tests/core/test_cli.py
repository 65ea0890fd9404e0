"""``python -m looped_hrm`` commands as a user types them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from looped_hrm.commands import main
from looped_hrm.commands.info import model_info


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "looped_hrm", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # a subprocess that builds the paper-size HRM (27 M parameters): seconds, not milliseconds
def test_info_reports_the_official_hrm_parameter_count():
    result = run("info", "--model", "hrm", "--task", "sudoku", "--preset", "paper", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["trainable_params"] == 27_275_266
    assert (info["vocab_size"], info["seq_len"], info["effective_depth"], info["gradient_depth"]) == (11, 81, 24, 8)


def test_info_overrides_and_aliases():
    small = model_info("baseline", "sudoku", "tiny", overrides=["model.num_layers=1", "task.size=6"])
    assert small["model"] == "transformer" and small["seq_len"] == 36
    assert small["effective_depth"] == 1


def test_plugins_table_lists_every_kind(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in ("sudoku", "hrm", "baseline", "act_q"):
        assert name in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["info", "--model", "hrn", "--task", "sudoku"], "did you mean 'hrm'"),
        (["info", "--model", "hrm", "--task", "sudoku", "--preset", "huge"], "has no preset 'huge'"),
        (["info", "--model", "hrm", "--task", "sudoku", "--set", "model.H_cyles=3"], "did you mean 'H_cycles'"),
    ],
)
def test_user_errors_exit_2_with_a_message(capsys, args, message):
    assert main(args) == 2
    assert message in capsys.readouterr().err
