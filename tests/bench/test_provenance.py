"""What a record says about the code and machine that made it, and what a table says about its records."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from looped_hrm.report.provenance import commit_of, commits, machines
from looped_hrm.report.tables import write_tables
from looped_hrm.runner.worker import environment, git_state


def test_a_record_names_the_cpu_its_kernels_and_threads():
    env = environment("cpu")
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert env["cpu_model"] is None or isinstance(env["cpu_model"], str)
    assert env["torch"] == torch.__version__ and env["numpy"] and env["torch_threads"] == torch.get_num_threads()


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True, capture_output=True
    )


def test_a_record_from_a_dirty_tree_says_so_and_hashes_the_diff(tmp_path):
    (tmp_path / "plain").mkdir()
    assert git_state(tmp_path / "plain") == {"git_commit": None}  # not a checkout
    tmp_path = tmp_path / "repo"
    tmp_path.mkdir()
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "commit", "-q", "-m", "one")
    clean = git_state(tmp_path)
    assert len(clean["git_commit"]) == 40 and clean["git_dirty"] is False and "git_changed" not in clean
    (tmp_path / "untracked.txt").write_text("results are untracked")  # does not count
    assert git_state(tmp_path)["git_dirty"] is False
    (tmp_path / "a.py").write_text("x = 2\n")
    dirty = git_state(tmp_path)
    assert dirty["git_commit"] == clean["git_commit"] and dirty["git_dirty"] is True
    assert dirty["git_changed"] == ["a.py"] and len(dirty["git_diff_sha256"]) == 64
    (tmp_path / "a.py").write_text("x = 3\n")
    assert git_state(tmp_path)["git_diff_sha256"] != dirty["git_diff_sha256"]  # other uncommitted code
    # a committed result folder rewritten by a grid rerun into it is output, not code
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "results" / "grid").mkdir(parents=True)
    (tmp_path / "results" / "grid" / "run.json").write_text("{}")
    _git(tmp_path, "add", "results")
    _git(tmp_path, "commit", "-q", "-m", "results")
    (tmp_path / "results" / "grid" / "run.json").write_text('{"keys": []}')
    assert git_state(tmp_path)["git_dirty"] is False
    (tmp_path / "a.py").write_text("x = 2\n")
    both = git_state(tmp_path)
    assert both["git_changed"] == ["a.py"] and both["git_diff_sha256"] == dirty["git_diff_sha256"]


def rec(commit=None, dirty=None, diff=None, **machine):
    env = {"git_commit": commit, "device": "cpu", "torch": "2.13.0", "numpy": "2.4", "torch_threads": 1, **machine}
    if dirty is not None:
        env["git_dirty"] = dirty
    if diff is not None:
        env["git_diff_sha256"] = diff
    return {"environment": env}


def test_commit_of_reads_old_and_new_records():
    assert commit_of(rec("abc")["environment"]) == ("abc", False, "")
    assert commit_of(rec("abc-dirty")["environment"]) == ("abc", True, "")  # records before git_dirty
    assert commit_of(rec("abc", True, "1234567890")["environment"]) == ("abc", True, "12345678")
    assert commit_of({}) == ("", False, "")
    only_results = {**rec("abc", True, "1234567890")["environment"], "git_changed": ["results/ci-cpu/run.json"]}
    assert commit_of(only_results) == ("abc", False, "")  # records that counted the grid's own run.json
    code = {**only_results, "git_changed": ["results/ci-cpu/run.json", "looped_hrm/x.py"]}
    assert commit_of(code) == ("abc", True, "12345678")


def test_a_table_names_the_commits_it_mixes_and_the_dirty_ones():
    one = [rec("0a86116b0637")] * 3
    assert commits(one) == "Code: commit 0a86116 (3 records)."
    mixed = one + [rec("b26b4c625de0-dirty")] * 2 + [rec("b26b4c625de0", True, "ffee0011aa")]
    assert commits(mixed) == (
        "This table mixes 2 commits; 3 records from a tree with uncommitted changes: 0a86116 (3 records), "
        "b26b4c6 with uncommitted changes (2 records), b26b4c6 with uncommitted changes, diff ffee0011 (1 record)."
    )
    assert commits([rec("abc", True, "00")]) == (
        "Code: commit abc with uncommitted changes, diff 00 (1 record). The tree had uncommitted changes."
    )
    assert commits([rec(None)]) == "Code: commit an unknown commit (1 record)." and commits([]) == ""


def test_a_table_names_its_machines():
    recs = [rec("a", cpu_model="Xeon", cpu_capability="AVX512")] * 2 + [
        rec("a", cpu_model="Xeon", cpu_capability="AVX2")
    ]
    assert machines(recs) == (
        "Machines: device cpu, CPU Xeon, ATen CPU capability AVX512, torch 2.13.0, numpy 2.4, threads 1 (2 records); "
        "device cpu, CPU Xeon, ATen CPU capability AVX2, torch 2.13.0, numpy 2.4, threads 1 (1 record)."
    )
    assert "CPU not recorded" in machines([rec("a")])


@pytest.mark.parametrize("name", ["results.md", "leaderboard.md", "comparisons.md", "buckets.md"])
def test_every_table_carries_the_provenance(tmp_path, name):
    recs = [
        {
            "key": f"k{seed}",
            "combination": {
                "task": {"label": "t"},
                "model": {"label": "m"},
                "halting": {"label": "fixed"},
                "seed": seed,
            },
            "status": "ok",
            "metrics": {"policy/exact_accuracy": 0.5},
            **rec(commit),
        }
        for seed, commit in enumerate(("aaaaaaa1", "aaaaaaa1", "bbbbbbb2-dirty"))
    ]
    write_tables(tmp_path, recs)
    text = (tmp_path / name).read_text()
    assert "This table mixes 2 commits; 1 record from a tree with uncommitted changes: aaaaaaa (2 records)" in text
    assert "Machine: device cpu" in text
