"""Intervals and the paired test on outcomes whose spread is known in closed form (the coverage of the
intervals on simulated suite-shaped data is tests/bench/test_interval_coverage.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from looped_hrm.evaluation.per_example import decode, encode
from looped_hrm.report.intervals import holm, linear_variance, mean_ci, paired_difference, subset_gap


def t_interval(values: np.ndarray) -> tuple[float, float]:
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean() - half, values.mean() + half


def test_seeds_that_agree_give_the_interval_over_examples():
    rng = np.random.default_rng(1)
    correct = rng.random(2000) < 0.5
    est = mean_ci(np.stack([correct] * 3))  # three seeds, identical outcomes: only the test set varies
    half = stats.t.ppf(0.975, 1999) * correct.std(ddof=1) / np.sqrt(2000)
    assert est.mean == pytest.approx(correct.mean())
    assert (est.low, est.high) == pytest.approx((correct.mean() - half, correct.mean() + half))
    assert (est.seeds, est.examples) == (3, 2000)


def test_a_large_seed_spread_gives_the_t_interval_on_the_seed_means():
    rng = np.random.default_rng(2)
    spread = np.stack([rng.random(500) < p for p in (0.2, 0.5, 0.8, 0.6)]).astype(float)
    est = mean_ci(spread)
    low, high = t_interval(spread.mean(1))
    # the test-set draw adds little or nothing: at least the t interval, and not much more
    assert est.low <= low + 1e-12 and est.high >= high - 1e-12 and est.high - est.low < 1.05 * (high - low)


def test_the_test_set_draw_widens_the_interval_beyond_the_seed_means():
    """Seeds that differ a little, on puzzles that differ a lot: the t interval on the seed means alone
    misses the draw of the puzzles; the estimate adds it (module docstring of looped_hrm.report.intervals)."""
    rng = np.random.default_rng(4)
    difficulty = np.where(rng.random(300) < 0.5, 0.05, 0.95)  # puzzles nearly always or nearly never solved
    seeds = np.stack([rng.random(300) < difficulty + shift for shift in (-0.01, 0.0, 0.01)]).astype(float)
    est = mean_ci(seeds)
    low, high = t_interval(seeds.mean(1))
    var = linear_variance(seeds, np.full(300, 1 / 300))
    assert var.examples > var.seeds and est.high - est.low > high - low


def test_records_without_per_example_outcomes_give_the_t_interval_on_the_seeds():
    seeds = np.array([[0.5], [0.6], [0.8]])
    est = mean_ci(seeds)
    assert (est.low, est.high) == pytest.approx(t_interval(seeds[:, 0]))


def test_constant_values_have_no_width():
    est = mean_ci(np.ones((3, 10)))
    assert est.mean == est.low == est.high == 1.0


@pytest.mark.parametrize("seeds", [1, 2])
def test_too_few_seeds_give_no_interval(seeds):
    est = mean_ci(np.random.default_rng(0).random((seeds, 50)))
    assert not est.has_interval and np.isnan(est.low) and est.seeds == seeds
    cmp = paired_difference(np.ones((seeds, 4)), np.zeros((seeds, 4)))
    assert cmp.diff == 1.0 and not cmp.testable and not cmp.significant


def test_an_interval_stays_within_the_values_observed():
    acc = np.zeros((3, 200))
    acc[0, :2] = acc[2, :1] = 1  # 1 %, 0 %, 0.5 %: the t interval reaches below 0
    est = mean_ci(acc)
    assert est.low == 0.0 and est.high > est.mean


def test_paired_test_sees_a_small_consistent_gain_that_unpaired_intervals_miss():
    rng = np.random.default_rng(3)
    b = np.stack([rng.random(400) < p for p in (0.45, 0.5, 0.55)])  # seeds that differ by 5 points
    a = b.copy()
    for row in a:
        row[np.flatnonzero(~row)[:12]] = True  # every seed of A solves 12 more puzzles (3 points), never fewer
    ea, eb = mean_ci(a), mean_ci(b)
    assert ea.low < eb.high  # the two intervals overlap ...
    cmp = paired_difference(a, b)
    assert cmp.significant and cmp.diff == pytest.approx(0.03) and cmp.p_value < 0.01  # ... the pairing resolves it
    tie = paired_difference(b, b)
    assert not tie.significant and tie.p_value == 1.0 and tie.low == tie.high == 0.0


def test_p_value_is_the_level_at_which_the_interval_reaches_zero():
    rng = np.random.default_rng(5)
    a = (rng.random((4, 300)) < np.array([[0.55], [0.6], [0.5], [0.58]])).astype(float)
    b = (rng.random((4, 300)) < 0.5).astype(float)
    cmp = paired_difference(a, b)
    at_p = paired_difference(a, b, level=1 - cmp.p_value)
    assert 0.001 < cmp.p_value < 0.5 and at_p.low == pytest.approx(0.0, abs=1e-9)
    assert paired_difference(b, a).p_value == pytest.approx(cmp.p_value) and paired_difference(b, a).diff == -cmp.diff


def test_paired_test_needs_the_same_seeds_and_examples():
    with pytest.raises(ValueError, match="same seeds and test examples"):
        paired_difference(np.ones((3, 5)), np.ones((3, 6)))
    with pytest.raises(ValueError, match="same seeds and test examples"):
        paired_difference(np.ones((3, 5)), np.ones((4, 5)))


def test_holm_adjusts_step_down_and_leaves_untested_pairs_out():
    adjusted = holm([0.01, float("nan"), 0.04, 0.03])
    assert adjusted[0] == pytest.approx(0.03) and np.isnan(adjusted[1])
    assert adjusted[2] == pytest.approx(0.06) and adjusted[3] == pytest.approx(0.06)  # monotone: max(2 × 0.03, 0.04)
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []


@pytest.mark.parametrize(
    "kind,values",
    [("bits", [True, False, True] * 7), ("u16", [0, 1, 300, 65535]), ("f32", [0.25, 1.5, -2.0]), ("u8", [0, 3, 255])],
)
def test_per_example_arrays_round_trip(kind, values):
    text = encode(torch.tensor(values), kind)
    assert text.startswith(kind + ":")
    np.testing.assert_array_equal(decode(text, len(values)), np.asarray(values, dtype=float))


def test_subset_gap_is_the_t_interval_on_each_seeds_gap_when_puzzles_agree():
    hard = np.arange(200) < 50  # a quarter of the examples
    easy = ~hard
    constant = np.stack([np.where(hard, 6.0, 4.0)] * 3)  # the gap is 2 in every seed, on every puzzle
    est = subset_gap(constant, hard, easy)
    assert (est.mean, est.low, est.high) == pytest.approx((2.0, 2.0, 2.0))
    by_seed = np.stack([np.where(hard, 6.0 + s, 4.0) for s in range(4)])  # seed s: gap 2 + s, constant within
    est = subset_gap(by_seed, hard, easy)
    assert (est.low, est.high) == pytest.approx(t_interval(np.array([2.0, 3.0, 4.0, 5.0])))
    rng = np.random.default_rng(0)
    noisy = by_seed + rng.normal(0, 1, (1, 200))  # puzzles of each subset differ (the same way in every seed)
    wider = subset_gap(noisy, hard, easy)
    assert wider.high - wider.low > est.high - est.low
    with pytest.raises(ValueError, match="at least one example"):
        subset_gap(constant, np.zeros(200, bool), easy)
    with pytest.raises(ValueError, match="share examples"):
        subset_gap(constant, hard, np.ones(200, bool))
