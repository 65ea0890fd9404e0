"""The extrapolation protocol: a model trained at one size is tested at several others
(``eval.extrapolate``), and a model that cannot run at a test size is skipped with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from looped_hrm.config import ConfigError, load_yaml
from looped_hrm.evaluation.catalogue import key, lookup
from looped_hrm.evaluation.config import variant_label
from looped_hrm.experiment.run import run_experiment
from looped_hrm.registry import get_registry
from looped_hrm.report import cells
from looped_hrm.resolve import fingerprint_data, resolve_combination
from looped_hrm.runner.grid import expand, load_benchmark
from looped_hrm.testing import check_disjoint_splits

PARITY = {"train_length": 8, "test_length": 8, "num_train": 64, "num_test": 16}


def combo(model: str = "dt_net", extrapolate=None, **model_config):
    return resolve_combination(
        "parity",
        model,
        "fixed",
        preset="tiny",
        task_config=PARITY,
        model_config=model_config,
        train={"steps": 4, "batch_size": 8, "max_segments": 1, "loss": "softmax", "curve_fractions": []},
        eval={"extrapolate": extrapolate or {"test_length": [8, 12, 16]}, "fixed_segments": 2, "curve": [1, 2]},
    )


def test_each_value_is_a_test_task_and_part_of_the_data_identity():
    c = combo()
    built = c.build()
    assert list(built.test_tasks) == ["test_length=8", "test_length=12", "test_length=16"]
    assert [t.build("test").inputs.shape[1] for t in built.test_tasks.values()] == [8, 12, 16]
    assert all(t.build("train").inputs.shape[1] == 8 for t in built.test_tasks.values())  # only the test side moves
    fingerprint_data([c])
    assert c.skip_reason is None and {"train", "test", "test@test_length=16"} <= set(c.data)
    other = combo(extrapolate={"test_length": [8, 12]})
    fingerprint_data([other])
    assert other.key != c.key
    assert variant_label("test_difficulty", ["hard", "extreme"]) == "test_difficulty=hard+extreme"


@pytest.mark.parametrize(
    "extrapolate, message",
    [
        (
            {"test_lenght": [16]},
            "eval.extrapolate: task 'parity' has no config key 'test_lenght'; did you mean 'test_length'",
        ),
        ({"test_length": [0]}, "test_length=0.*test_length must be >= 1"),
        ({"test_length": [16], "p_one": [0.2]}, "extrapolate varies one task config key"),
        ({"test_length": []}, "give at least one value"),
    ],
)
def test_errors_name_the_key(extrapolate, message):
    with pytest.raises(ConfigError, match=message):
        combo(extrapolate=extrapolate)


def test_a_model_that_cannot_run_at_a_test_length_is_skipped_with_the_reason():
    c = combo("hrm", pos_encodings="learned")
    fingerprint_data([c])
    assert c.data is None
    assert c.skip_reason == (
        "model 'hrm' cannot run the test split at 12 tokens: learned absolute positions exist for the training "
        "length (8 tokens) only, not 12 (pos_encodings rope, rope_2d or none run at any length)"
    )
    rope = combo("hrm")
    fingerprint_data([rope])
    assert rope.skip_reason is None


@pytest.mark.slow
def test_the_trained_model_is_evaluated_at_every_test_size():
    c = combo()
    fingerprint_data([c])
    built = c.build()
    metrics = run_experiment(
        built.task,
        built.model,
        built.policy,
        built.train,
        built.eval,
        seed=0,
        device="cpu",
        workdir=None,
        progress=False,
        test_tasks=built.test_tasks,
    )
    for label in built.test_tasks:
        for mode in ("fixed", "policy"):
            assert 0 <= metrics[f"extrapolate/{label}/{mode}/exact_accuracy"] <= 1
    # the base test split is the 8-bit one: the same model, the same examples, the same outcome
    assert metrics["extrapolate/test_length=8/fixed/exact_accuracy"] == metrics["fixed/exact_accuracy"]
    assert set(metrics["extrapolation"]) == set(built.test_tasks)
    assert metrics["extrapolation"]["test_length=16"]["n"] == 16
    # every test size gets the trivial baselines and the test data's counts, like the task's own split
    for label, variant in built.test_tasks.items():
        rows = len(variant.build("test"))
        assert metrics[key("data/test_rows", variant=label)] == rows
        assert metrics[key("data/test_in_train", variant=label)] == 0  # disjoint from training
        assert metrics[key("data/test_distinct", variant=label)] == rows
        for name in ("copy", "majority"):
            assert 0 <= metrics[key("exact_accuracy", f"baseline:{name}", variant=label)] <= 1
            assert metrics["extrapolation"][label][f"baseline:{name}"]["correct"]
        assert {"item", "seen"} <= set(metrics["extrapolation"][label])
    same = "test_length=8"  # the training size: the same split, so the same baselines
    for name in ("copy", "majority"):
        own = key("token_accuracy", f"baseline:{name}")
        assert metrics[key("token_accuracy", f"baseline:{name}", variant=same)] == metrics[own]
    numbers = [k for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert all((ref := lookup(k)) is not None and ref.metric is not None for k in numbers)  # all catalogued

    # the tables read a split's intervals from its own per-example arrays
    per_example, extrapolation = metrics.pop("per_example"), metrics.pop("extrapolation")
    metrics.pop("learning_curve", None)
    record = {"status": "ok", "combination": {"seed": 0}, "metrics": metrics, "per_example": per_example}
    cell = cells.Cell("parity", "dt_net", "fixed", [{**record, "extrapolation": extrapolation}])
    long = key("exact_accuracy", "fixed", variant="test_length=16")
    assert cells.values(cell, long).shape == (1, 16)
    assert cells.values(cell, key("exact_accuracy", "fixed")).shape == (1, 16)  # the 8-bit split: 16 examples too
    assert cells.estimate(cell, long).mean == metrics[long]
    assert cells.values(cells.Cell("parity", "dt_net", "fixed", [record]), long).shape == (1, 1)  # seed level


@pytest.mark.parametrize(
    "task, config, extrapolate",
    [
        # test strings of 1..N bits: the short ones could be training strings (8 bits, 64 of the 256)
        ("parity", {**PARITY, "test_min_length": 1}, {"test_length": [8, 12, 16]}),
        ("maze", {"size": 9, "num_train": 64, "num_test": 16}, {"test_size": [9, 13]}),
        # the rules of the demonstrations (2..6 cells a side) on 7x7 and 8x8 grids
        ("arc_lite", {}, {"test_size": [7, 8]}),
    ],
)
def test_every_test_size_is_disjoint_from_training(task, config, extrapolate):
    """Each test split of ``eval.extrapolate`` holds no training item up to the task's symmetries (the
    training-size one by construction, the larger ones because an item has one size), and no item
    twice; its rows keep their canonical form under the task's augmentation at their own size."""
    c = resolve_combination(
        task,
        "dt_net",
        "fixed",
        preset="tiny",
        task_config=config,
        train={"steps": 1},
        eval={"extrapolate": extrapolate},
    )
    tested = c.build().test_tasks
    assert len(tested) == len(next(iter(extrapolate.values())))
    for variant in tested.values():
        overlap = check_disjoint_splits(variant)
        assert overlap.in_train == 0 and overlap.distinct == overlap.test_rows


