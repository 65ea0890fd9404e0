"""Accuracy after every test-time step (``eval.every_step``): inner steps when the model reports them
(DT iterations), else segments; the peak, where it is reached, and the drop from it."""

from __future__ import annotations

import pytest
import torch

from looped_hrm.config import plugin_config
from looped_hrm.evaluation import catalogue
from looped_hrm.evaluation.evaluate import evaluate
from looped_hrm.evaluation.metrics import ExampleResults, summarize
from looped_hrm.evaluation.per_example import pack_results, unpack
from looped_hrm.plugins.halting.fixed import FixedPolicy
from looped_hrm.registry import get_registry


def build(kind: str, name: str, preset: str | None = "tiny", **overrides):
    spec = get_registry().get(kind, name)
    return spec.factory(plugin_config(spec, preset, overrides))


@pytest.fixture(scope="module")
def parity():
    return build("task", "parity", train_length=8, test_length=12, num_train=8, num_test=20)


def model(name: str, task, **overrides):
    spec = get_registry().get("model", name)
    torch.manual_seed(0)
    return spec.factory(plugin_config(spec, "tiny", overrides), task.info)


def run(net, task, segments: int, **kw) -> ExampleResults:
    return evaluate(
        net,
        FixedPolicy(),
        task,
        task.build("test"),
        mode="fixed",
        max_segments=segments,
        batch_size=7,  # slots refill mid-pass: rows move between examples
        device=torch.device("cpu"),
        curve=range(1, segments + 1),
        verify=False,
        **kw,
    )


def test_dt_net_curve_has_one_step_per_iteration(parity):
    net = model("dt_net", parity, iterations=4, width=8)
    res = run(net, parity, 3, every_step=True)
    assert res.steps_per_segment == 4 and res.correct_steps.shape == (20, 12)
    for s in (1, 2, 3):  # a segment's last iteration is the segment's answer
        assert torch.equal(res.correct_steps[:, 4 * s - 1], res.correct_at[s])
    plain = run(net, parity, 3)
    assert plain.correct_steps is None and torch.equal(plain.correct, res.correct)


def test_models_without_inner_predictions_step_by_segment(parity):
    net = model("hrm", parity)
    res = run(net, parity, 3, every_step=True)
    assert res.steps_per_segment == 1 and res.correct_steps.shape == (20, 3)
    assert all(torch.equal(res.correct_steps[:, s - 1], res.correct_at[s]) for s in (1, 2, 3))


def test_peak_and_overthinking_from_the_curve():
    correct = torch.tensor([[0, 1, 1, 0], [0, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    n = len(correct)
    res = ExampleResults(
        predictions=torch.zeros(n, 2, dtype=torch.int64),
        correct=correct[:, -1],
        token_accuracy=torch.zeros(n),
        segments=torch.full((n,), 2),
        inner_steps=torch.full((n,), 4.0),
        flops=torch.ones(n),
        first_correct=torch.ones(n, dtype=torch.int64),
        correct_steps=correct,
        steps_per_segment=2,
    )
    out = summarize(res, bucket=torch.zeros(n, dtype=torch.int64), bucket_names=["all"])
    assert out["steps_per_segment"] == 2 and out["peak_step"] == 2  # the first step at the maximum
    assert out["peak_exact_accuracy"] == 1.0 and out["overthinking_drop"] == pytest.approx(2 / 3)
    arrays = unpack({"n": n, "bucket": "u8:AAAA", "fixed": pack_results(res)})["fixed"]
    assert [arrays[catalogue.array_at_step(t)].tolist() for t in (1, 4)] == [[0, 0, 1], [0, 0, 1]]
    assert {catalogue.lookup("fixed/" + k).metric is not None for k in out} == {True}
