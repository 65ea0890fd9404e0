"""``--executor ray`` on a real (local) Ray cluster started by the test with 2 CPUs, reached through
``--ray-address`` exactly as a user reaches a cluster: the records equal ``--executor local``'s,
and a worker killed mid-run is a failed row while the rest of the grid finishes.

Needs the ``ray`` extra (``.ci/run`` installs it); skipped where Ray is not installed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from test_runner import FAST, HERE, bench  # tests/bench is on sys.path (rootdir conftest, no packages)

from looped_hrm.experiment.run import deterministic_part

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


@pytest.fixture(scope="module")
def ray_address():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")
    saved = {k: os.environ.get(k) for k in ("LOOPED_HRM_PLUGINS", "PYTHONPATH", "WANDB_MODE", "WANDB_SILENT")}
    # Ray workers inherit the environment of the process that starts the cluster: the test doubles
    # in toy_plugins must be importable there, as a user's plugin package must be on a real cluster
    # (and wandb, if a test logs to it, must stay offline there).
    os.environ["LOOPED_HRM_PLUGINS"] = "toy_plugins"
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), saved["PYTHONPATH"] or ""])
    os.environ["WANDB_MODE"], os.environ["WANDB_SILENT"] = "offline", "true"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def records(out: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))}


def test_ray_records_equal_local_records(ray_address, tmp_path):
    grid = ["--tasks", "parity", "--models", "hrm,baseline", "--halting", "act_q", "--jobs", "2", *FAST]
    local = bench(*grid, "--out", str(tmp_path / "local"), cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    remote = bench(
        *grid, "--executor", "ray", "--ray-address", ray_address, "--out", str(tmp_path / "ray"), cwd=tmp_path
    )
    assert remote.returncode == 0, remote.stderr

    by_local, by_ray = records(tmp_path / "local"), records(tmp_path / "ray")
    assert len(by_local) == 2 and by_local.keys() == by_ray.keys()
    for name, rec in by_local.items():
        other = by_ray[name]
        assert rec["status"] == other["status"] == "ok", name
        assert rec["combination"] == other["combination"] and rec["key"] == other["key"]
        assert deterministic_part(rec["metrics"]) == deterministic_part(other["metrics"]), name
    # the tables are built from the records alone: the same rows, the same numbers
    keep = ["task", "model", "halting", "seed", "status", "policy/exact_accuracy", "fixed/exact_accuracy"]
    assert pd.read_csv(tmp_path / "local" / "results.csv")[keep].equals(
        pd.read_csv(tmp_path / "ray" / "results.csv")[keep]
    )


def test_ray_worker_killed_mid_run_is_a_failed_row(ray_address, tmp_path):
    out = tmp_path / "out"
    result = bench(
        "--tasks",
        "parity",
        "--models",
        "dies,baseline",
        "--halting",
        "fixed",
        "--executor",
        "ray",
        "--ray-address",
        ray_address,
        "--out",
        str(out),
        *FAST,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr  # a failed combination shows in the exit code
    frame = pd.read_csv(out / "results.csv").set_index("model")
    assert frame.loc["baseline", "status"] == "ok"
    assert frame.loc["dies", "status"] == "failed" and "ray task failed" in frame.loc["dies", "note"]
    record = json.loads(next((out / "runs").glob("parity__dies__*.json")).read_text())
    assert record["status"] == "failed" and "WorkerCrashedError" in record["error"]


def test_run_options_reach_ray_workers_as_arguments(ray_address, tmp_path):
    """``--wandb`` (like ``--log-samples``) travels to the worker as an argument: a cluster started
    without it in its environment still logs every combination to its own wandb run."""
    pytest.importorskip("wandb", reason="the wandb extra is not installed (pip install -e '.[wandb]')")
    out = tmp_path / "ray"
    result = bench(
        *("--tasks", "parity", "--models", "hrm", "--halting", "act_q", *FAST),
        *("--executor", "ray", "--ray-address", ray_address, "--wandb", "looped-hrm-test", "--out", str(out)),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (record,) = records(out).values()
    runs = list((out / "work" / record["key"] / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and runs[0].name.endswith(record["key"])  # one wandb run, its id the key
