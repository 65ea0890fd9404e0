"""The tables' 95 % intervals and paired test hold their level on data shaped like the suite's own.

Each simulated cell has the structure of the default run's HRM cell (results/sudoku-small-default),
measured from its records when the test runs: S seeds evaluated on the same N test puzzles, exact
accuracy drawn as ``correct ~ Bernoulli(sigmoid(mu + a[seed] + b[puzzle]))`` with normal seed and
puzzle effects fitted to the cell's mean, seed-to-seed spread and puzzle-level agreement between
seeds, and segments as a rounded, capped normal with the cell's seed shift, per-seed hard − easy gap
and puzzle spread. A fresh test set is drawn for every simulated cell, so an interval must cover both
the seeds and the draw of the puzzles. The true mean is known in closed form (Gauss–Hermite, normal
CDF).

With 4,000 simulated cells per seed count, the Monte-Carlo standard error is 0.34 points at 95 %
coverage (the 93 % bound is 5.8 standard errors below the nominal level) and 0.34 points at a 5 %
false-positive rate (the 6 % bound is 2.9 above). The generator is seeded, so the figures are the
same on every run; docs/statistics.md lists them beside the old bootstrap's.
"""

from __future__ import annotations

import itertools
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, special, stats

from looped_hrm.report.cells import cells, load_records, values
from looped_hrm.report.intervals import linear_variance, mean_ci, paired_difference, subset_gap

DEFAULT_RUN = Path(__file__).resolve().parents[2] / "results" / "sudoku-small-default"
SIMULATIONS = 4000
CHUNK = 500  # simulated cells per batch (bounds memory at 10 seeds × 600 puzzles)
ALPHA = 0.05
NODES, NODE_WEIGHTS = np.polynomial.hermite_e.hermegauss(60)  # E[f(Z)], Z ~ N(0, 1)
NODE_WEIGHTS = NODE_WEIGHTS / NODE_WEIGHTS.sum()


def _pair_cov(mat: np.ndarray) -> float:
    """Covariance across puzzles of two seeds' outcomes, averaged over seed pairs: the puzzle effect."""
    return float(np.mean([np.cov(mat[i], mat[j])[0, 1] for i, j in itertools.combinations(range(len(mat)), 2)]))


@cache
def measured() -> dict[str, float]:
    """The default run's HRM cell: accuracy and segment moments, test-set size, segment cap."""
    cell = next(c for c in cells(load_records(DEFAULT_RUN)) if c.model == "hrm")
    acc, seg = values(cell, "policy/exact_accuracy"), values(cell, "policy/mean_segments")
    bucket = cell.examples[0]["bucket"]
    easy, hard = bucket == bucket.min(), bucket == bucket.max()
    within = [seg[:, rows] for rows in (easy, hard)]
    return {
        "puzzles": acc.shape[1],
        "acc_mean": float(acc.mean()),
        "acc_seed_var": float(acc.mean(1).var(ddof=1)),
        "acc_puzzle_var": _pair_cov(acc),
        "seg_easy": float(seg[:, easy].mean()),
        "seg_gap": float(seg[:, hard].mean() - seg[:, easy].mean()),
        "seg_seed_sd": float(seg[:, easy].mean(1).std(ddof=1)),
        "seg_gap_sd": float((seg[:, hard].mean(1) - seg[:, easy].mean(1)).std(ddof=1)),
        "seg_puzzle_var": float(np.mean([_pair_cov(w) for w in within])),
        "seg_noise_var": float(np.mean([w.var(1, ddof=1).mean() for w in within])),
        "seg_cap": float(seg.max()),
    }


def _logit_moments(mu: float, seed_sd: float, puzzle_sd: float) -> tuple[float, float, float]:
    """Mean, variance of a seed's mean over puzzles, variance of a puzzle's mean over seeds."""
    p = special.expit(mu + seed_sd * NODES[:, None] + puzzle_sd * NODES[None, :])  # [seed node, puzzle node]
    mean = NODE_WEIGHTS @ p @ NODE_WEIGHTS
    return mean, NODE_WEIGHTS @ (p @ NODE_WEIGHTS - mean) ** 2, NODE_WEIGHTS @ (NODE_WEIGHTS @ p - mean) ** 2


