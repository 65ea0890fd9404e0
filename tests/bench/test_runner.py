"""The benchmark runner end to end: grid expansion, skips with reasons, failures isolated,
resume, report from JSONs, and an interrupted parallel run completed by a rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from looped_hrm.config import ConfigError, Source
from looped_hrm.registry import build_registry
from looped_hrm.runner.grid import BenchmarkConfig, PluginEntry, expand, load_benchmark

HERE = Path(__file__).resolve().parent
# Tiny budgets: the point is the plumbing, not the accuracy.
FAST = [
    "--preset",
    "tiny",
    "--set",
    "train.steps=12",
    "--set",
    "train.log_every=4",
    "--set",
    "eval.limit=16",
    "--set",
    "eval.curve=[1,2]",
    "--set",
    "eval.fixed_segments=2",
    "--set",
    "train.max_segments=2",
]


def bench(*args: str, cwd: Path, timeout: float = 300, wait: bool = True):
    env = {
        **os.environ,
        "LOOPED_HRM_PLUGINS": "toy_plugins",
        "OMP_NUM_THREADS": "1",  # beside other xdist workers
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, "-m", "looped_hrm.bench", *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def registry():
    sys.path.insert(0, str(HERE))
    return build_registry(extra_modules=["toy_plugins"])


def test_grid_expands_every_combination_with_stable_keys(registry):
    config = BenchmarkConfig(
        name="t",
        preset="tiny",
        seeds=[0, 1],
        train={"steps": 10},
        tasks=["parity", PluginEntry(plugin="sudoku", label="sudoku4", config={"size": 4})],
        models=["hrm", "baseline"],
        halting=["fixed", "act_q"],
    )
    combos = expand(config, registry)
    assert len(combos) == 2 * 2 * 2 * 2
    assert {c.labels for c in combos} >= {("sudoku4", "baseline", "act_q"), ("parity", "hrm", "fixed")}
    baseline = next(c for c in combos if c.labels[1] == "baseline")
    assert baseline.model["plugin"] == "transformer" and baseline.model["preset"] == "tiny"
    assert len({c.key for c in combos}) == len(combos)
    assert [c.key for c in expand(config, registry)] == [c.key for c in combos]
    assert all(c.skip_reason is None for c in combos)


def test_unrunnable_combination_is_kept_with_its_reason(registry):
    config = BenchmarkConfig(
        name="t",
        preset="tiny",
        train={"steps": 10},
        tasks=["parity"],
        models=["no_halting_head"],
        halting=["act_q", "fixed"],
    )
    by_policy = {c.labels[2]: c for c in expand(config, registry)}
    assert "drives level(s) segment that the model does not support" in by_policy["act_q"].skip_reason
    assert by_policy["fixed"].skip_reason is None


def test_excluded_cells_leave_the_grid(registry, tmp_path):
    from looped_hrm.config import load_yaml

    path = tmp_path / "b.yaml"
    path.write_text(
        "name: b\npreset: tiny\ntrain: {steps: 10}\ntasks: [parity, {plugin: sudoku, label: sudoku4, config: {size: 4}}]\n"
        "models: [hrm, baseline]\nhalting: [fixed, act_q]\n"
        "exclude:\n  - {task: sudoku4, model: baseline}\n  - {model: hrm, halting: act_q}\n"
    )
    data, source = load_yaml(path)
    combos = expand(load_benchmark(data, source), registry, source)
    assert sorted(c.labels for c in combos) == [
        ("parity", "baseline", "act_q"),
        ("parity", "baseline", "fixed"),
        ("parity", "hrm", "fixed"),
        ("sudoku4", "hrm", "fixed"),
    ]
    data["exclude"].append({"task": "sudoku6"})
    with pytest.raises(ConfigError, match=r"b\.yaml:\d+: exclude\.2\.task: no task entry labelled 'sudoku6'"):
        load_benchmark(data, source)
    # a selection by label keeps the patterns that can still match, and its grid is the file's minus them
    result = bench("--benchmark", str(path), "--models", "baseline", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 combinations" in result.stdout


def test_benchmark_file_errors_name_the_key_path(registry, tmp_path):
    from looped_hrm.config import load_yaml

    path = tmp_path / "b.yaml"
    path.write_text("name: b\ntasks: [parity]\nmodels:\n  - plugin: hrm\n    config: {H_cyles: 3}\n")
    data, source = load_yaml(path)
    with pytest.raises(
        ConfigError, match=r"b\.yaml:5: models\.0\.config\.H_cyles: unknown key \(did you mean 'H_cycles'\?\)"
    ):
        expand(load_benchmark(data, source), registry, source)
    with pytest.raises(ConfigError, match="both labelled 'parity'"):
        load_benchmark({"name": "b", "tasks": ["parity", "parity"]}, Source("b.yaml"))


def test_unknown_model_fails_early_with_did_you_mean(tmp_path):
    result = bench("--tasks", "sudoku", "--models", "hrn", cwd=tmp_path)
    assert result.returncode == 2
    assert "did you mean 'hrm'?" in result.stderr
    assert not (tmp_path / "results").exists()


def test_dry_run_prints_the_grid_and_runs_nothing(tmp_path):
    result = bench("--tasks", "parity", "--models", "hrm,baseline", "--dry-run", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "est. train PFLOP" in result.stdout and "2 combinations" in result.stdout
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_failures_are_rows_reruns_resume_and_report_rebuilds(tmp_path):
    out = tmp_path / "out"
    args = [
        "--tasks",
        "parity",
        "--models",
        "hrm,explodes,no_halting_head",
        "--halting",
        "act_q",
        "--jobs",
        "2",
        "--out",
        str(out),
        *FAST,
    ]
    first = bench(*args, cwd=tmp_path)
    assert first.returncode == 1, first.stderr  # a failed combination is reported in the exit code
    frame = pd.read_csv(out / "results.csv").set_index("model")
    assert frame.loc["hrm", "status"] == "ok" and frame.loc["hrm", "policy/exact_accuracy"] >= 0
    assert frame.loc["explodes", "status"] == "failed" and "always explodes" in frame.loc["explodes", "note"]
    assert frame.loc["no_halting_head", "status"] == "skipped"
    record = json.loads(next((out / "runs").glob("parity__hrm__*.json")).read_text())
    assert record["environment"]["torch"] and record["combination"]["seed"] == 0
    # the record holds everything its key hashes: versions, revisions, the data actually used
    assert record["combination"]["model"]["version"] and record["combination"]["task"]["revision"] >= 1
    assert record["data"] == record["combination"]["data"] and set(record["data"]) == {"train", "test"}

    # A rerun trains nothing that finished: only the failed combination is tried again.
    results_md = (out / "results.md").read_text()
    second = bench(*args, cwd=tmp_path)
    assert "1 already done" not in second.stderr and "1 to run" in second.stderr
    assert (out / "results.md").read_text() == results_md
    assert len(pd.read_csv(out / "results.csv")) == 3

    # `report` rebuilds the same tables from the JSON records alone.
    for name in ("results.md", "results.csv", "leaderboard.md"):
        (out / name).unlink()
    report = subprocess.run(
        [sys.executable, "-m", "looped_hrm.bench", "report", str(out)], capture_output=True, text=True, timeout=120
    )
    assert report.returncode == 1 and "explodes" in report.stderr  # still one failed row
    assert (out / "results.md").read_text() == results_md


@pytest.mark.slow
def test_killed_parallel_run_resumes_without_duplicates(tmp_path):
    out = tmp_path / "out"
    args = [
        "--tasks",
        "parity",
        "--models",
        "hrm,baseline",
        "--seeds",
        "0,1,2",
        "--jobs",
        "2",
        "--out",
        str(out),
        *FAST,
    ]
    proc = bench(*args, cwd=tmp_path, wait=False)
    runs = out / "runs"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(runs.glob("*.json"))) < 1:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    finished_before = len(list(runs.glob("*.json")))
    assert 1 <= finished_before < 6, "kill the run while combinations are still in flight"
    time.sleep(1)  # workers die with the parent (PR_SET_PDEATHSIG); nothing else may write now
    assert len(list(runs.glob("*.json"))) == finished_before

    rerun = bench(*args, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{finished_before} already done" in rerun.stderr
    frame = pd.read_csv(out / "results.csv")
    assert len(frame) == 6 and not frame.duplicated(["task", "model", "halting", "seed"]).any()
    assert (frame.status == "ok").all()


@pytest.mark.parametrize(
    "text, seeds", [("3", [0, 1, 2]), ("1", [0]), ("0,1,2", [0, 1, 2]), ("5,", [5]), ("4, 7", [4, 7])]
)
def test_seeds_are_a_count_or_a_list(text, seeds):
    from looped_hrm.commands.run import parse_seeds

    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["0", "x", ""])
def test_bad_seeds_are_rejected(text):
    from looped_hrm.commands.run import parse_seeds

    with pytest.raises(ConfigError):
        parse_seeds(text)


@pytest.mark.parametrize("path", sorted((HERE.parents[1] / "benchmarks").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_benchmark_validates(registry, path):
    from looped_hrm.config import load_yaml

    data, source = load_yaml(path)
    combos = expand(load_benchmark(data, source), registry, source, devices=False)  # cuda grids too, on a CPU
    assert combos and all(c.skip_reason is None for c in combos)


def test_time_budget_replaces_the_step_budget(registry):
    from looped_hrm.commands import build_parser
    from looped_hrm.commands.run import build_benchmark

    args = build_parser().parse_args(["run", "--tasks", "sudoku", "--models", "hrm", "--time-budget", "60"])
    bench, source = build_benchmark(args)
    (combo,) = expand(bench, registry, source, time_budget=args.time_budget)
    assert combo.train["time_budget_s"] == 60 and combo.train["steps"] is None and combo.train["epochs"] is None


@pytest.mark.slow
def test_a_changed_config_rerun_into_the_same_folder_shows_only_the_new_grid(tmp_path):
    """Evidence: train.steps=12 then =8 into one --out used to average both runs as two seeds (2/2)."""
    out = tmp_path / "out"
    args = ["--tasks", "parity", "--models", "hrm", "--halting", "fixed", "--out", str(out), *FAST]
    assert bench(*args, cwd=tmp_path).returncode == 0
    second = bench(*args, "--set", "train.steps=8", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 already done, 1 to run" in second.stderr
    assert len(list((out / "runs").glob("*.json"))) == 2  # the older record stays on disk
    frame = pd.read_csv(out / "results.csv")
    assert len(frame) == 1 and frame["train/steps"].tolist() == [8]
    results_md = (out / "results.md").read_text()
    assert (
        "| 1/1 " in results_md
        and "train.steps=8" in results_md
        and "1 older records in runs/ are not shown" in results_md
    )

    everything = subprocess.run(
        [sys.executable, "-m", "looped_hrm.bench", "report", str(out), "--all"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert everything.returncode == 0, everything.stderr
    frame = pd.read_csv(out / "results.csv")
    assert len(frame) == 2 and frame.model.nunique() == 2  # two configs, two labels: never one cell of 2 seeds


@pytest.mark.slow
def test_no_resume_retrains_from_scratch(tmp_path):
    """Evidence: --no-resume deleted the record, then loaded the finished checkpoint and only re-evaluated."""
    out = tmp_path / "out"
    args = ["--tasks", "parity", "--models", "hrm", "--halting", "fixed", "--out", str(out), *FAST]
    assert bench(*args, cwd=tmp_path).returncode == 0
    (record_file,) = (out / "runs").glob("*.json")
    (log,) = (out / "work").glob("*/train_log.jsonl")
    first, first_log = json.loads(record_file.read_text()), log.read_text().splitlines()
    again = bench(*args, "--no-resume", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    second = json.loads(record_file.read_text())
    assert second["metrics"]["train/wall_s"] != first["metrics"]["train/wall_s"]  # trained again ...
    assert second["metrics"]["policy/exact_accuracy"] == first["metrics"]["policy/exact_accuracy"]  # ... identically
    assert len(log.read_text().splitlines()) == len(first_log)  # in a fresh work folder, not appended


def _workers_of(pid: int) -> list[int]:
    """PIDs of the multiprocessing workers whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"multiprocessing" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_workers_killed_while_starting_do_not_outlive_the_parent(tmp_path):
    """Evidence: kill -9 right after the workers start (before they set PR_SET_PDEATHSIG) left orphans."""
    out = tmp_path / "out"
    proc = bench(
        "--tasks",
        "parity",
        "--models",
        "hrm,baseline",
        "--jobs",
        "2",
        "--out",
        str(out),
        *FAST,
        cwd=tmp_path,
        wait=False,
    )
    deadline = time.time() + 120
    workers: list[int] = []
    while time.time() < deadline and not workers and proc.poll() is None:
        workers = _workers_of(proc.pid)
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # while the workers are still importing the engine
    proc.wait(timeout=60)
    assert workers, "the run ended before its workers could be seen"
    deadline = time.time() + 60
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers), "a worker outlived its parent"
    assert not list((out / "runs").glob("*.json"))  # nothing half-written either


def test_a_results_folder_names_its_command_in_the_documented_spelling():
    from looped_hrm.commands.run import run_command

    typed = ["--tasks", "sudoku", "--set", "task.test_difficulty=[easy, hard]"]
    expected = "looped-hrm run --tasks sudoku --set 'task.test_difficulty=[easy, hard]'"
    assert run_command(["run", *typed]) == expected  # looped-hrm run / python -m looped_hrm run
    assert run_command(typed) == expected  # python -m looped_hrm.bench (the alias)
