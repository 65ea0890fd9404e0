"""`eval` never scores weights other than the run's (issue 21, cases 1, 3, 4 and 8-9).

A run folder is self-contained: copied or moved, `eval` reads its own checkpoint or refuses in one
line naming the file and what is wrong with it (missing, empty, truncated, another run's, another
config's, another model's). Results are keyed by the evaluated data's content and the evaluation's
settings, so no evaluation ever replaces another one."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from looped_hrm.commands import main

from .conftest import TRAIN, checkpoint_file, command, refused

pytestmark = pytest.mark.slow  # the fixtures train (a few seconds, once per module)


def evaluations(run: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run / "evals").glob("*.json"))]


def evaluate(capsys, run: Path, *extra: str) -> dict:
    code, out, err = command(capsys, "eval", str(run), "--no-progress", *extra)
    assert code == 0, err
    written = Path(out.strip().splitlines()[-1].removeprefix("-> "))
    assert written.parent == run / "evals", out
    return json.loads(written.read_text())


def sudoku_csv(path: Path, rows: int) -> Path:
    """``rows`` 4x4 Sudokus in HRM's CSV format (source,question,answer,rating)."""
    base = "1234341221434321"
    lines = ["source,question,answer,rating"]
    for k, perm in enumerate(["1234", "2143", "4321", "3412", "1243"][:rows]):
        answer = "".join(perm[int(c) - 1] for c in base)
        question = "".join("." if (i * 7 + k) % 3 == 0 else c for i, c in enumerate(answer))
        lines.append(f"user,{question},{answer},0")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def other_seed(tmp_path_factory) -> Path:
    """The same command with another seed: another run's checkpoint, of the very same architecture."""
    out = tmp_path_factory.mktemp("seed1") / "run"
    assert main([*TRAIN, "--seed", "1", "--out", str(out)]) == 0
    return out


# ------------------------------------------------------------------- a run folder is relocatable


def test_a_copied_run_folder_is_evaluated_with_its_own_checkpoint(capsys, run_dir, tmp_path):
    evaluate(capsys, run_dir)
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy, symlinks=True)  # cp -a
    checkpoint_file(copy).unlink()
    err = refused(capsys, "eval", str(copy), "--no-progress")
    assert f"{checkpoint_file(copy)}: missing" in err


def test_a_moved_run_folder_is_evaluated_with_its_own_checkpoint(capsys, run_dir, tmp_path):
    first = evaluate(capsys, run_dir)
    moved = tmp_path / "moved"
    run_dir.rename(moved)
    again = evaluate(capsys, moved)
    assert again["metrics"]["train/steps"] == 2
    assert again["metrics"]["policy/exact_accuracy"] == first["metrics"]["policy/exact_accuracy"]


def test_a_run_folder_holds_no_links(capsys, run_dir):
    evaluate(capsys, run_dir)
    links = [Path(d, n) for d, dirs, files in os.walk(run_dir) for n in dirs + files if Path(d, n).is_symlink()]
    assert links == []


# --------------------------------------------------------------------- a checkpoint that is wrong


def test_a_missing_checkpoint_is_refused_not_scored_untrained(capsys, run_dir):
    path = checkpoint_file(run_dir)
    path.unlink()
    err = refused(capsys, "eval", str(run_dir), "--no-progress")
    assert f"{path}: missing" in err
    assert evaluations(run_dir) == []


def test_an_empty_checkpoint_is_refused(capsys, run_dir):
    path = checkpoint_file(run_dir)
    path.write_bytes(b"")
    assert f"{path}: empty file" in refused(capsys, "eval", str(run_dir), "--no-progress")


def test_a_truncated_checkpoint_is_refused(capsys, run_dir):
    path = checkpoint_file(run_dir)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert f"{path}: cannot be read (truncated, or not a checkpoint)" in refused(
        capsys, "eval", str(run_dir), "--no-progress"
    )


def test_another_runs_checkpoint_is_refused(capsys, run_dir, other_seed):
    """Same architecture, same config, another seed: it loads without a complaint, so only its key tells."""
    path = checkpoint_file(run_dir)
    shutil.copy(checkpoint_file(other_seed), path)
    err = refused(capsys, "eval", str(run_dir), "--no-progress")
    assert f"{path}: written by another run" in err and path.parent.name in err