@cache
def accuracy_model() -> tuple[float, float, float]:
    """(mu, seed sd, puzzle sd) on the logit scale that reproduce the HRM cell's accuracy moments."""
    m = measured()
    target = np.sqrt([m["acc_seed_var"], m["acc_puzzle_var"]])

    def residual(theta: np.ndarray) -> np.ndarray:
        mean, seed_var, puzzle_var = _logit_moments(theta[0], *np.exp(theta[1:]))
        return np.r_[mean - m["acc_mean"], np.sqrt([seed_var, puzzle_var]) - target]

    theta = optimize.least_squares(residual, [0.0, -1.0, 0.0]).x
    return float(theta[0]), float(np.exp(theta[1])), float(np.exp(theta[2]))


def _normal(rng, sd, shape):
    return sd * rng.standard_normal(shape, dtype=np.float32)  # float32: the simulation's bulk, in seconds


def _accuracy(rng, sims, seeds, mu, seed_sd, puzzle_effect):
    logits = mu + _normal(rng, seed_sd, (sims, seeds, 1)) + puzzle_effect
    return rng.random(logits.shape, dtype=np.float32) < special.expit(logits)


def _covers(values: np.ndarray, truth: float, weights: np.ndarray, strata=None) -> np.ndarray:
    var = linear_variance(values, weights, strata)
    return np.abs(var.estimate - truth) <= var.half_width(ALPHA)


