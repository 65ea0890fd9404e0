"""The example third-party task behaves like any task: deterministic, verifiable."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from looped_hrm.config import plugin_config
from looped_hrm.contracts import Task

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "looped-hrm-example-plugin"))
import looped_hrm_example  # noqa: E402


@pytest.fixture
def task() -> Task:
    (spec,) = looped_hrm_example.looped_hrm_tasks()
    return spec.factory(plugin_config(spec, "tiny"))


def test_splits_are_deterministic_and_verified(task):
    assert isinstance(task, Task)
    a, b = task.build("test"), task.build("test")
    assert a.inputs.equal(b.inputs) and a.inputs.shape == (128, 6)
    x, y = a.inputs[0].numpy(), a.labels[0].numpy()
    assert task.verify(y, x, None) and task.verify(y, x, y)
    wrong = y.copy()
    wrong[0] = 1 + (wrong[0] % 10)
    assert not task.verify(wrong, x, None)
    assert len(task.render(x)) == 6


def test_train_and_test_differ(task):
    assert not np.array_equal(task.build("train").inputs[:128].numpy(), task.build("test").inputs.numpy())
