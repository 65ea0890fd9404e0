"""Trivial baselines (copy, majority, a task's own rules) and the record's account of its test data: how
many rows, how many distinct items, how many of them training items."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from looped_hrm.config import plugin_config
from looped_hrm.contracts import IGNORE_INDEX, Split
from looped_hrm.evaluation import catalogue
from looped_hrm.evaluation.baselines import majority_answer, predictions, score_baselines
from looped_hrm.evaluation.config import EvalConfig
from looped_hrm.evaluation.per_example import unpack
from looped_hrm.experiment.run import run_experiment
from looped_hrm.plugins.tasks.sudoku import solver
from looped_hrm.registry import get_registry
from looped_hrm.training.config import TrainConfig

from .fakes import BroadcastConfig, BroadcastTask, TinyReasoner


def split(inputs, labels) -> Split:
    inputs, labels = torch.tensor(inputs), torch.tensor(labels)
    n = len(inputs)
    zeros = torch.zeros(n, dtype=torch.int64)
    return Split(inputs=inputs, labels=labels, puzzle_ids=zeros, difficulty=zeros.float(), bucket=zeros)


def test_majority_is_the_commonest_training_label_per_position():
    train = split([[0, 0, 0]] * 4, [[1, 2, IGNORE_INDEX], [1, 3, IGNORE_INDEX], [2, 3, IGNORE_INDEX], [1, 2, 3]])
    # position 1: 2 and 3 twice each (tie: the smaller token); position 2 scored once
    assert majority_answer(train).tolist() == [1, 2, 3]
    never = split([[0, 0]] * 3, [[2, IGNORE_INDEX], [2, IGNORE_INDEX], [1, IGNORE_INDEX]])
    assert majority_answer(never).tolist() == [2, 2]  # unscored position: the commonest label overall


def test_baselines_are_scored_as_a_pass_is():
    task = BroadcastTask(BroadcastConfig(length=4, values=3, num_train=32, num_test=16))
    train, test = task.build("train"), task.build("test")
    answers = predictions(task, train, test)
    assert set(answers) == {"copy", "majority"} and (answers["copy"] == test.inputs.numpy()).all()
    scored = score_baselines(task, train, test, verify=True)
    copy = scored["copy"]
    assert not copy.correct.any()  # one position holds the value, the others are blank
    assert torch.allclose(copy.token_accuracy, torch.full((16,), 0.25))
    majority = scored["majority"]
    value = int(majority_answer(train)[0])
    assert torch.equal(majority.correct, test.labels[:, 0] == value)
    assert torch.equal(majority.verified, majority.correct)  # the rules agree with the label here


def test_a_task_adds_its_own_baseline_and_a_bad_one_is_refused():
    task = BroadcastTask(BroadcastConfig(length=4, values=3, num_train=32, num_test=16))
    train, test = task.build("train"), task.build("test")
    task.baselines = lambda train, test: {"spread": np.repeat(test.inputs.numpy().max(1, keepdims=True), 4, 1)}
    scored = score_baselines(task, train, test, verify=False)
    assert scored["spread"].correct.all() and scored["spread"].verified is None
    task.baselines = lambda train, test: {"copy": test.inputs.numpy()}
    with pytest.raises(ValueError, match="built-in baseline"):
        predictions(task, train, test)
    task.baselines = lambda train, test: {"short": test.inputs.numpy()[:, :2]}
    with pytest.raises(ValueError, match="shape"):
        predictions(task, train, test)


def test_sudoku_givens_random_keeps_the_givens_and_guesses_allowed_digits():
    spec = get_registry().get("task", "sudoku")
    task = spec.factory(plugin_config(spec, "tiny"))
    train, test = task.build("train"), task.build("test")
    guess = task.baselines(train, test)["givens_random"]
    assert (guess == task.baselines(train, test)["givens_random"]).all()  # deterministic
    given = test.inputs.numpy() > 1
    assert (guess[given] == test.inputs.numpy()[given]).all() and (guess >= 2).all()
    digits, peers = test.inputs.numpy() - 1, np.array(solver.geometry(4).peers)
    for row, answer in zip(digits, guess - 1):
        for cell in np.flatnonzero(row == 0):
            allowed = set(range(1, 5)) - set(row[peers[cell]].tolist())
            assert answer[cell] in (allowed or set(range(1, 5)))


@pytest.fixture(scope="module")
def metrics():
    """A tiny run on the broadcast task, whose test strings are drawn from the 32 that training draws from."""
    task = BroadcastTask()
    spec = get_registry().get("halting", "fixed")
    return run_experiment(
        task,
        lambda: TinyReasoner(task.info),
        spec.factory(plugin_config(spec, None, {})),
        TrainConfig(batch_size=8, lr=3e-3, max_segments=2, steps=4, progress=False),
        EvalConfig(batch_size=16, curve=[1, 2], limit=40),
        seed=0,
        device="cpu",
        workdir=None,
        progress=False,
    )


def test_the_record_counts_its_test_rows_and_those_seen_in_training(metrics):
    task = BroadcastTask()
    seen = {row.tobytes() for row in task.build("train").inputs.numpy()}
    tested = [row.tobytes() for row in task.build("test").inputs.numpy()[:40]]  # eval.limit = 40
    assert metrics["data/test_rows"] == 40 and metrics["data/removed_by_limit"] == 24
    assert metrics["data/test_distinct"] == len(set(tested)) < 40
    assert metrics["data/test_in_train"] == sum(row in seen for row in tested) > 0
    ex = unpack(metrics["per_example"])
    assert ex["item"].max() + 1 == metrics["data/test_distinct"]
    assert ex["seen"].tolist() == [row in seen for row in tested]


def test_the_record_keeps_each_baseline_like_a_pass(metrics):
    ex = unpack(metrics["per_example"])
    for name in ("copy", "majority"):
        mode = catalogue.baseline_mode(name)
        for array in ("correct", "token_accuracy", "verified"):
            key = catalogue.key(catalogue.by_array(array).name, mode)
            assert catalogue.lookup(key).array == array
            assert ex[mode][array].mean() == pytest.approx(metrics[key]), key
        assert catalogue.key("exact_accuracy", mode, bucket="far") in metrics
