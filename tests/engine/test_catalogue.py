"""The metric catalogue: every number a run writes is catalogued, and every table column reads a metric
that a run really writes (a renamed metric must fail here, not empty a column)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from looped_hrm.commands import one_run
from looped_hrm.commands import run as run_command
from looped_hrm.config import plugin_config
from looped_hrm.evaluation import catalogue
from looped_hrm.evaluation.catalogue import key, lookup
from looped_hrm.evaluation.config import EvalConfig
from looped_hrm.evaluation.metrics import ExampleResults, summarize
from looped_hrm.evaluation.per_example import pack_results
from looped_hrm.experiment.run import run_experiment
from looped_hrm.registry import get_registry
from looped_hrm.report import cells, floors, tables
from looped_hrm.runner import grid, sweep
from looped_hrm.training.config import TrainConfig

from .fakes import BroadcastTask, TinyReasoner

COLUMNS = {
    "results.md": [c.key for c in tables.HEADLINE],
    "buckets.md": [c.key for c in tables.BUCKET_COLUMNS],
    "leaderboard.md": [tables.LEADERBOARD_METRIC],
    "sweep table": [m for m, _, _ in sweep.METRICS],
    "floors": list(floors.METRICS),
    "benchmark floor default": [grid.Floor("*", "*", "*", 0.0).metric],
    "run's line per combination": [m for m, _, _ in run_command.LINE_METRICS],
    "train/eval summary": list(one_run.HEADLINE),
}


@pytest.fixture(scope="module")
def record():
    """A real run's record (tiny model, 6 steps, a learning curve), as the runner writes it."""
    task = BroadcastTask()
    spec = get_registry().get("halting", "act_q")
    cfg = TrainConfig(batch_size=8, lr=3e-3, max_segments=4, steps=6, curve_fractions=[0.5], progress=False)
    metrics = run_experiment(
        task,
        lambda: TinyReasoner(task.info),
        spec.factory(plugin_config(spec, None, {})),
        cfg,
        EvalConfig(batch_size=16, curve=[1, 2, 4]),
        seed=0,
        device="cpu",
        workdir=None,
        progress=False,
    )
    combo = {"task": {"label": "broadcast"}, "model": {"label": "tiny"}, "halting": {"label": "act_q"}, "seed": 0}
    per_example, curve = metrics.pop("per_example"), metrics.pop("learning_curve")
    return {
        "key": "k",
        "combination": combo,
        "status": "ok",
        "metrics": metrics,
        "per_example": per_example,
        "learning_curve": curve,
    }


