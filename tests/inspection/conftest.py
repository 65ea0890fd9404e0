"""A tiny finished benchmark run (record + checkpoint), trained in-process once per module, for the
commands that look inside trained models (trace, analyze)."""

from __future__ import annotations

import pytest

from looped_hrm.registry import get_registry
from looped_hrm.runner.grid import BenchmarkConfig, expand
from looped_hrm.runner.worker import run_combination

# The plumbing, not the accuracy: a few steps of the tiny presets.
TINY_TRAIN = {"steps": 12, "batch_size": 16, "max_segments": 2, "log_every": 4, "warmup_steps": 2}
TINY_EVAL = {"limit": 24, "curve": [1, 2], "fixed_segments": 3, "batch_size": 32}


def tiny_run(out, tasks=("sudoku",), models=("hrm",), halting=("act_q",)):
    bench = BenchmarkConfig(
        name="tiny",
        preset="tiny",
        device="cpu",
        tasks=list(tasks),
        models=list(models),
        halting=list(halting),
        train=dict(TINY_TRAIN),
        eval=dict(TINY_EVAL),
    )
    for combo in expand(bench, get_registry()):
        record = run_combination(combo, out, threads=1)
        assert record["status"] == "ok", record.get("traceback")
    return out


@pytest.fixture(scope="module")
def sudoku_run(tmp_path_factory):
    """results/<tiny>/ with a tiny HRM and a tiny baseline on 4×4 Sudoku under act_q."""
    return tiny_run(tmp_path_factory.mktemp("tiny_sudoku"), models=("hrm", "baseline"))