def test_variant_keys_read_back():
    k = key("exact_accuracy", "policy", bucket="<4", variant="test_length=512")
    assert k == "extrapolate/test_length=512/policy/bucket/<4/exact_accuracy"
    ref = lookup(k)
    assert (ref.variant, ref.mode, ref.bucket, ref.name) == ("test_length=512", "policy", "<4", "exact_accuracy")
    assert lookup("extrapolate/test_length=512/exact_accuracy") is None
    data = lookup(key("data/test_in_train", variant="test_length=512"))
    assert (data.variant, data.mode, data.name) == ("test_length=512", None, "data/test_in_train")
    assert lookup("extrapolate/test_length=512/train/wall_s") is None  # a run-level number has no test split
    with pytest.raises(KeyError):
        key("train/wall_s", variant="test_length=512")
    assert lookup("extrapolate/a/extrapolate/b/fixed/exact_accuracy") is None
    with pytest.raises(KeyError):
        key("exact_accuracy", "fixed", variant="a/b")
    assert variant_label("test_file", "data/hard.csv") == "test_file=data:hard.csv"


@pytest.mark.parametrize("name", ["extrapolation", "extrapolation_mazes"])
def test_the_extrapolation_benchmarks_resolve(name):
    """The committed benchmark definitions resolve (no data built): every combination runs (DT-Recall
    under act_bce too, with its halting head); the transformer models test fewer sizes. Prefix sums
    runs the adaptive policy for DT-Recall with the progressive loss only; mazes run every model under
    fixed halting, the transformer models on one larger size."""
    path = Path(__file__).parents[2] / "benchmarks" / f"{name}.yaml"
    data, source = load_yaml(path)
    combos = expand(load_benchmark(data, source), get_registry(), source, devices=False)
    adaptive = {c.labels[1] for c in combos if c.labels[2] == "act_bce"}
    if name == "extrapolation":
        assert adaptive == {"dt_recall_prog"} and len(combos) == (6 + 1) * 5
    else:
        models = {"dt_recall_prog", "dt_recall", "hrm", "trm", "looped_transformer", "baseline"}
        assert not adaptive and {c.labels[1] for c in combos} == models
        assert len(combos) == 6 * 5  # models x seeds
    assert not [c.name for c in combos if c.skip_reason]
    for combo in combos:
        (values,) = combo.eval["extrapolate"].values()
        dt = combo.labels[1].startswith("dt_")
        sizes = {"extrapolation": (4, 2), "extrapolation_mazes": (3, 1)}[name]
        assert combo.eval["every_step"] and len(values) == sizes[0 if dt else 1]
