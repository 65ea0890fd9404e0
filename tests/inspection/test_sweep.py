"""Sweeps: expansion into labelled entries (cross product), YAML and command line, the pivot table."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from looped_hrm.bench import main
from looped_hrm.config import ConfigError, Source, load_yaml
from looped_hrm.registry import get_registry
from looped_hrm.runner.grid import expand, load_benchmark
from looped_hrm.runner.sweep import apply_sweep, parse_sweep, sweep_table, swept_values

from .conftest import TINY_EVAL, TINY_TRAIN


def test_parse_sweep_reads_yaml_values():
    assert parse_sweep("model.H_cycles=1,2,4") == ("model.H_cycles", [1, 2, 4])
    assert parse_sweep("eval.curve=[1,2],[4]") == ("eval.curve", [[1, 2], [4]])
    for bad in ("H_cycles=1,2", "model=1", "model.H_cycles=", "model.H_cycles=1,1"):
        with pytest.raises(ConfigError, match="--sweep"):
            parse_sweep(bad)


def test_cross_product_and_labels():
    data = {
        "name": "s",
        "preset": "tiny",
        "tasks": ["sudoku"],
        "models": ["hrm", {"plugin": "trm", "label": "t"}],
        "halting": ["act_q"],
        "sweep": {"model.H_cycles": [1, 2], "train.max_segments": [2, 4], "halting.exploration_prob": [0.0]},
    }
    out = apply_sweep(data)
    labels = [e["label"] for e in out["models"]]
    assert labels[:4] == [
        "hrm[H_cycles=1,train.max_segments=2]",
        "hrm[H_cycles=1,train.max_segments=4]",
        "hrm[H_cycles=2,train.max_segments=2]",
        "hrm[H_cycles=2,train.max_segments=4]",
    ]
    assert labels[4].startswith("t[") and len(labels) == 8
    assert out["models"][3]["config"] == {"H_cycles": 2} and out["models"][3]["train"] == {"max_segments": 4}
    assert out["halting"] == [
        {"plugin": "act_q", "label": "act_q[exploration_prob=0.0]", "config": {"exploration_prob": 0.0}}
    ]
    assert swept_values(labels[1]) == ("hrm", {"H_cycles": "1", "train.max_segments": "4"})
    assert swept_values("hrm") == ("hrm", {})


def test_yaml_sweep_section_is_expanded_and_validated(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text(
        "name: b\npreset: tiny\ntrain: {steps: 5}\ntasks: [sudoku]\nmodels: [hrm]\nsweep:\n  model.H_cycles: [1, 2]\n"
    )
    data, source = load_yaml(path)
    combos = expand(load_benchmark(data, source), get_registry(), source)
    assert [c.labels[1] for c in combos] == ["hrm[H_cycles=1]", "hrm[H_cycles=2]"]
    assert [c.model["config"]["H_cycles"] for c in combos] == [1, 2] and combos[0].key != combos[1].key
    path.write_text(
        "name: b\npreset: tiny\ntrain: {steps: 5}\ntasks: [sudoku]\nmodels: [hrm]\nsweep:\n  model.H_cyles: [1, 2]\n"
    )
    data, source = load_yaml(path)
    with pytest.raises(ConfigError, match="H_cyles: unknown key"):
        expand(load_benchmark(data, source), get_registry(), source)
    with pytest.raises(ConfigError, match="sweep"):
        load_benchmark({"name": "b", "tasks": ["sudoku"], "models": ["hrm"], "sweep": {"H_cycles": [1]}}, Source("x"))


def test_pivot_on_the_swept_key():
    frame = pd.DataFrame(
        [
            {
                "task": "sudoku",
                "model": f"hrm[H_cycles={h}]",
                "halting": "act_q",
                "seed": s,
                "status": "ok",
                "policy/exact_accuracy": 0.1 * h + 0.01 * s,
                "policy/mean_segments": 2.0,
            }
            for h in (4, 1, 2)
            for s in (0, 1)
        ]
        + [
            {
                "task": "sudoku",
                "model": "baseline",
                "halting": "act_q",
                "seed": 0,
                "status": "ok",
                "policy/exact_accuracy": 0.5,
            }
        ]
    )
    table = sweep_table(frame)
    assert list(table.H_cycles) == ["1", "2", "4"] and list(table.seeds) == [2, 2, 2]  # numeric order; baseline out
    assert table["exact %"].tolist() == pytest.approx([10.5, 20.5, 40.5])


def test_sweep_run_writes_a_pivot_table(tmp_path, capsys):
    out = tmp_path / "r"
    args = [
        "--tasks",
        "sudoku",
        "--models",
        "hrm",
        "--preset",
        "tiny",
        "--device",
        "cpu",
        "--jobs",
        "1",
        "--no-progress",
        "--out",
        str(out),
        "--sweep",
        "model.H_cycles=1,2",
        *[f"--set=train.{k}={v}" for k, v in TINY_TRAIN.items()],
        *[f"--set=eval.{k}={json.dumps(v)}" for k, v in TINY_EVAL.items()],
    ]
    assert main([*args, "--print-config"]) == 0
    assert capsys.readouterr().out.count("# sudoku/hrm[H_cycles=") == 2
    assert main(args) == 0
    table = pd.read_csv(out / "sweep.csv")
    assert list(table.H_cycles) == [1, 2] and set(table.model) == {"hrm"}
    assert "Sweep over `H_cycles`" in (out / "sweep.md").read_text() and (out / "sweep.png").exists()
