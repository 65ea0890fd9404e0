"""A benchmark as tests: every combination of ``ci.yaml`` trains on the CPU and must reach its
floor. Run with ``pytest benchmarks/ -n auto`` (one combination per test item, in parallel);
``LOOPED_HRM_BENCHMARK=benchmarks/smoke.yaml pytest benchmarks/ -n auto`` runs another file.

Every task of the file must also test on items it never trained on (`check_disjoint_splits`), and
every floor must mean learning: it must sit above the best trivial baseline (copying the input, the
majority label, a task's own rule) that the run itself scores on the same test rows, or the test
fails. A cell with no such floor at the CI budget is listed with ``dropped:`` and its reason, and
skipped. A combination without a floor fails too, so the YAML and the grid cannot drift apart:
after changing the grid, re-measure with the command at the top of the YAML and write the floors
(`looped-hrm floors DIR`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from looped_hrm.config import load_yaml
from looped_hrm.registry import get_registry
from looped_hrm.report.floors import best_baseline
from looped_hrm.resolve import instantiate
from looped_hrm.runner.grid import Combination, Floor, expand, load_benchmark
from looped_hrm.runner.worker import run_combination
from looped_hrm.testing import check_disjoint_splits

BENCHMARK = Path(os.environ.get("LOOPED_HRM_BENCHMARK") or Path(__file__).with_name("ci.yaml"))
_data, _source = load_yaml(BENCHMARK)
BENCH = load_benchmark(_data, _source)
COMBOS = expand(BENCH, get_registry(), _source)


def floor_for(combo: Combination) -> Floor | None:
    """The first floor whose task, model and halting match the combination's labels (``*``: any)."""
    return next((f for f in BENCH.floors if f.matches(combo.labels)), None)


TASKS = {c.task["label"]: c.task for c in COMBOS}


@pytest.mark.parametrize("label", sorted(TASKS))
def test_task_tests_on_items_it_never_trained_on(label: str) -> None:
    check_disjoint_splits(instantiate(get_registry(), "task", TASKS[label]))


@pytest.mark.benchmark
@pytest.mark.parametrize("combo", COMBOS, ids=[c.name for c in COMBOS])
def test_combination_reaches_its_floor(combo: Combination, tmp_path: Path) -> None:
    if combo.skip_reason:
        pytest.skip(combo.skip_reason)
    floor = floor_for(combo)
    assert floor is not None, f"{BENCHMARK}: no floor for {'/'.join(combo.labels)}"
    if floor.dropped:
        pytest.skip(f"dropped in {BENCHMARK.name}: {floor.dropped}")
    assert floor.min is not None
    record = run_combination(combo, tmp_path, threads=1)
    assert record["status"] == "ok", record.get("traceback")
    baseline = best_baseline([record], floor.metric)
    assert baseline is not None, f"{combo.name}: the record holds no trivial baseline for {floor.metric}"
    assert floor.min > baseline[1], (
        f"{combo.name}: floor {floor.min} on {floor.metric} does not clear the trivial baseline "
        f"{baseline[0]} ({baseline[1]:.3f}): it would pass a model that learned nothing"
    )
    value = record["metrics"][floor.metric]
    assert value >= floor.min, (
        f"{combo.name}: {floor.metric} = {value:.3f} < floor {floor.min} "
        f"(measured mean {floor.measured_mean}, std {floor.measured_std} over "
        f"{floor.measured_seeds} seeds)"
    )
