"""``arc_lite``: procedural ARC-like puzzles drawn from the transform families of `transforms`.

Difficulty is the number of composed transforms plus the output's share of the canvas (bucket =
number of transforms).

``test_size`` tests the rules on larger (or smaller) grids than their demonstrations: every test
input is ``test_size`` cells a side, outside the demonstrations' ``min_size..max_size``, so no test
input can be a training one. The puzzles, their ids and their demonstrations stay those of the
training split — an extrapolation split (``eval.extrapolate: {test_size: [...]}``) asks the model
trained on small demonstrations to apply the same rule to a bigger grid. A puzzle whose output
would not fit the canvas at that size (a rule that scales or tiles its input) has no test rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, get_args

import numpy as np

from looped_hrm.plugins.tasks.arc.base import ArcTask, Pair, check_views
from looped_hrm.plugins.tasks.arc.transforms import FAMILIES, FAMILY_NAMES, LitePuzzle, sample_puzzle

FamilyName = Literal[
    "copy",
    "rotate",
    "flip",
    "transpose",
    "recolour",
    "gravity",
    "translate",
    "scale",
    "tile",
    "complete_pattern",
    "fill_enclosed",
]
assert set(get_args(FamilyName)) == set(FAMILY_NAMES), "FamilyName must list every family of transforms.FAMILIES"


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
    test_size: int | None = None  # side of every test input (None: drawn like the demos), outside min_size..max_size
    translate: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.families or len(set(self.families)) != len(self.families):
            raise ValueError(f"families must be a non-empty list without repeats, got {self.families}")
        if not 1 <= self.min_size <= self.max_size <= self.canvas:
            raise ValueError(
                f"need 1 <= min_size <= max_size <= canvas, got {self.min_size}, {self.max_size}, {self.canvas}"
            )
        if not 1 <= self.max_compose <= 3:
            raise ValueError(f"max_compose must be 1, 2 or 3, got {self.max_compose}")
        for key in ("n_puzzles", "demos", "tests"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        size = self.test_size
        if size is not None and (not 1 <= size <= self.canvas or self.min_size <= size <= self.max_size):
            raise ValueError(
                f"test_size must be in 1..canvas ({self.canvas}) and outside the demonstrations' sides "
                f"{self.min_size}..{self.max_size} (test inputs of those sizes could be training ones), got {size}"
            )
        check_views(self.num_aug, self.test_views)


class ArcLiteTask(ArcTask):
    name = "arc_lite"

    def __init__(self, config: ArcLiteConfig) -> None:
        self.config = config
        rng = np.random.default_rng([config.seed, 0])
        self.puzzles: list[LitePuzzle] = []
        for _ in range(config.n_puzzles):
            depth = int(rng.integers(1, config.max_compose + 1))
            self.puzzles.append(
                sample_puzzle(rng, tuple(config.families), depth, config.canvas, config.min_size, config.max_size)
            )
        self.puzzle_labels = [f"p{p}:{puzzle.name}" for p, puzzle in enumerate(self.puzzles)]
        self.bucket_names = tuple(f"{d}-step" for d in range(1, config.max_compose + 1))
        if not any(self._fits(p) for p in range(config.n_puzzles)):
            raise ValueError(
                f"test_size {config.test_size}: no puzzle's output fits the {config.canvas}x{config.canvas} canvas "
                "at that size; enlarge the canvas or test smaller grids"
            )
        super().__init__(config.canvas, config.num_aug, config.test_views, config.translate, config.seed)

    def _pairs(self, p: int) -> tuple[list[Pair], list[Pair]]:
        cfg, puzzle = self.config, self.puzzles[p]
        pairs = puzzle.make_pairs(np.random.default_rng([cfg.seed, 1, p]), cfg.demos + cfg.tests)
        demos, tests = pairs[: cfg.demos], pairs[cfg.demos :]
        if cfg.test_size is not None:  # the same demonstrations, test inputs of the other size
            sized = replace(puzzle, min_side=cfg.test_size, max_side=cfg.test_size)
            tests = sized.make_pairs(np.random.default_rng([cfg.seed, 4, p]), cfg.tests) if self._fits(p) else []
        return demos, tests

    def _num_tests(self, p: int) -> int:
        return self.config.tests if self._fits(p) else 0

    def _fits(self, p: int) -> bool:
        """Whether puzzle ``p`` can be tested at ``test_size``: its rule's smallest input side is met
        and its output fits the canvas."""
        size, puzzle = self.config.test_size, self.puzzles[p]
        if size is None:
            return True
        first = FAMILIES[puzzle.steps[0].family].min_side(puzzle.steps[0].params)
        return first <= size and size * puzzle.growth <= self.config.canvas

    def _difficulty(self, p: int, output: np.ndarray) -> tuple[float, int]:
        depth = self.puzzles[p].depth
        return depth + output.size / self.canvas**2, depth - 1


PRESETS = {
    # A few families on an 8x8 canvas: seconds of CPU training.
    "tiny": dict(
        families=["copy", "flip", "recolour", "gravity"],
        canvas=8,
        min_size=2,
        max_size=6,
        n_puzzles=8,
        demos=4,
        tests=2,
        max_compose=1,
        num_aug=3,
    ),
    # The CPU benchmark: "ARC-lite with few transforms", compositions of two.
    "small": dict(
        families=["copy", "rotate", "flip", "transpose", "recolour", "gravity"],
        canvas=10,
        min_size=2,
        max_size=8,
        n_puzzles=32,
        demos=4,
        tests=2,
        max_compose=2,
        num_aug=7,
    ),
    # HRM's canvas and every family.
    "paper": dict(canvas=30, min_size=3, max_size=30, n_puzzles=800, demos=3, tests=1, max_compose=3, num_aug=40),
}
