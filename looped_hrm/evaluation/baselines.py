"""Trivial baselines: the scores a model must beat before its number means anything.

Copying a maze's input already gets 87.5 % of its tokens right, and an ARC-lite puzzle whose rule is
the identity is solved by its input. So every evaluation also scores answers that need no training,
computed from the splits alone (deterministic, no model):

* ``copy`` — the input tokens as the answer (a maze's walls and open cells, a Sudoku's givens with
  its blanks left blank, an ARC input grid as its output grid);
* ``majority`` — at every position the label that the training split holds most often there, the
  same answer for every test row (a position that training never scores takes the most common
  label overall, and so does every position of a test split at another size, where positions do
  not line up with training's);
* the task's own cheap rules, from its optional method
  ``baselines(train: Split | None, test: Split) -> dict[str, np.ndarray]`` (``int64 [N_test, L]``
  predictions, deterministic; ``train`` is None when the weights were trained on data this suite
  does not build), e.g. Sudoku's givens with a random allowed digit in every blank.

Each is scored exactly as a model's pass is (`looped_hrm.engine.correctness`: exact and token
accuracy; the task's ``verify`` when the pass verifies), per test row. The record keeps every
baseline like a pass, as ``baseline:<name>`` (`looped_hrm.evaluation.catalogue`): its means among the
metrics and its per-example outcomes beside the passes', so the tables give it the same intervals and
compare a model with it on the same puzzles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from looped_hrm.contracts import IGNORE_INDEX, Split, Task
from looped_hrm.engine.correctness import exact_correct, token_accuracy
from looped_hrm.evaluation import catalogue
from looped_hrm.evaluation.metrics import verify_all

__all__ = ["BaselineResult", "baseline_metrics", "majority_answer", "predictions", "score_baselines"]


def majority_answer(train: Split, length: int | None = None) -> np.ndarray:
    """``int64 [length]``: at each position the label the training split holds most often there (ties:
    the smallest token); a position that training never scores takes the most common label overall.

    At a ``length`` other than the training one (a test split of ``eval.extrapolate``: longer bit
    strings, larger mazes flattened row by row) a position does not mean what it meant in training, so
    every position takes the most common label overall."""
    labels = train.labels.numpy()
    scored = labels != IGNORE_INDEX
    if not scored.any():
        raise ValueError("the training split scores no position: it has no majority label")
    positions = np.broadcast_to(np.arange(labels.shape[1]), labels.shape)
    counts = np.zeros((labels.shape[1], int(labels[scored].max()) + 1), dtype=np.int64)
    np.add.at(counts, (positions[scored], labels[scored]), 1)
    overall = int(counts.sum(0).argmax())
    if length is not None and length != labels.shape[1]:
        return np.full(length, overall, dtype=np.int64)
    return np.where(counts.sum(1) > 0, counts.argmax(1), overall).astype(np.int64)


def predictions(task: Task, train: Split | None, test: Split) -> dict[str, np.ndarray]:
    """Every trivial baseline's answers to the rows of ``test`` (``int64 [N, L]`` each): ``copy``,
    ``majority`` and the task's own (its ``baselines`` method). ``train`` is None when the weights were
    trained elsewhere on data this suite does not build: ``majority`` is not scored then."""
    n, length = test.inputs.shape
    out = {"copy": test.inputs.numpy().copy()}
    if train is not None:
        out["majority"] = np.broadcast_to(majority_answer(train, length), (n, length)).copy()
    hook = getattr(task, "baselines", None)
    for name, answers in (hook(train, test) if hook is not None else {}).items():
        answers = np.asarray(answers)
        who = f"task {getattr(task, 'name', type(task).__name__)!r}: baseline {name!r}"
        if name in ("copy", "majority") or "/" in name:
            raise ValueError(f"{who}: a name without '/' that is not a built-in baseline's (copy, majority)")
        if answers.shape != (n, length) or not np.issubdtype(answers.dtype, np.integer):
            raise ValueError(
                f"{who}: needs integer predictions of shape {(n, length)}, got {answers.dtype} {answers.shape}"
            )
        out[name] = answers.astype(np.int64)
    return out


@dataclass(frozen=True)
class BaselineResult:
    """One baseline's outcome on every test row, scored as a model's pass is."""

    correct: torch.Tensor  # bool [N]: every scored token right
    token_accuracy: torch.Tensor  # float [N]
    verified: torch.Tensor | None  # bool [N]: the task's rules accept the answer (None: not verified)

    def arrays(self) -> dict[str, torch.Tensor]:
        """The per-example arrays, under the names a pass stores them (`catalogue.PASS_METRICS`)."""
        out = {"correct": self.correct, "token_accuracy": self.token_accuracy}
        if self.verified is not None:
            out["verified"] = self.verified
        return out


def score_baselines(task: Task, train: Split | None, test: Split, *, verify: bool) -> dict[str, BaselineResult]:
    """`predictions` scored against ``test``'s labels, and by ``task.verify`` when ``verify``."""
    out = {}
    for name, answers in predictions(task, train, test).items():
        guess = torch.from_numpy(answers)
        out[name] = BaselineResult(
            correct=exact_correct(guess, test.labels),
            token_accuracy=token_accuracy(guess, test.labels),
            verified=verify_all(task, guess, test.inputs, test.labels) if verify else None,
        )
    return out


def baseline_metrics(
    results: dict[str, BaselineResult],
    bucket: torch.Tensor,
    bucket_names: Sequence[str],
    variant: str | None = None,
) -> dict[str, float | None]:
    """Each baseline's means, overall and per difficulty bucket, keyed like a pass's
    (``baseline:copy/exact_accuracy``, ``baseline:copy/bucket/hard/exact_accuracy``; under
    ``extrapolate/<variant>/`` on an extrapolation test split)."""
    out: dict[str, float | None] = {}
    for name, res in results.items():
        mode = catalogue.baseline_mode(name)
        for array, values in res.arrays().items():
            metric = catalogue.by_array(array)
            out[catalogue.key(metric.name, mode, variant=variant)] = metric.summary(values)
            if not metric.per_bucket:
                continue
            for b, bucket_name in enumerate(bucket_names):
                rows = bucket == b
                if rows.any():
                    out[catalogue.key(metric.name, mode, bucket=bucket_name, variant=variant)] = metric.summary(
                        values[rows]
                    )
    return out
