"""The bad-input catalogue: every way a user can get the runner's input wrong ends in ONE line that
names the culprit (file:line, key path, option, device), exit code 2, and nothing started or lost.

One test per case of issue #10's evidence list. They run the command in-process (`main`), so a
case that is caught early costs milliseconds; a case that is caught late would start workers and
fail the assertions (exit 1, a results folder)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from looped_hrm.bench import main

GRID = ["--tasks", "parity", "--models", "hrm", "--preset", "tiny"]


def run_bad(capsys, tmp_path: Path, *args: str) -> str:
    """Run the bench command; assert exit 2, one error line, no output folder; return the line."""
    out = tmp_path / "out"
    code = main([*args, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert not out.exists(), "nothing may start before the input is validated"
    return err


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bench.yaml"
    path.write_text(text)
    return path


# ------------------------------------------------------------------ train:/eval: and --time-budget


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.stpes=5", "--set train.stpes=5: train.stpes: unknown key (did you mean 'steps'?)"),
        ("train.steps=0", "--set train.steps=0: train.steps: steps must be > 0, got 0"),
        ("train.lr=-1", "--set train.lr=-1: train.lr: lr must be >= 0"),
        ("eval.max_segments=0", "--set eval.max_segments=0: eval.max_segments: max_segments must be > 0"),
        ("eval.cruve=[1]", "--set eval.cruve=[1]: eval.cruve: unknown key (did you mean 'curve'?)"),
    ],
)
def test_bad_train_or_eval_value_on_the_command_line(capsys, tmp_path, override, expected):
    assert expected in run_bad(capsys, tmp_path, *GRID, "--set", override)


def test_typo_under_train_in_a_benchmark_file_names_its_line(capsys, tmp_path):
    path = write(tmp_path, "name: b\ntasks: [parity]\nmodels: [hrm]\npreset: tiny\ntrain:\n  steps: 10\n  stpes: 5\n")
    assert f"{path}:7: train.stpes: unknown key (did you mean 'steps'?)" in run_bad(
        capsys, tmp_path, "--benchmark", str(path)
    )


def test_bad_value_in_an_entrys_train_block_names_that_entry(capsys, tmp_path):
    path = write(
        tmp_path,
        "name: b\ntasks: [parity]\nmodels:\n  - plugin: hrm\n    train: {steps: 0}\npreset: tiny\ntrain: {steps: 10}\n",
    )
    assert f"{path}:5: models.0.train.steps: steps must be > 0" in run_bad(capsys, tmp_path, "--benchmark", str(path))


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf"])
def test_bad_time_budget(capsys, tmp_path, value):
    assert "--time-budget" in run_bad(capsys, tmp_path, *GRID, "--time-budget", value)


def test_train_and_eval_enter_the_key_resolved():
    """A default that changes must change the key: the record holds every field, not only those given."""
    from looped_hrm.commands import build_parser
    from looped_hrm.commands.run import build_benchmark
    from looped_hrm.evaluation.config import EvalConfig
    from looped_hrm.registry import get_registry
    from looped_hrm.runner.grid import expand
    from looped_hrm.training.config import TrainConfig

    args = build_parser().parse_args(["run", *GRID])
    bench, source = build_benchmark(args)
    (combo,) = expand(bench, get_registry(), source)
    assert set(combo.train) == set(TrainConfig.__dataclass_fields__)
    assert set(combo.eval) == set(EvalConfig.__dataclass_fields__)


# ------------------------------------------------------------------------------- presets, numbers


def test_unknown_preset_lists_the_presets(capsys, tmp_path):
    err = run_bad(capsys, tmp_path, "--tasks", "parity", "--models", "hrm", "--preset", "tiyn")
    assert "--preset tiyn" in err and "did you mean 'tiny'" in err and "presets: tiny, small, paper" in err


def test_unknown_preset_in_info_lists_the_presets(capsys):
    from looped_hrm.commands import main as core_main

    assert core_main(["info", "--model", "hrm", "--task", "sudoku", "--preset", "tiyn"]) == 2
    assert "presets: tiny, small, paper" in capsys.readouterr().err


def test_huge_config_value(capsys, tmp_path):
    err = run_bad(capsys, tmp_path, *GRID, "--set", f"model.hidden_size={2**70}")
    assert "models.0.config.hidden_size" in err and "out of range" in err


def test_huge_train_value(capsys, tmp_path):
    assert "train.steps" in run_bad(capsys, tmp_path, *GRID, "--set", f"train.steps={2**70}")


@pytest.mark.parametrize("jobs", ["0", "-3"])
def test_jobs_must_be_positive(capsys, tmp_path, jobs):
    assert f"--jobs {jobs}" in run_bad(capsys, tmp_path, *GRID, "--jobs", jobs)


def test_duplicate_seeds_are_rejected(capsys, tmp_path):
    assert "seed 0 is given twice" in run_bad(capsys, tmp_path, *GRID, "--seeds", "0,0")


def test_duplicate_yaml_key_is_rejected(capsys, tmp_path):
    path = write(tmp_path, "name: b\ntasks: [parity]\nmodels: [hrm]\npreset: tiny\ntrain:\n  steps: 10\n  steps: 5\n")
    assert f"{path}:7: train.steps: duplicate key (first given on line 6" in run_bad(
        capsys, tmp_path, "--benchmark", str(path)
    )


# ---------------------------------------------------------------------------------------- devices


def test_cuda_on_a_cpu_only_torch_names_the_device(capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    err = run_bad(capsys, tmp_path, *GRID, "--device", "cuda")
    assert "--device cuda" in err and "'cuda' is not available" in err


def test_unknown_device(capsys, tmp_path):
    assert "unknown device 'gpu'" in run_bad(capsys, tmp_path, *GRID, "--device", "gpu")


# ----------------------------------------------------------------------------- records on disk

REFERENCE_RECORD = next(
    (Path(__file__).resolve().parents[2] / "results" / "ci-cpu" / "runs").glob("parity__hrm__*.json")
)


@pytest.mark.parametrize(
    "text", ["{}", "[]", '"x"', "{not json", None], ids=["empty", "list", "string", "broken", "garbage-metrics"]
)
def test_malformed_record_is_named_and_skipped_by_report(capsys, tmp_path, text):
    import json

    from looped_hrm.commands.report import report

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "good.json").write_text(REFERENCE_RECORD.read_text())
    if text is None:
        record = json.loads(REFERENCE_RECORD.read_text())
        text = json.dumps({**record, "metrics": "garbage"})
    (runs / "bad.json").write_text(text)
    assert report(tmp_path) == 0
    err = capsys.readouterr().err
    assert f"{runs / 'bad.json'}: result record skipped" in err
    assert (tmp_path / "results.csv").read_text().count("\n") == 2  # header + the good record


def test_malformed_record_does_not_block_resume(tmp_path):
    from looped_hrm.commands.run import _finished_ok

    path = tmp_path / "r.json"
    path.write_text("[]")
    assert _finished_ok(path) is False  # rerun, not a crash


# ------------------------------------------------------------------------------ the --out folder


def run_with_out(capsys, out: Path | str, *args: str) -> tuple[int, str]:
    code = main([*GRID, "--set", "train.steps=2", *args, "--out", str(out)])
    return code, capsys.readouterr().err.strip()


def test_out_that_is_a_file(capsys, tmp_path):
    out = tmp_path / "file"
    out.write_text("x")
    code, err = run_with_out(capsys, out)
    assert code == 2 and err == f"error: --out {out}: exists and is not a folder"


def test_out_under_proc(capsys):
    code, err = run_with_out(capsys, "/proc/looped_hrm_results")
    assert code == 2 and len(err.splitlines()) == 1 and "--out /proc/looped_hrm_results: cannot create" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_that_is_read_only(capsys, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    code, err = run_with_out(capsys, out)
    assert code == 2 and len(err.splitlines()) == 1 and f"--out {out}: cannot" in err


def test_second_command_on_the_same_out_names_the_holder(capsys, tmp_path):
    from looped_hrm.runner.lock import FolderLock

    out = tmp_path / "out"
    (out / "runs").mkdir(parents=True)
    with FolderLock(out):  # another command holds the folder
        code, err = run_with_out(capsys, out)
    assert code == 2 and f"in use by another looped_hrm command (PID {os.getpid()})" in err
    assert not list((out / "runs").iterdir()) and not (out / "work").exists()


def test_disk_full_is_one_line_naming_the_file(capsys, tmp_path, monkeypatch):
    import errno

    import looped_hrm.report.tables as tables

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / REFERENCE_RECORD.name).write_text(REFERENCE_RECORD.read_text())

    def full(path, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(tables, "atomic_write_text", full)
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path / 'results.csv'}: No space left on device (the records in runs/ are untouched)"


def test_result_files_are_readable_by_others(tmp_path):
    from looped_hrm.atomic import atomic_write_json

    path = atomic_write_json(tmp_path / "r.json", {"a": 1})
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_ray_executor_without_ray(capsys, tmp_path):
    if importlib.util.find_spec("ray") is not None:
        pytest.skip("Ray is installed here")
    assert "--executor ray: Ray is not installed" in run_bad(capsys, tmp_path, *GRID, "--executor", "ray")


# ------------------------------------------------------------------------------------- plugins


def test_duplicate_plugin_warning_blames_the_newcomer(tmp_path, monkeypatch):
    """A local module that re-registers a built-in name is the one skipped and named, not the built-in."""
    from looped_hrm.registry import build_registry

    (tmp_path / "dup_parity.py").write_text(
        "from looped_hrm import hookimpl\n"
        "from looped_hrm.contracts import TaskSpec\n"
        "from looped_hrm.plugins.tasks.parity import ParityConfig, ParityTask\n\n"
        "@hookimpl\n"
        "def looped_hrm_tasks():\n"
        "    return [TaskSpec(name='parity', factory=ParityTask, config=ParityConfig, description='a copy')]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = build_registry(extra_modules=["dup_parity"])
    (failure,) = [f for f in registry.failures if "parity" in f.error]
    assert failure.plugin == "dup_parity" and "already registered by package 'looped-hrm'" in failure.error
    assert registry.entries["task"]["parity"].origin.package == "looped-hrm"


def test_huge_fixed_segments_is_refused_before_it_runs_forever(capsys, tmp_path):
    err = run_bad(capsys, tmp_path, *GRID, "--set", "eval.fixed_segments=100000000")
    assert "--set eval.fixed_segments=100000000: eval.fixed_segments: fixed_segments must be <= 4096" in err


def test_model_config_its_constructor_refuses(capsys, tmp_path):
    """Checked on the meta device before anything runs, not in every worker."""
    err = run_bad(capsys, tmp_path, *GRID, "--set", "model.hidden_size=30")
    assert "--set model.hidden_size=30: models.0.config: model 'hrm' cannot be built for task 'parity'" in err
    assert "even head dimension" in err
