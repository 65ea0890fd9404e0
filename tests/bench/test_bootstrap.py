"""Bootstrap intervals and the paired test on outcomes whose spread is known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from looped_hrm.evaluation.per_example import decode, encode
from looped_hrm.report.bootstrap import mean_ci, paired_difference, subset_gap


def test_interval_over_examples_matches_the_binomial_width():
    rng = np.random.default_rng(1)
    correct = rng.random(2000) < 0.5
    est = mean_ci(correct)
    half = 1.96 * np.sqrt(0.25 / 2000)  # normal approximation of the binomial interval
    assert est.mean == pytest.approx(correct.mean())
    assert (est.high - est.low) / 2 == pytest.approx(half, rel=0.15)
    assert (est.seeds, est.examples) == (1, 2000)


def test_seed_spread_widens_the_interval():
    rng = np.random.default_rng(2)
    same = np.stack([rng.random(500) < 0.5 for _ in range(3)])
    spread = np.stack([rng.random(500) < p for p in (0.2, 0.5, 0.8)])
    width = lambda e: e.high - e.low  # noqa: E731
    assert width(mean_ci(spread)) > 3 * width(mean_ci(same))


def test_constant_values_have_no_width():
    est = mean_ci(np.ones((2, 10)))
    assert est.mean == est.low == est.high == 1.0


def test_paired_test_sees_a_small_consistent_gain_that_unpaired_intervals_miss():
    rng = np.random.default_rng(3)
    b = rng.random(400) < 0.5
    a = b.copy()
    a[np.flatnonzero(~b)[:12]] = True  # A solves 12 more puzzles (3 points), never fewer
    ea, eb = mean_ci(a), mean_ci(b)
    assert ea.low < eb.high  # the two intervals overlap ...
    cmp = paired_difference(a, b)
    assert cmp.significant and cmp.diff == pytest.approx(0.03) and cmp.p_value < 0.01  # ... the pairing resolves it
    tie = paired_difference(b, b)
    assert not tie.significant and tie.p_value == 1.0


def test_paired_test_needs_the_same_examples():
    with pytest.raises(ValueError, match="same test examples"):
        paired_difference(np.ones(5), np.ones(6))


@pytest.mark.parametrize(
    "kind,values",
    [("bits", [True, False, True] * 7), ("u16", [0, 1, 300, 65535]), ("f32", [0.25, 1.5, -2.0]), ("u8", [0, 3, 255])],
)
def test_per_example_arrays_round_trip(kind, values):
    text = encode(torch.tensor(values), kind)
    assert text.startswith(kind + ":")
    np.testing.assert_array_equal(decode(text, len(values)), np.asarray(values, dtype=float))


def test_subset_gap_recomputes_both_subset_means_in_every_replicate():
    hard = np.arange(200) < 50  # a quarter of the examples
    easy = ~hard
    constant = np.where(hard, 6.0, 4.0)[None, :]  # one seed, the gap is 2 on every resample of the examples
    est = subset_gap(constant, hard, easy)
    assert (est.mean, est.low, est.high) == (2.0, 2.0, 2.0)
    rng = np.random.default_rng(0)
    noisy = np.stack([np.where(hard, 6.0 + s, 4.0) + rng.normal(0, 1, 200) for s in range(4)])
    est = subset_gap(noisy, hard, easy)
    per_seed = noisy[:, hard].mean(1) - noisy[:, easy].mean(1)
    assert est.mean == pytest.approx(per_seed.mean()) and est.low < per_seed.mean() < est.high
    assert per_seed.min() - 0.5 < est.low and est.high < per_seed.max() + 0.5
    with pytest.raises(ValueError, match="at least one example"):
        subset_gap(constant, np.zeros(200, bool), easy)
