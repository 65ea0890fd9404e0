"""The summary metrics on hand-made per-example results."""

from __future__ import annotations

import pytest
import torch

from looped_hrm.contracts import IGNORE_INDEX
from looped_hrm.engine.correctness import exact_correct, token_accuracy
from looped_hrm.evaluation.metrics import ExampleResults, summarize


def test_exact_and_token_accuracy_skip_unscored_positions():
    labels = torch.tensor([[1, 2, IGNORE_INDEX], [1, 2, 3]])
    preds = torch.tensor([[1, 2, 0], [1, 0, 3]])
    assert exact_correct(preds, labels).tolist() == [True, False]
    assert token_accuracy(preds, labels).tolist() == pytest.approx([1.0, 2 / 3])


def results(segments, correct, **kw) -> ExampleResults:
    n = len(segments)
    return ExampleResults(
        predictions=torch.zeros(n, 2, dtype=torch.int64),
        correct=torch.tensor(correct),
        token_accuracy=torch.tensor(correct).float(),
        segments=torch.tensor(segments),
        inner_steps=torch.tensor(segments).float() * 2,
        flops=torch.tensor(segments).float() * 10,
        first_correct=torch.zeros(n, dtype=torch.int64),
        wall_s=2.0,
        **kw,
    )


def test_summary_per_bucket_and_halting_quality_against_the_fixed_run():
    # four examples; the fixed run first got them right at segments 2, 3, never, 5 (beyond the cap 4)
    res = results([2, 1, 4, 2], [True, False, False, False], halt_agree=3, decisions=6)
    out = summarize(
        res,
        bucket=torch.tensor([0, 0, 1, 1]),
        bucket_names=("easy", "hard", "extreme"),
        reference_first_correct=torch.tensor([2, 3, 0, 5]),
        max_segments=4,
    )
    assert out["exact_accuracy"] == 0.25 and out["mean_segments"] == 2.25 and out["examples_per_s"] == 2.0
    assert out["flops_per_example"] == 22.5 and out["mean_inner_steps"] == 4.5
    assert out["halt_accuracy"] == 0.5
    assert out["solvable"] == 0.5  # only examples 0 and 1 were solvable within the cap
    assert out["halted_at_first_correct"] == 0.5  # example 0 yes, example 1 stopped at 1 < 3
    assert out["premature_halt"] == 0.5
    assert out["overthinking"] == 0.0
    assert out["oracle_mean_segments"] == (2 + 3 + 4 + 2) / 4
    assert out["bucket/easy/exact_accuracy"] == 0.5 and out["bucket/hard/mean_segments"] == 3.0
    assert "bucket/extreme/examples" not in out  # empty buckets are left out, not reported as 0


def test_undefined_metrics_are_null_not_zero():
    res = results([3], [False])
    out = summarize(
        res, bucket=torch.tensor([0]), bucket_names=("all",), reference_first_correct=torch.tensor([0]), max_segments=3
    )
    assert out["halted_at_first_correct"] is None and out["premature_halt"] is None