def test_every_metric_a_run_writes_is_in_the_catalogue(record):
    numbers = {k for k, v in record["metrics"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    unknown = sorted(k for k in numbers if (ref := lookup(k)) is None or ref.metric is None)
    assert not unknown, f"metrics written by a run but not catalogued: {unknown}"


@pytest.mark.parametrize("table", sorted(COLUMNS))
def test_every_table_column_has_a_metric_behind_it(table, record):
    """Each column names a catalogued metric that a run writes (or, for ``compute_saved``, that the
    tables derive from arrays a run stores)."""
    for column in COLUMNS[table]:
        ref = lookup(column)
        assert ref is not None and ref.metric is not None, f"{table}: {column!r} is not in the catalogue"
        if ref.metric is catalogue.COMPUTE_SAVED:
            assert cells.values(cells.cells([record])[0], column) is not None
        else:
            assert column in record["metrics"], f"{table}: no run writes {column!r}"


def test_the_summary_table_fills_every_headline_column(record):
    table = tables.summary(cells.cells([record]))
    headers = [c.header for c in tables.HEADLINE]
    assert list(table.columns[4 : 4 + len(headers)]) == headers  # none dropped for being empty
    assert (table.loc[0, headers] != "—").all()
    buckets = tables.buckets(cells.cells([record]))
    model = buckets[buckets.model == "tiny"]
    assert len(model) == 2 and (model[[c.header for c in tables.BUCKET_COLUMNS]] != "—").all().all()
    # the run's trivial baselines: rows of their own, accuracy only
    assert {"baseline:copy", "baseline:majority"} <= set(table.model) == set(buckets.model)


def test_each_stored_array_is_behind_its_metric_and_its_mean_is_the_summary(record):
    """The tables' per-example values of a metric average to the value the run summarised (per row; the
    tables then average the rows of each test item, `cells.by_item`)."""
    items = cells.cells([record])[0].items
    rows_only = {**record, "per_example": {k: v for k, v in record["per_example"].items() if k not in ("item", "seen")}}
    cell = cells.cells([rows_only])[0]
    assert items is not None and len(np.unique(items)) < len(items)  # the fake task repeats test items
    stored = [k for k in record["metrics"] if (ref := lookup(k)) is not None and ref.array is not None]
    assert {lookup(k).name for k in stored} >= {
        m.name for m in catalogue.PASS_METRICS if m.array is not None and m.name != "verified_accuracy"
    }
    assert any(lookup(k).at is not None for k in stored) and any(lookup(k).bucket for k in stored)
    for k in stored:
        if lookup(k).mode != "policy" and lookup(k).bucket is not None:
            continue  # the tables bootstrap the other passes' buckets over seeds (see cells._policy_bucket)
        matrix = cells.values(cell, k)
        assert matrix is not None and matrix.shape[1] > 1, k
        assert matrix.mean() == pytest.approx(record["metrics"][k], rel=1e-6), k
        if lookup(k).bucket is None and lookup(k).at is None:
            by_item = cells.values(cells.cells([record])[0], k)
            assert np.array_equal(by_item, cells.by_item(matrix, items)), k


def test_keys_read_back_into_their_parts():
    assert lookup(key("exact_accuracy", "fixed", at=16)).array == "correct@16"
    ref = lookup(key("mean_segments", "policy", bucket="7-13"))
    assert (ref.mode, ref.bucket, ref.name, ref.array) == ("policy", "7-13", "mean_segments", "segments")
    assert lookup(catalogue.task_key("pass@2", "fixed")).section == catalogue.TASK  # an "@" in a task's name
    assert lookup("policy/policy_q_halt_loss").section == catalogue.POLICY_OWN
    assert lookup("policy/not_a_metric").metric is None and lookup("device") is None
    for metric in catalogue.PASS_METRICS:
        for mode in catalogue.PASSES:
            assert lookup(key(metric.name, mode)).metric is metric
            if metric.per_bucket:
                assert lookup(key(metric.name, mode, bucket="hard")).metric is metric


def test_a_renamed_metric_fails_loudly():
    with pytest.raises(KeyError, match="exact_acc"):
        key("exact_acc", "policy")
    with pytest.raises(KeyError, match="bucket"):
        key("token_accuracy", "policy", bucket="hard")  # not reported per bucket
    with pytest.raises(KeyError, match="no metric"):
        _ = tables.Column("policy/exact_acc", "exact acc").kind


def test_summary_and_packing_read_the_same_catalogue():
    n = 5
    res = ExampleResults(
        predictions=torch.zeros(n, 2, dtype=torch.int64),
        correct=torch.tensor([True, False, True, True, False]),
        token_accuracy=torch.rand(n),
        segments=torch.tensor([1, 2, 3, 4, 4]),
        inner_steps=torch.rand(n),
        flops=torch.rand(n),
        first_correct=torch.zeros(n, dtype=torch.int64),
        correct_at={2: torch.tensor([True, False, False, True, False])},
        verified=torch.ones(n, dtype=torch.bool),
    )
    summary = summarize(res, bucket=torch.zeros(n, dtype=torch.int64), bucket_names=("all",))
    packed = pack_results(res)
    for metric in catalogue.PASS_METRICS:
        if metric.array is not None:
            assert metric.name in summary and metric.array in packed
    assert summary["exact_accuracy@2"] == pytest.approx(0.4) and "correct@2" in packed
    assert np.isclose(summary["mean_segments"], 2.8)
