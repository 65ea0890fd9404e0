"""`train` and `eval` under the guards the grid runner already had (issue 21, cases 2, 7 and 9): the
folder lock, an output path that cannot be a folder, a clean Ctrl-C, a full disk named as such, and
an ``--init-from`` file blamed for its own faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from looped_hrm.runner.lock import FolderLock

from .conftest import TRAIN, checkpoint_file, command, refused

QUICK = ["train", "--task", "parity", "--model", "hrm", "--preset", "tiny", "--set", "train.steps=1", "--no-progress"]


# ----------------------------------------------------------------------------- the output folder


def test_train_waits_for_a_folder_another_command_holds(capsys, tmp_path):
    """A second train (or a grid) on the same --out would train the same combination twice in one folder."""
    out = tmp_path / "out"
    out.mkdir()
    with FolderLock(out):
        err = refused(capsys, *QUICK, "--out", str(out))
    assert f"--out {out}: in use by another looped_hrm command (PID {os.getpid()})" in err
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing trained, nothing written


def test_train_out_that_is_a_file(capsys, tmp_path):
    out = tmp_path / "file"
    out.write_text("x")
    assert refused(capsys, *QUICK, "--out", str(out)) == f"error: --out {out}: exists and is not a folder"


def test_train_out_under_proc(capsys):
    err = refused(capsys, *QUICK, "--out", "/proc/looped_hrm_run")
    assert err.startswith("error: --out /proc/looped_hrm_run: cannot create the folder there")


@pytest.mark.slow
def test_eval_waits_for_another_eval_of_the_same_run(capsys, run_dir):
    with FolderLock(run_dir / "evals"):
        err = refused(capsys, "eval", str(run_dir), "--no-progress")
    assert f"eval {run_dir / 'evals'}: in use by another looped_hrm command" in err


# ---------------------------------------------------------------------------------- --init-from


@pytest.mark.parametrize("command_line", ["train", "eval"])
def test_an_empty_init_from_file_is_named(capsys, tmp_path, command_line):
    empty = tmp_path / "step_100"
    empty.write_bytes(b"")
    if command_line == "train":
        argv = [*QUICK, "--init-from", str(empty), "--out", str(tmp_path / "out")]
    else:
        argv = ["eval", str(empty), "--task", "parity", "--model", "hrm", "--preset", "tiny"]
    assert refused(capsys, *argv) == f"error: train.init_from {empty}: empty file"


def test_a_missing_init_from_file_is_not_blamed_on_the_task_data(capsys, tmp_path):
    missing = tmp_path / "step_100"
    err = refused(capsys, *QUICK, "--init-from", str(missing), "--out", str(tmp_path / "out"))
    assert err == f"error: train.init_from {missing}: No such file or directory"


# ------------------------------------------------------------------------------------- Ctrl-C


@pytest.mark.slow
def test_ctrl_c_during_train_is_one_line_naming_the_checkpoint_kept(tmp_path):
    """The terminal's Ctrl-C reaches the whole process group; the run stops with what it keeps.

    The command starts as a terminal starts it, with SIGINT at its default: a test runner started in
    the background (``pytest &``, ``nohup``) ignores SIGINT, and a child inherits that, so the
    command would rightly train on."""
    out = tmp_path / "out"
    argv = [*TRAIN[:-1], "--set", "train.steps=100000", "--set", "train.checkpoint_every=2", "--out", str(out)]
    as_in_a_terminal = (
        "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "sys.argv[0] = 'looped_hrm'; runpy.run_module('looped_hrm', run_name='__main__')"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", as_in_a_terminal, *argv],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while not list(out.glob("work/*/checkpoint.pt")):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err
    assert last.startswith("interrupted: training stopped at step "), last
    assert f"last checkpoint kept: {checkpoint_file(out)} (step " in last
    assert last.endswith("; rerun the same command to resume")


@pytest.mark.slow
def test_ctrl_c_during_eval_writes_nothing_and_frees_the_folder(capsys, run_dir, monkeypatch):
    import looped_hrm.experiment.run as experiment

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "evaluate", interrupted)
    code, _, err = command(capsys, "eval", str(run_dir), "--no-progress")
    assert code == 130 and err == "interrupted: eval stopped before it finished; nothing was written", err
    assert not list((run_dir / "evals").glob("*.json"))
    with FolderLock(run_dir / "evals"):  # released
        pass


# ------------------------------------------------------------------------------------ full disk

FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as ENOSPC on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
{code}
"""


def under_a_full_disk(code: str, limit: int) -> subprocess.CompletedProcess:
    """Run python ``code`` where no file may grow past ``limit`` bytes (a disk that fills)."""
    return subprocess.run(
        [sys.executable, "-c", FULL_DISK.format(limit=limit, code=code)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_checkpoint_write_on_a_full_disk_names_the_file(tmp_path):
    """torch's zip writer turns the write error into 'enforce fail ... unexpected pos'; the cause comes back."""
    path = tmp_path / "work" / "checkpoint.pt"
    code = (
        "import torch\nfrom looped_hrm.training.checkpoint import save_checkpoint\n"
        "try:\n"
        f"    save_checkpoint({{'w': torch.zeros(100_000)}}, {str(path)!r})\n"
        "except OSError as exc:\n"
        "    print(exc.filename, exc.strerror)\n"
    )
    result = under_a_full_disk(code, limit=64 * 1024)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{path} File too large"
    assert not list(path.parent.iterdir())  # no temp file left behind


@pytest.mark.slow
def test_train_on_a_full_disk_is_one_line_naming_the_checkpoint(tmp_path, trained):
    """The data is cached already (the fixture built it); the first checkpoint is the largest file written."""
    out = tmp_path / "out"
    size = checkpoint_file(trained).stat().st_size
    code = f"from looped_hrm.commands import main\nsys.exit(main({[*TRAIN, '--out', str(out)]!r}))"
    result = under_a_full_disk(code, limit=size // 2)
    err = result.stderr.strip()
    assert result.returncode == 1 and "Traceback" not in err and "enforce fail" not in err, err
    assert err.splitlines()[-1].startswith("error: ") and "checkpoint.pt" in err and "File too large" in err, err
    record = next((out / "runs").glob("*.json"), None)
    if record is not None:  # small enough to be written: a failed row naming the file
        assert "checkpoint.pt" in json.loads(record.read_text())["error"]
