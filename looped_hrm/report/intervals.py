"""Confidence intervals over seeds and test examples, and the paired test between two cells.

A result cell (task × model × halting) holds S seeds, each evaluated on the same N test examples: a
matrix ``values[S, N]`` (1/0 for exact accuracy, segments for compute, ...). What a table claims is
the mean over *training runs* (a new seed) and over *puzzles* (a new test set drawn the same way), so
the interval carries both: the seed-to-seed spread, and the draw of the test examples that every seed
shares. As a crossed random-effects model, ``y[s, i] = mu + a[s] + b[i] + e[s, i]``, the grand mean
has variance ``var(a)/S + var(b)/N + var(e)/(S·N)``, estimated without bias by the sum of

* the seed part, ``var(seed means) / S`` (it holds ``var(a)/S + var(e)/(S·N)``): S − 1 degrees of
  freedom, and the larger part with 3–10 seeds of a model that is still learning;
* the test-set part, ``(var(example means) − noise) / N`` (``var(b)/N``; ``noise`` = the seed-level
  noise inside each example's mean, from the seed × example residuals): N − 1 degrees of freedom.

The interval is ``mean ± sqrt(t(S−1)² · seed part + t(N−1)² · test-set part)``: each part widened by
the t quantile of its own degrees of freedom. With a large seed spread it is the t interval on the
seed means (exact for normal seed means); with seeds that agree it is the usual interval over
examples; in between it errs wide. The obvious alternatives fail one way or the other in the
simulation of docs/statistics.md (tests/bench/test_interval_coverage.py repeats it on every test
run): Satterthwaite's pooled degrees of freedom under-covers with 3 seeds (92.6 %), t(S − 1) on the
whole variance over-covers badly when seeds agree (99.9 %, intervals twice as wide), and the
seeds × examples percentile bootstrap used before covered 78.5 % with 3 seeds and 85.9 % with 5 — a
resample of 3 seeds holds at most 3 distinct values, and its percentiles are normal, not t, quantiles.

With fewer than `MIN_SEEDS` seeds there is no interval: one seed says nothing about the next, and two
give a t interval with one degree of freedom (±12.7 standard errors) that says little more. An
`Estimate` then has ``low = high = nan`` and tables print why.

The paired test compares two cells on the same test examples *and seeds*: the difference matrix
``a[s, i] − b[s, i]`` of their common seeds is one cell of its own, and its interval is the one above.
Pairing by seed is valid whatever the correlation between the two runs of a seed (same data order,
often the same initial weights), and gains power when it is positive (two halting policies of one
model). The p-value inverts the same interval (the smallest level whose interval excludes 0), so
"p < 0.05" and "the 95 % interval excludes 0" agree. Many pairs of one task are corrected together
with `holm`.

Everything here is closed-form: a table rebuilt from the same records prints the same intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

LEVEL = 0.95
MIN_SEEDS = 3
MIN_DISTINCT = 30
"""Distinct test items (up to the task's symmetries) a subset of the test set needs for an interval of
its own, e.g. one difficulty bucket: below it the t interval over items misses far more often than 5 %
on outcomes that every seed shares (docs/statistics.md, "Too few puzzles")."""
METHOD = (
    "95 % CI over seeds and test examples: the seed-to-seed spread with t(seeds − 1) quantiles plus the "
    "draw of the test examples every seed shares; no interval with fewer than 3 seeds (docs/statistics.md)"
)


@dataclass(frozen=True)
class Estimate:
    """A mean with its confidence interval: ``low``/``high`` are nan when too few seeds support one,
    and equal ``mean`` when nothing varies."""

    mean: float
    low: float
    high: float
    seeds: int
    examples: int

    @property
    def has_interval(self) -> bool:
        return not np.isnan(self.low)


@dataclass(frozen=True)
class Comparison:
    """``a - b`` on the same test examples and seeds: mean difference, its interval, two-sided p-value
    (all nan but ``diff`` when fewer than `MIN_SEEDS` common seeds)."""

    diff: float
    low: float
    high: float
    p_value: float
    seeds: int

    @property
    def testable(self) -> bool:
        return not np.isnan(self.p_value)

    @property
    def significant(self) -> bool:
        """At 5 %, not corrected for other comparisons (`holm` does that)."""
        return self.testable and self.p_value < 1 - LEVEL

    def flipped(self) -> Comparison:
        """``b - a``."""
        return Comparison(-self.diff, -self.high, -self.low, self.p_value, self.seeds)


def _matrix(values: np.ndarray | list[np.ndarray]) -> np.ndarray:
    mat = np.asarray(values, dtype=np.float64)
    if mat.ndim == 1:
        mat = mat[None, :]
    if mat.ndim != 2 or mat.size == 0:
        raise ValueError(f"expected values[seeds, examples], got shape {mat.shape}")
    return mat


@dataclass(frozen=True)
class Variance:
    """An estimate's variance in its two parts, each with its degrees of freedom (arrays over any
    leading axes of the values, as in a simulation)."""

    estimate: np.ndarray
    seeds: np.ndarray  # var(per-seed values) / S
    examples: np.ndarray  # the draw of the test examples
    seeds_df: int
    examples_df: int

    def half_width(self, alpha: float) -> np.ndarray:
        """Half the width of the two-sided ``1 - alpha`` interval."""
        t_seeds, t_examples = stats.t.isf(alpha / 2, self.seeds_df), stats.t.isf(alpha / 2, self.examples_df)
        return np.sqrt(t_seeds**2 * self.seeds + t_examples**2 * self.examples)

    def p_value(self) -> float:
        """Two-sided p-value of "the estimate is 0": the ``alpha`` whose interval ends at 0."""
        distance = abs(float(self.estimate))
        if float(self.seeds + self.examples) == 0:
            return float(distance == 0)
        if distance == 0:
            return 1.0

        def gap(alpha: float) -> float:
            return float(self.half_width(alpha)) - distance

        return P_FLOOR if gap(P_FLOOR) < 0 else float(optimize.brentq(gap, P_FLOOR, 1.0))


P_FLOOR = 1e-15  # p-values below this are reported as this


def linear_variance(values: np.ndarray, weights: np.ndarray, strata: np.ndarray | None = None) -> Variance:
    """Estimate and variance of ``mean over seeds of sum_i weights[i] · values[s, i]``.

    ``values[..., S, N]`` (leading axes: independent problems, as in a simulation; S ≥ 2); the examples
    of each stratum (``strata[N]``, one label per example; default: one stratum) are a random draw
    from that stratum's population, all seeds evaluated on the same draw. ``weights`` are equal within
    a stratum (1/N for the mean; 1/n and −1/n for a difference of two subsets); examples of weight 0
    are left out. The two parts are those of the module docstring."""
    mat = np.asarray(values, dtype=np.float64)
    seeds = mat.shape[-2]
    weights = np.asarray(weights, dtype=np.float64)
    strata = np.zeros(mat.shape[-1], dtype=np.int64) if strata is None else np.asarray(strata)
    per_seed = mat @ weights  # [..., S]
    examples = np.zeros(mat.shape[:-2])
    examples_df = 0
    for label in np.unique(strata[weights != 0]):
        rows = (strata == label) & (weights != 0)
        n = int(rows.sum())
        if n < 2:
            continue  # one example per stratum: its draw cannot be told from the seeds' noise
        sub, w2 = (mat, weights**2) if rows.all() else (mat[..., rows], weights[rows] ** 2)
        centred = sub - sub.mean(-1, keepdims=True)  # each seed's values about its own mean
        dev = centred.mean(-2)  # [..., n]: each example's mean over seeds, about the stratum's mean
        spread = n / (n - 1) * (dev**2 @ w2)  # var(example means) · sum(w²)
        # seed × example residuals (centred − dev): their variance is the seed-level noise in each example's mean
        resid_ss = np.einsum("...si,...si->...i", centred, centred) - seeds * dev**2
        noise = (resid_ss / (seeds - 1)) @ w2 / seeds
        examples = examples + np.maximum(spread - noise, 0.0)
        examples_df += n - 1
    return Variance(per_seed.mean(-1), per_seed.var(-1, ddof=1) / seeds, examples, seeds - 1, max(examples_df, 1))


def _estimate(mat: np.ndarray, weights: np.ndarray, strata: np.ndarray | None, level: float) -> Estimate:
    if len(mat) < MIN_SEEDS:
        return Estimate(float(np.mean(mat @ weights)), np.nan, np.nan, *mat.shape)
    var = linear_variance(mat, weights, strata)
    mean, half = float(var.estimate), float(var.half_width(1 - level))
    return Estimate(mean, mean - half, mean + half, *mat.shape)


def mean_ci(values: np.ndarray | list[np.ndarray], *, level: float = LEVEL) -> Estimate:
    """Grand mean of ``values[seeds, examples]`` with its interval (module docstring). Over per-example
    outcomes the interval never extends past the smallest and largest outcome observed (an accuracy
    stays within [0, 1]); ``values[seeds, 1]`` (one value per seed) is not clipped."""
    mat = _matrix(values)
    est = _estimate(mat, np.full(mat.shape[1], 1 / mat.shape[1]), None, level)
    if not est.has_interval or mat.shape[1] == 1:
        return est
    return Estimate(est.mean, max(est.low, mat.min()), min(est.high, mat.max()), est.seeds, est.examples)


def over_items(values: np.ndarray, *, level: float = LEVEL) -> Estimate:
    """Mean of one deterministic answer's outcomes on N test items (a trivial baseline: no training, no
    seed) with its interval over the draw of the test items alone: the t interval of the N values,
    clipped like `mean_ci`'s (none for fewer than 2 items)."""
    vec = np.asarray(values, dtype=np.float64).ravel()
    if vec.size == 0:
        raise ValueError("expected the outcomes of at least one test item")
    mean = float(vec.mean())
    if vec.size < 2:
        return Estimate(mean, np.nan, np.nan, 1, vec.size)
    half = float(stats.t.isf((1 - level) / 2, vec.size - 1) * vec.std(ddof=1) / np.sqrt(vec.size))
    return Estimate(mean, max(mean - half, vec.min()), min(mean + half, vec.max()), 1, vec.size)


