"""ARC scoring by voting over augmented views: pass@1 and pass@2, by two rules.

ARC allows two attempts per test input. Two rules turn the attempts into a score, and results are
not comparable across them, so both are reported, each under its own name:

* ``hrm_pass@k`` — **HRM's rule** (HRM's evaluation notebook): a task counts only when every one of
  its test inputs has its answer among the k attempts; the share of tasks that count;
* ``prize_pass@k`` — **the ARC Prize's rule** (the Kaggle competition's scoring): each test output is
  scored on its own, 1 when its answer is among the k attempts; the share of all test outputs.

They agree when every task has one test input; with several, a task half solved scores 0 under
HRM's rule and contributes its solved outputs under the ARC Prize's.

HRM (and TRM) get their attempts by running each test input through many augmented versions of its
puzzle (a symmetry of the square times a colour permutation), mapping every predicted grid back to
the original frame and letting the views vote; the two grids with the most votes are the two attempts.
This module does that for any model output on the canvas encoding of `arc_grid`:

1. crop each prediction to its grid (`arc_grid.crop_prediction`), drop it when there is none;
2. undo the view's augmentation (`GridAug.invert`);
3. count identical grids per (task, test input); rank by votes, then by the mean of an optional
   per-row confidence score (HRM uses sigmoid(q_halt)), then by first appearance;
4. HRM's rule: a task passes at k when, for every test input, the answer is among its k best
   candidates (all-or-nothing per task; TRM's evaluator gives fractional credit); the ARC Prize's
   rule: each test input whose answer is among its k best candidates counts one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from looped_hrm.plugins.tasks.arc.grid import GridAug, crop_prediction


@dataclass
class Candidate:
    grid: np.ndarray
    votes: int = 0
    score_sum: float = 0.0
    first: int = 0

    @property
    def mean_score(self) -> float:
        return self.score_sum / self.votes


@dataclass
class VoteResult:
    """``pass_at[k]``: share of tasks with every test input solved within k attempts (HRM's rule);
    ``per_output_at[k]``: share of test outputs solved within k attempts (the ARC Prize's rule);
    ``per_task[task][k]``: solved or not (HRM's rule); ``ranked[(task, test_index)]``: the
    candidates, best first."""

    pass_at: dict[int, float]
    per_task: dict[str, dict[int, bool]]
    ranked: dict[tuple[str, int], list[Candidate]] = field(repr=False)
    per_output_at: dict[int, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """Flat numbers for a metrics table, named by their rule: ``hrm_pass@k`` by HRM's, ``prize_pass@k``
        by the ARC Prize's (records written before both were measured hold HRM's rule as ``pass@k``)."""
        return {f"hrm_pass@{k}": v for k, v in self.pass_at.items()} | {
            f"prize_pass@{k}": v for k, v in self.per_output_at.items()
        }


def vote(
    predictions: np.ndarray,
    tasks: Sequence[str],
    test_index: Sequence[int],
    views: Sequence[GridAug],
    answers: Mapping[tuple[str, int], np.ndarray],
    canvas: int,
    scores: Sequence[float] | None = None,
    ks: tuple[int, ...] = (1, 2),
) -> VoteResult:
    """Score ``predictions`` (``[N, canvas*canvas]`` tokens, one row per view of a test input).

    Row ``i`` answers test input ``test_index[i]`` of task ``tasks[i]`` seen through ``views[i]``;
    ``answers[(task, j)]`` is the true output grid of that test input in the original frame; every
    task named in ``answers`` is scored (a test input without a usable prediction is a miss).
    """
    predictions = np.asarray(predictions)
    n = predictions.shape[0]
    if not (len(tasks) == len(test_index) == len(views) == n) or (scores is not None and len(scores) != n):
        raise ValueError(
            f"{n} predictions but {len(tasks)} tasks, {len(test_index)} test indices, "
            f"{len(views)} views" + ("" if scores is None else f", {len(scores)} scores")
        )
    pools: dict[tuple[str, int], dict[bytes, Candidate]] = {key: {} for key in answers}
    for i in range(n):
        key = (tasks[i], int(test_index[i]))
        if key not in pools:
            raise KeyError(f"row {i}: no answer given for test input {key[1]} of task {key[0]!r}")
        grid = crop_prediction(predictions[i], canvas)
        if grid is None:
            continue
        grid = views[i].invert(grid)
        pool = pools[key]
        h = bytes(grid.shape) + grid.astype(np.int64).tobytes()
        cand = pool.setdefault(h, Candidate(grid, first=i))
        cand.votes += 1
        cand.score_sum += 0.0 if scores is None else float(scores[i])
    ranked = {
        key: sorted(pool.values(), key=lambda c: (-c.votes, -c.mean_score, c.first)) for key, pool in pools.items()
    }
    per_task: dict[str, dict[int, bool]] = {}
    per_output: dict[int, list[bool]] = {k: [] for k in ks}
    for (task, j), cands in ranked.items():
        answer = np.asarray(answers[(task, j)])
        hit = next((r for r, c in enumerate(cands) if c.grid.shape == answer.shape and (c.grid == answer).all()), None)
        solved = per_task.setdefault(task, {k: True for k in ks})
        for k in ks:
            solved[k] = solved[k] and hit is not None and hit < k
            per_output[k].append(hit is not None and hit < k)
    pass_at = {k: float(np.mean([s[k] for s in per_task.values()])) if per_task else 0.0 for k in ks}
    per_output_at = {k: float(np.mean(v)) if v else 0.0 for k, v in per_output.items()}
    return VoteResult(pass_at, per_task, ranked, per_output_at)