def test_a_checkpoint_trained_with_another_config_is_refused(capsys, run_dir):
    path = checkpoint_file(run_dir)
    state = torch.load(path, weights_only=True)
    state.pop("key", None)  # as written before checkpoints carried their run's key
    state["config"]["lr"] = 0.5
    torch.save(state, path)
    err = refused(capsys, "eval", str(run_dir), "--no-progress")
    assert f"{path}: trained with another config (lr: 0.5 -> 0.001)" in err


def test_another_models_checkpoint_is_refused(capsys, run_dir):
    path = checkpoint_file(run_dir)
    state = torch.load(path, weights_only=True)
    state.pop("key", None)
    state["model"] = {"some.weight": torch.zeros(3)}
    torch.save(state, path)
    err = refused(capsys, "eval", str(run_dir), "--no-progress")
    assert f"{path}: does not fit model HRM" in err


def test_an_official_state_dict_in_the_run_folder_is_refused(capsys, run_dir):
    path = checkpoint_file(run_dir)
    torch.save({"_orig_mod.model.inner.H_init": torch.zeros(4)}, path)
    assert f"{path}: not a looped_hrm checkpoint" in refused(capsys, "eval", str(run_dir), "--no-progress")


@pytest.mark.parametrize("text", ["[]", "{not json", '{"task": 1}'])
def test_a_broken_combination_file_is_named(capsys, run_dir, text):
    path = checkpoint_file(run_dir).with_name("combination.json")
    path.write_text(text)
    assert refused(capsys, "eval", str(run_dir), "--no-progress").startswith(
        f"error: {path}: not a readable combination"
    )


def test_another_runs_combination_file_is_refused(capsys, run_dir, other_seed):
    path = checkpoint_file(run_dir).with_name("combination.json")
    path.write_text(checkpoint_file(other_seed).with_name("combination.json").read_text())
    err = refused(capsys, "eval", str(run_dir), "--no-progress")
    assert err.startswith(f"error: {path}: describes run ") and f"not run {path.parent.name}" in err


# ----------------------------------------------------------- results keyed by the data's content


def test_evaluations_of_different_data_never_replace_one_another(capsys, run_dir, tmp_path):
    default = evaluate(capsys, run_dir)
    first = evaluate(capsys, run_dir, "--test-file", str(sudoku_csv(tmp_path / "a" / "test.csv", 3)))
    second = evaluate(capsys, run_dir, "--test-file", str(sudoku_csv(tmp_path / "b" / "test.csv", 5)))
    shorter = evaluate(capsys, run_dir, "--max-segments", "2")
    kept = evaluations(run_dir)
    assert len(kept) == 4  # none replaced another: the default, two files called test.csv, fewer segments
    assert sorted(r["metrics"]["policy/examples"] for r in kept) == [3, 5, 8, 8]
    assert {json.dumps(r["metrics"], sort_keys=True) for r in (default, first, second, shorter)} == {
        json.dumps(r["metrics"], sort_keys=True) for r in kept
    }


def test_the_same_evaluation_twice_is_one_result(capsys, run_dir, tmp_path):
    data = sudoku_csv(tmp_path / "mine.csv", 3)
    evaluate(capsys, run_dir, "--test-file", str(data))
    evaluate(capsys, run_dir, "--test-file", str(data))
    assert len(evaluations(run_dir)) == 1


# ------------------------------------------------- evaluation settings of a finished run (issue 22)