def accuracy_cells(seeds: int, rng: np.random.Generator):
    """Batches of simulated ``correct[cell, seed, puzzle]``, each cell on a fresh test set; the truth."""
    mu, seed_sd, puzzle_sd = accuracy_model()
    n = measured()["puzzles"]
    for _ in range(SIMULATIONS // CHUNK):
        yield _accuracy(rng, CHUNK, seeds, mu, seed_sd, _normal(rng, puzzle_sd, (CHUNK, 1, n))).astype(np.float64)


def paired_cells(seeds: int, rng: np.random.Generator):
    """Batches of two models' ``correct[cell, seed, puzzle]`` with equal true accuracy on the same puzzles
    and seeds: A like the HRM cell, B with half its seed spread (its mu solved for the same mean). Half
    of each puzzle's effect is shared by both models, half is each model's own, so the two models
    disagree on puzzles as two architectures do."""
    mu, seed_sd, puzzle_sd = accuracy_model()
    truth = _logit_moments(mu, seed_sd, puzzle_sd)[0]
    mu_b = optimize.brentq(lambda m: _logit_moments(m, seed_sd / 2, puzzle_sd)[0] - truth, mu - 5, mu + 5)
    n, part = measured()["puzzles"], puzzle_sd / np.sqrt(2)
    for _ in range(SIMULATIONS // CHUNK):
        shared = _normal(rng, part, (CHUNK, 1, n))
        a = _accuracy(rng, CHUNK, seeds, mu, seed_sd, shared + _normal(rng, part, (CHUNK, 1, n)))
        b = _accuracy(rng, CHUNK, seeds, mu_b, seed_sd / 2, shared + _normal(rng, part, (CHUNK, 1, n)))
        yield a.astype(np.float64), b.astype(np.float64)


def _rounded_capped_mean(mean: float, sd: float, cap: float) -> float:
    """E[min(cap, max(1, round(X)))] for X ~ N(mean, sd²)."""
    steps = np.arange(1, int(cap))
    return float(1 + stats.norm.sf((steps + 0.5 - mean) / sd).sum())


def segment_cells(seeds: int, rng: np.random.Generator):
    """Batches of simulated ``segments[cell, seed, puzzle]`` on half easy, half hard puzzles: a latent
    normal per seed and puzzle (seed shift, the seed's own hard − easy gap, puzzle effect, noise),
    rounded and capped at the cell's maximum like the halting policy's count."""
    m = measured()
    half = m["puzzles"] // 2
    hard = np.arange(2 * half) >= half
    noise_sd = np.sqrt(max(m["seg_noise_var"] - m["seg_puzzle_var"], 0.0))
    for _ in range(SIMULATIONS // CHUNK):
        latent = (
            m["seg_easy"]
            + _normal(rng, m["seg_seed_sd"], (CHUNK, seeds, 1))
            + hard * (m["seg_gap"] + _normal(rng, m["seg_gap_sd"], (CHUNK, seeds, 1)))
            + _normal(rng, np.sqrt(m["seg_puzzle_var"]), (CHUNK, 1, 2 * half))
            + _normal(rng, noise_sd, (CHUNK, seeds, 2 * half))
        )
        yield np.clip(np.round(latent), 1, m["seg_cap"])


def true_gap() -> tuple[float, np.ndarray]:
    """The segment model's true hard − easy gap, and which simulated puzzles are hard."""
    m = measured()
    spread = [m["seg_seed_sd"], np.sqrt(m["seg_puzzle_var"]), np.sqrt(max(m["seg_noise_var"] - m["seg_puzzle_var"], 0))]
    easy = _rounded_capped_mean(m["seg_easy"], np.hypot.reduce(spread), m["seg_cap"])
    hard = _rounded_capped_mean(m["seg_easy"] + m["seg_gap"], np.hypot.reduce(spread + [m["seg_gap_sd"]]), m["seg_cap"])
    half = m["puzzles"] // 2
    return hard - easy, np.arange(2 * half) >= half


def coverage(seeds: int, rng: np.random.Generator) -> float:
    """Share of simulated cells whose 95 % interval of exact accuracy holds the true mean."""
    truth = _logit_moments(*accuracy_model())[0]
    n = measured()["puzzles"]
    return float(np.concatenate([_covers(acc, truth, np.full(n, 1 / n)) for acc in accuracy_cells(seeds, rng)]).mean())


def false_positive_rate(seeds: int, rng: np.random.Generator) -> float:
    """Share of simulated pairs of equally good models that the paired test calls different at 5 %."""
    n = measured()["puzzles"]
    return float(np.concatenate([~_covers(a - b, 0.0, np.full(n, 1 / n)) for a, b in paired_cells(seeds, rng)]).mean())


def gap_coverage(seeds: int, rng: np.random.Generator) -> float:
    """Share of simulated cells whose 95 % interval of the hard − easy gap in segments holds the true gap."""
    truth, hard = true_gap()
    weights = np.where(hard, 1 / hard.sum(), -1 / (~hard).sum())
    cells_ = segment_cells(seeds, rng)
    return float(np.concatenate([_covers(seg, truth, weights, hard.astype(int)) for seg in cells_]).mean())


def test_the_model_reproduces_the_measured_cell():
    m = measured()
    mean, seed_var, puzzle_var = _logit_moments(*accuracy_model())
    assert (mean, seed_var, puzzle_var) == pytest.approx(
        (m["acc_mean"], m["acc_seed_var"], m["acc_puzzle_var"]), rel=1e-4
    )
    assert m["acc_seed_var"] > 0.005 and m["puzzles"] >= 100  # a cell that is still learning: seeds differ


def test_the_tables_use_the_simulated_intervals():
    """`mean_ci`, `paired_difference` and `subset_gap` (what the tables print) are the intervals and the
    test simulated below, on simulated cells; the paired test's p-value agrees with its interval."""
    rng = np.random.default_rng(0)
    n = measured()["puzzles"]
    acc = next(accuracy_cells(3, rng))[0]
    one, var = mean_ci(acc), linear_variance(acc, np.full(n, 1 / n))
    assert (one.low, one.high) == pytest.approx(
        (var.estimate - var.half_width(ALPHA), var.estimate + var.half_width(ALPHA))
    )
    a, b = next(paired_cells(3, rng))
    for k in range(40):
        cmp = paired_difference(a[k], b[k])
        rejected = not _covers(a[k] - b[k], 0.0, np.full(n, 1 / n))
        assert (cmp.p_value < ALPHA) == cmp.significant == (not cmp.low <= 0 <= cmp.high) == rejected
    _, hard = true_gap()
    seg = next(segment_cells(3, rng))[0]
    gap = subset_gap(seg, hard, ~hard)
    weights = np.where(hard, 1 / hard.sum(), -1 / (~hard).sum())
    assert gap.high - gap.mean == pytest.approx(
        float(linear_variance(seg, weights, hard.astype(int)).half_width(ALPHA))
    )


@pytest.mark.parametrize("seeds", [3, 5, 10])
def test_accuracy_interval_covers_the_true_mean(seeds):
    rate = coverage(seeds, np.random.default_rng(seeds))
    assert rate >= 0.93, f"{seeds} seeds: coverage {rate:.3f}"


@pytest.mark.parametrize("seeds", [3, 5, 10])
def test_paired_test_keeps_its_false_positive_rate(seeds):
    rate = false_positive_rate(seeds, np.random.default_rng(100 + seeds))
    assert rate <= 0.06, f"{seeds} seeds: false-positive rate {rate:.3f}"


@pytest.mark.parametrize("seeds", [3, 5, 10])
def test_hard_minus_easy_gap_interval_covers_the_true_gap(seeds):
    rate = gap_coverage(seeds, np.random.default_rng(200 + seeds))
    assert rate >= 0.93, f"{seeds} seeds: gap coverage {rate:.3f}"
