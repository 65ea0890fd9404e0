"""`python -m looped_hrm train` / `eval`: one grid cell as a command, data parallel under torchrun.

The CPU is the test bed for DDP: ``torchrun --standalone --nproc-per-node 2`` (gloo) must train
what one process trains at the same global batch. Tolerance: every deterministic metric of the
record equal to the one-process run within 1e-5 relative (measured: only ``train/loss`` differs,
by ~1e-7, from the order of the cross-rank gradient sum), and exactly the same examples seen.
A run killed after a 2-rank checkpoint resumes on 1 rank to the same record.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from looped_hrm.config import plugin_config
from looped_hrm.experiment.run import deterministic_part
from looped_hrm.registry import get_registry

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("torchrun")]

# The acceptance command's run (parity, hrm, tiny, 30 steps), evaluated on fewer examples for time.
# Checkpoints every 10 steps: in-flight examples are requeued at each (carry-free checkpoints), so a
# run compares with a resumed one only at the same checkpoint cadence.
ARGS = [
    "--task",
    "parity",
    "--model",
    "hrm",
    "--preset",
    "tiny",
    "--set",
    "train.steps=30",
    "--set",
    "train.log_every=5",
    "--set",
    "train.checkpoint_every=10",
    "--set",
    "eval.limit=64",
    "--no-progress",
]
RTOL = 1e-5


def train(out: Path, *extra: str, ranks: int = 1, wait: bool = True):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
        if ranks > 1
        else [sys.executable]
    )
    cmd = [*launcher, "-m", "looped_hrm", "train", *ARGS, *extra, "--out", str(out)]
    if not wait:
        return subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def record(out: Path) -> dict:
    (path,) = (out / "runs").glob("*.json")
    return json.loads(path.read_text())


def checkpoint(out: Path) -> dict:
    (path,) = (out / "work").glob("*/checkpoint.pt")
    return torch.load(path, weights_only=True)


def assert_same_run(a: dict, b: dict) -> None:
    assert a["key"] == b["key"] and a["status"] == b["status"] == "ok"
    ma, mb = deterministic_part(a["metrics"]), deterministic_part(b["metrics"])
    assert ma.keys() == mb.keys()
    for key, value in ma.items():
        if isinstance(value, float) and isinstance(mb[key], float):
            assert math.isclose(value, mb[key], rel_tol=RTOL, abs_tol=1e-9), (key, value, mb[key])
        else:
            assert value == mb[key], (key, value, mb[key])


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one_rank")
    train(out)
    return out


def test_two_gloo_ranks_train_what_one_process_trains(one_rank, tmp_path):
    out = tmp_path / "two"
    result = train(out, ranks=2)
    assert "policy/exact_accuracy" in result.stdout  # rank 0 prints the metrics
    a, b = record(one_rank), record(out)
    assert_same_run(a, b)
    assert b["environment"]["ranks"] == 2 and "ranks" not in a["environment"]
    assert len(list((out / "runs").glob("*.json"))) == 1  # rank 0 alone writes
    # the same examples, as often: no example dropped or repeated by the sharding
    ca, cb = checkpoint(one_rank), checkpoint(out)
    assert torch.equal(ca["finished_count"], cb["finished_count"]) and torch.equal(
        ca["queue"]["order"], cb["queue"]["order"]
    )

    # the same training curve
    def curve(d):
        return [json.loads(line) for line in next((d / "work").glob("*/train_log.jsonl")).read_text().splitlines()]

    la, lb = curve(one_rank), curve(out)
    assert [r["step"] for r in la] == [r["step"] for r in lb] == [5, 10, 15, 20, 25, 30]
    for ra, rb in zip(la, lb):
        assert ra.keys() == rb.keys()
        assert all(math.isclose(ra[k], rb[k], rel_tol=RTOL, abs_tol=1e-9) for k in ra), (ra, rb)
    # `bench report` reads the folder like a grid's
    report = subprocess.run(
        [sys.executable, "-m", "looped_hrm.bench", "report", str(out)], capture_output=True, text=True, timeout=120
    )
    assert report.returncode == 0, report.stderr
    assert pd.read_csv(out / "results.csv").status.tolist() == ["ok"]


def test_a_two_rank_checkpoint_resumes_on_one_rank(one_rank, tmp_path):
    out = tmp_path / "resumed"
    proc = train(out, ranks=2, wait=False)
    deadline = time.time() + 300
    while time.time() < deadline and not list((out / "work").glob("*/checkpoint.pt")):
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (out / "runs").exists() or not list((out / "runs").glob("*.json")), "the run ended before the kill"
    interrupted_at = checkpoint(out)["step"]
    assert 10 <= interrupted_at < 30

    train(out)  # one process, the same command: resumes from the 2-rank checkpoint
    resumed = record(out)
    assert resumed["metrics"]["train/steps"] == 30
    assert_same_run(record(one_rank), resumed)
    assert torch.equal(checkpoint(one_rank)["finished_count"], checkpoint(out)["finished_count"])


def hrm_csv(path: Path, extra: list[tuple[str, str]] = ()) -> None:
    """Three 4x4 Sudokus (two of them equivalent) and the ``extra`` (question, answer) rows, in HRM's
    Sudoku-Extreme format (source,question,answer,rating)."""
    base = "1234341221434321"
    rows = ["source,question,answer,rating"]
    for k, perm in enumerate(["1234", "2143", "4321"]):
        answer = "".join(perm[int(c) - 1] for c in base)
        question = "".join("." if (i * 7 + k) % 3 == 0 else c for i, c in enumerate(answer))
        rows.append(f"user,{question},{answer},0")
    rows += [f"user,{question},{answer},0" for question, answer in extra]
    path.write_text("\n".join(rows) + "\n")


def disguised_training_puzzle() -> tuple[str, str]:
    """The tiny Sudoku preset's first training puzzle, transposed and with digits 1 and 2 swapped."""
    spec = get_registry().get("task", "sudoku")
    train = spec.factory(plugin_config(spec, "tiny")).build("train")
    swap = np.array([0, 2, 1, 3, 4])  # digit -> digit (0: blank)

    def text(tokens) -> str:
        digits = swap[tokens.numpy().reshape(4, 4).T.ravel() - 1]
        return "".join("." if d == 0 else str(d) for d in digits)

    return text(train.inputs[0]), text(train.labels[0])


