"""``arc_lite``: procedural ARC-like puzzles drawn from the transform families of `transforms`.

Difficulty is the number of composed transforms plus the output's share of the canvas (bucket =
number of transforms).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from looped_hrm.plugins.tasks.arc.base import ArcTask, Pair, check_views
from looped_hrm.plugins.tasks.arc.transforms import FAMILY_NAMES, LitePuzzle, sample_puzzle

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
        super().__init__(config.canvas, config.num_aug, config.test_views, config.translate, config.seed)

    def _pairs(self, p: int) -> tuple[list[Pair], list[Pair]]:
        pairs = self.puzzles[p].make_pairs(
            np.random.default_rng([self.config.seed, 1, p]), self.config.demos + self.config.tests
        )
        return pairs[: self.config.demos], pairs[self.config.demos :]

    def _num_tests(self, p: int) -> int:
        return self.config.tests

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