def test_a_finished_run_is_tested_on_a_new_split_without_training_again(capsys, run_dir):
    trained = checkpoint_file(run_dir).read_bytes()
    record = evaluate(capsys, run_dir, "--set", "eval.extrapolate={test_difficulty: [[easy]]}")
    assert record["metrics"]["extrapolate/test_difficulty=easy/policy/examples"] == 8  # eval.limit of the run
    assert "extrapolate/test_difficulty=easy/baseline:copy/exact_accuracy" in record["metrics"]
    assert checkpoint_file(run_dir).read_bytes() == trained  # evaluated, not trained
    plain = evaluate(capsys, run_dir)
    assert not any(k.startswith("extrapolate/") for k in plain["metrics"])
    assert len(evaluations(run_dir)) == 2  # another setting, another result


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("train.steps=5", "only eval.* and halting.* settings"),
        ("model.hidden_size=8", "only eval.* and halting.* settings"),
        ("eval=3", "only eval.* and halting.* settings"),
        ("halting.exploration_prob=2", "exploration_prob must be in [0, 1]"),
        ("eval.nonsense=3", "eval.nonsense: unknown key"),
        ("eval.batch_size=-1", "eval.batch_size: batch_size must be > 0"),
    ],
)
def test_a_run_folder_refuses_settings_that_would_change_what_was_trained(capsys, run_dir, setting, named):
    err = refused(capsys, "eval", str(run_dir), "--no-progress", "--set", setting)
    assert named in err and setting.split("=")[0] in err
    assert not (run_dir / "evals").exists()


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Path:
    """A benchmark's results folder: two seeds of DT-Recall on running parity, trained 2 steps."""
    out = tmp_path_factory.mktemp("grid") / "results"
    argv = ["run", "--tasks", "parity", "--models", "dt_net", "--preset", "tiny", "--seeds", "2", "--jobs", "1"]
    argv += ["--set", "task.mode=running", "--set", "train.steps=2", "--set", "eval.limit=8"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    return out


def test_a_benchmark_results_folder_is_evaluated_run_by_run(capsys, grid):
    err = refused(capsys, "eval", str(grid), "--no-progress")
    keys = sorted(p.name for p in (grid / "work").iterdir())
    assert "2 runs" in err and all(key in err for key in keys) and "--key" in err
    record = evaluate(
        capsys, grid, "--key", keys[1], "--set", "eval.extrapolate={test_length: [48]}", "--set", "eval.policy=false"
    )
    assert record["trained_key"] == keys[1]
    assert record["metrics"]["extrapolate/test_length=48/fixed/examples"] == 8
    assert "extrapolate/test_length=48/policy/examples" not in record["metrics"]
    assert "no run nonsense here" in refused(capsys, "eval", str(grid), "--key", "nonsense", "--no-progress")


def test_evaluations_of_every_run_are_tabled_as_the_runs_are(capsys, grid):
    """`report DIR/evals`: the evaluations at a new size, one per seed, averaged like the grid's runs."""
    for key in sorted(p.name for p in (grid / "work").iterdir()):
        evaluate(
            capsys, grid, "--key", key, "--set", "eval.extrapolate={test_length: [64]}", "--set", "eval.every_step=true"
        )
    code, out, err = command(capsys, "report", str(grid / "evals"))
    assert code == 0, err
    table = (grid / "evals" / "extrapolation.md").read_text()
    (row,) = [line for line in table.splitlines() if "test_length=64" in line]
    assert "| 2 " in row  # both seeds in one row
    assert not (grid / "evals" / "runs").exists()


# ---------------------------------------------- a finished run under another halting policy (issue 22)


def test_a_run_trained_under_fixed_is_evaluated_under_a_label_free_policy(capsys, grid):
    key = sorted(p.name for p in (grid / "work").iterdir())[0]

    def files() -> set[str]:
        return {p.name for p in (grid / "evals").glob("*.json")}

    own = evaluate(capsys, grid, "--key", key, "--set", "eval.every_step=true")
    before = files()
    other = evaluate(capsys, grid, "--key", key, "--set", "eval.every_step=true", "--halting", "converged")
    assert len(files() - before) == 1  # its own result, beside the run's own policy's
    assert own["combination"]["halting"]["plugin"] == "fixed"
    assert other["combination"]["halting"]["plugin"] == "converged" and other["trained_key"] == key
    fixed = {k: v for k, v in own["metrics"].items() if k.startswith("fixed/") and "_s" not in k}
    assert fixed == {k: other["metrics"][k] for k in fixed}  # the same weights, the same fixed curve
    assert 2 <= other["metrics"]["policy/mean_segments"] <= own["metrics"]["policy/mean_segments"]
    patient = evaluate(capsys, grid, "--key", key, "--halting", "converged", "--set", "halting.patience=2")
    assert patient["combination"]["halting"]["config"] == {"patience": 2}
    before = files()
    evaluate(capsys, grid, "--key", key, "--set", "eval.every_step=true")  # the run's own policy: the same name
    assert files() == before


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--halting", "act_bce"], "reads the halting head, which run"),
        (["--halting", "nonsense"], "nonsense"),
        (
            ["--halting", "converged", "--set", "halting.patience=0"],
            "--set halting.patience=0: halting.config.patience: patience must be >= 1",
        ),
    ],
)
def test_a_policy_the_run_cannot_be_evaluated_under_is_refused(capsys, grid, argv, named):
    key = sorted(p.name for p in (grid / "work").iterdir())[0]
    before = sorted((grid / "evals").glob("*.json")) if (grid / "evals").exists() else []
    assert named in refused(capsys, "eval", str(grid), "--key", key, "--no-progress", *argv)
    assert (sorted((grid / "evals").glob("*.json")) if (grid / "evals").exists() else []) == before
