"""A result's identity is everything that produced it: resolved configs, plugin versions and
revisions, and the content of the data. Any change is a new key, so a rerun never serves a stale
record; the record stores all of it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from looped_hrm.registry import build_registry
from looped_hrm.resolve import fingerprint_data, resolve_combination


def puzzle_lines(count: int) -> list[str]:
    """``count`` generated 4×4 Sudokus as plain ``puzzle,solution`` lines (digits, 0 = blank)."""
    from looped_hrm.plugins.tasks.sudoku.task import SudokuConfig, SudokuTask

    split = SudokuTask(SudokuConfig(size=4, num_train=1, num_test=count)).build("test")
    digits = lambda row: "".join(str(int(t) - 1) for t in row)  # noqa: E731 - token d + 1 is digit d
    return [f"{digits(x)},{digits(y)}" for x, y in zip(split.inputs, split.labels)]


def file_combo(path: Path, registry=None):
    config = {"size": 4, "train_file": str(path), "test_file": str(path), "num_train": 6, "num_test": 6}
    combo = resolve_combination(
        "sudoku", "hrm", preset="tiny", task_config=config, train={"steps": 2}, registry=registry
    )
    fingerprint_data([combo], registry)
    return combo


@pytest.fixture
def puzzle_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPED_HRM_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "puzzles.txt"
    path.write_text("\n".join(puzzle_lines(16)) + "\n")
    return path


def test_editing_a_data_file_gives_a_new_key(puzzle_file):
    before = file_combo(puzzle_file)
    assert file_combo(puzzle_file).key == before.key  # same content, same key
    lines = puzzle_file.read_text().splitlines()
    puzzle_file.write_text("\n".join(lines[1:] + lines[:1]) + "\n")  # same name, other content
    after = file_combo(puzzle_file)
    assert after.task == before.task  # the config names the same file ...
    assert after.data != before.data and after.key != before.key  # ... but the data differ


def test_a_plugin_revision_or_package_version_gives_a_new_key(puzzle_file):
    registry = build_registry()
    before = file_combo(puzzle_file, registry)
    entry = registry.entries["model"]["hrm"]
    registry.entries["model"]["hrm"] = dataclasses.replace(entry, spec=dataclasses.replace(entry.spec, revision=2))
    revised = file_combo(puzzle_file, registry)
    assert revised.model["revision"] == 2 and revised.key != before.key
    registry.entries["model"]["hrm"] = dataclasses.replace(
        entry, origin=dataclasses.replace(entry.origin, version="9.9")
    )
    upgraded = file_combo(puzzle_file, registry)
    assert upgraded.model["version"] == "9.9" and upgraded.key not in (before.key, revised.key)


def test_a_local_plugin_module_is_versioned_by_its_source(tmp_path, monkeypatch):
    module = tmp_path / "my_local_models.py"
    module.write_text(Path(__file__).with_name("toy_plugins.py").read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = build_registry(extra_modules=["my_local_models"])
    combo = resolve_combination(
        "parity", "no_halting_head", "fixed", preset="tiny", train={"steps": 2}, registry=registry
    )
    assert combo.model["version"].startswith("local-")


def test_a_truncated_cache_file_is_rebuilt_and_named(tmp_path, monkeypatch, capsys):
    from looped_hrm.cache import cache_dir
    from looped_hrm.plugins.tasks.parity import ParityConfig, ParityTask

    monkeypatch.setenv("LOOPED_HRM_CACHE", str(tmp_path))
    task = ParityTask(ParityConfig(num_train=8, num_test=8))
    first = task.build("test")
    (path,) = cache_dir().rglob("test-*.npz")
    path.write_bytes(path.read_bytes()[:50])
    again = task.build("test")
    assert (again.inputs == first.inputs).all()
    assert str(path) in capsys.readouterr().err


def test_the_checkpoint_training_starts_from_is_part_of_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPED_HRM_CACHE", str(tmp_path / "cache"))
    checkpoint = tmp_path / "official.pt"

    def key() -> str:
        combo = resolve_combination("parity", "hrm", preset="tiny", train={"steps": 2, "init_from": str(checkpoint)})
        fingerprint_data([combo])
        return combo.key

    checkpoint.write_bytes(b"weights v1")
    first = key()
    checkpoint.write_bytes(b"weights v2")  # same path, other weights
    assert key() != first
