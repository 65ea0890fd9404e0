"""The optional wandb logger, offline (runs only where the `wandb` extra is installed)."""

from __future__ import annotations

import pytest

from looped_hrm.registry import get_registry
from looped_hrm.runner.grid import BenchmarkConfig, expand
from looped_hrm.runner.worker import run_combination

from .conftest import TINY_EVAL, TINY_TRAIN


def test_offline_wandb_run_per_combination(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    bench = BenchmarkConfig(
        name="w",
        preset="tiny",
        device="cpu",
        tasks=["parity"],
        models=["hrm"],
        train=dict(TINY_TRAIN),
        eval=dict(TINY_EVAL),
    )
    (combo,) = expand(bench, get_registry())
    record = run_combination(combo, tmp_path, wandb="looped-hrm-test")
    assert record["status"] == "ok", record.get("traceback")
    runs = list((tmp_path / "work" / combo.key / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and runs[0].name.endswith(combo.key)  # the run id is the combination's key
    assert any(p.suffix == ".wandb" and p.stat().st_size > 0 for p in runs[0].iterdir())