def test_eval_scores_a_users_sudoku_csv(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "looped_hrm"]
    trained = subprocess.run(
        [
            *base,
            "train",
            "--task",
            "sudoku",
            "--model",
            "hrm",
            "--preset",
            "tiny",
            "--set",
            "train.steps=4",
            "--set",
            "eval.limit=16",
            "--no-progress",
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert trained.returncode == 0, trained.stderr
    csv = tmp_path / "mine.csv"
    hrm_csv(csv, [disguised_training_puzzle()])
    result = subprocess.run(
        [*base, "eval", str(out), "--test-file", str(csv), "--max-segments", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    (path,) = (out / "evals").glob("mine-*.json")
    assert "policy/exact_accuracy" in result.stdout and str(path) in result.stdout
    written = json.loads(path.read_text())
    metrics = written["metrics"]
    # the whole file is scored (the preset's de-duplication would have dropped one of the equivalent
    # puzzles) and the training puzzle in disguise is counted against the run's training split
    assert metrics["policy/examples"] == 4 and metrics["fixed/examples"] == 4
    assert metrics["data/test_rows"] == 4 and metrics["data/test_distinct"] == 3
    assert metrics["data/test_in_train"] == 1 and "data/test_in_train" in result.stdout
    assert "baseline:copy/exact_accuracy" in result.stdout
    assert 0 <= metrics["policy/exact_accuracy"] <= 1 and metrics["eval_max_segments"] == 2
    assert written["trained_key"] in {p.name for p in (out / "work").iterdir()}
    assert metrics["train/steps"] == 4  # the trained weights, not a fresh model

    missing = subprocess.run(
        [*base, "eval", str(tmp_path / "nothing")], env=env, capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 2 and "not a run folder" in missing.stderr