def subset_gap(
    values: np.ndarray | list[np.ndarray], first: np.ndarray, second: np.ndarray, *, level: float = LEVEL
) -> Estimate:
    """Mean of ``values[seeds, N]`` over the examples in ``first`` minus the mean over ``second`` (boolean
    masks of the N examples, disjoint), averaged over seeds: each seed's own gap is the unit, and each
    subset is a draw of examples of its own (two strata). A gap that is the same in every seed and
    constant within each subset has no width."""
    mat = _matrix(values)
    first, second = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if not (first.any() and second.any()):
        raise ValueError("both subsets need at least one example")
    if (first & second).any():
        raise ValueError("the two subsets share examples")
    weights = first / first.sum() - second / second.sum()
    return _estimate(mat, weights, first.astype(np.int64), level)


def paired_difference(
    a: np.ndarray | list[np.ndarray], b: np.ndarray | list[np.ndarray], *, level: float = LEVEL
) -> Comparison:
    """Mean of ``a`` minus mean of ``b``, both ``[seeds, N]`` with row s of each from the same seed and
    column i the same test example: the interval of the difference matrix, and its two-sided t test."""
    ma, mb = _matrix(a), _matrix(b)
    if ma.shape != mb.shape:
        raise ValueError(
            f"a paired test needs the same seeds and test examples: {ma.shape[0]}×{ma.shape[1]} vs "
            f"{mb.shape[0]}×{mb.shape[1]}"
        )
    diff = ma - mb
    weights = np.full(diff.shape[1], 1 / diff.shape[1])
    est = _estimate(diff, weights, None, level)
    if not est.has_interval:
        return Comparison(est.mean, np.nan, np.nan, np.nan, len(diff))
    return Comparison(est.mean, est.low, est.high, linear_variance(diff, weights).p_value(), len(diff))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error at the nominal level for any dependence
    between the tests); nan entries (untested) are left out of the family and stay nan."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(len(p), np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        out[index] = running
    return out.tolist()
