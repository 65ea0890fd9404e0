"""The ``maze`` task: paint a shortest path from S to G on an N×N character grid (HRM's Maze-Hard).

Encoding as in HRM's ``build_maze_dataset.py``: charset ``"# SGo"`` -> token ids 1..5, PAD 0,
vocabulary 6, sequence length N·N, and the *whole* grid is the label (walls included), so exact
accuracy means reproducing every cell. One puzzle id for all mazes (HRM: ``num_puzzle_identifiers 1``).

``test_size`` gives the test split larger (or smaller) grids than the training split — the
DeepThinking protocol trains on 9×9-cell mazes (a 19×19 grid here) and tests up to 59×59 cells
(119×119); the model is built for the training size.

Data comes from the generators of `grid` or from maze-dataset JSONL files (`jsonl`). Difficulty is the
shortest path length in moves. `verify` accepts any shortest path (HRM's paper scores "a valid and
optimal path"). docs/tasks/maze.md says why the ``paper`` preset uses the ``loops`` generator, with
the measurements behind it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from looped_hrm.cache import cached_split
from looped_hrm.contracts import IGNORE_INDEX, SPLITS, GridPicture, Split, TaskInfo
from looped_hrm.plugins.tasks import reference_data
from looped_hrm.plugins.tasks.maze import grid as grid_ops
from looped_hrm.plugins.tasks.maze.hrm_csv import is_hrm_csv, load_maze_csv
from looped_hrm.plugins.tasks.maze.jsonl import load_maze_jsonl

DATA_VERSION = 2  # bump when generated mazes change, so cached splits are rebuilt


@dataclass
class MazeConfig:
    size: int = 15  # side of the character grid; seq_len = size²
    test_size: int | None = None  # side of the test grids (None: size); larger tests extrapolation to bigger mazes
    generator: Literal["dfs", "loops", "random"] = "loops"
    loop_fraction: float = 0.1  # loops: share of the remaining walls between two cells knocked out
    wall_fraction: tuple[float, float] = (0.3, 0.5)  # random: per-maze wall density drawn in this range
    min_path_length: int = 15  # hard filter: shortest S->G path in moves (HRM Maze-Hard: > 110, i.e. 111)
    num_train: int = 2000
    num_test: int = 500  # -1: every maze of test_file
    augment: bool = False  # train split: all 8 dihedral versions of every maze (HRM's --aug)
    bucket_edges: list[int] = field(default_factory=list)  # path-length edges; empty: size, 2·size, 4·size
    train_file: str | None = None  # maze-dataset JSONL or HRM's Maze-Hard CSV (*.csv) to read instead of generating
    test_file: str | None = None  # same for the test split; the same file as train_file: the rows after it
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size < 5 or (self.test_size is not None and self.test_size < 5):
            raise ValueError(f"size and test_size must be >= 5, got {self.size} and {self.test_size}")
        if not 0.0 <= self.loop_fraction <= 1.0:
            raise ValueError(f"loop_fraction must be in [0, 1], got {self.loop_fraction}")
        lo, hi = self.wall_fraction
        if not 0.0 <= lo <= hi < 1.0:
            raise ValueError(f"wall_fraction must be (low, high) with 0 <= low <= high < 1, got {self.wall_fraction}")
        if self.min_path_length < 1:
            raise ValueError(f"min_path_length must be >= 1, got {self.min_path_length}")
        if self.num_train < 0 or self.num_test < -1 or (self.num_test == -1 and self.test_file is None):
            raise ValueError("num_train must be >= 0 and num_test >= 0 (or -1: every maze of test_file)")
        edges = self.bucket_edges
        if any(e <= 0 for e in edges) or any(b <= a for a, b in zip(edges, edges[1:])):
            raise ValueError(f"bucket_edges must be positive and increasing, got {edges}")


def bucket_names_for(edges: list[int]) -> tuple[str, ...]:
    """Readable names of the buckets cut at ``edges``: ``<e1``, ``e1-(e2-1)``, ..., ``>=en``."""
    names = [f"<{edges[0]}"]
    names += [f"{a}-{b - 1}" for a, b in zip(edges, edges[1:])]
    names.append(f">={edges[-1]}")
    return tuple(names)


class MazeTask:
    """Shortest paths on N×N character mazes; `verify` accepts any shortest path."""

    name = "maze"
    label_free_verify = True

    def __init__(self, config: MazeConfig):
        self.config = config
        self.size = config.size
        self.info = TaskInfo(
            vocab_size=grid_ops.VOCAB_SIZE,
            seq_len=config.size**2,
            num_puzzle_ids=1,
            grid=(config.size, config.size),
            given_tokens=grid_ops.GIVEN,
        )
        self.bucket_edges = list(config.bucket_edges) or [config.size, 2 * config.size, 4 * config.size]
        self.bucket_names = bucket_names_for(self.bucket_edges)

    # ------------------------------------------------------------------------------------ data

    def build(self, split: str) -> Split:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
        key = {
            "config": self.config,
            "files": {
                name: _file_digest(_data_file(path))
                for name, path in (("train", self.config.train_file), ("test", self.config.test_file))
                if path is not None
            },
        }
        return cached_split("maze", key, split, lambda: self._make(split), version=DATA_VERSION)

    def _make(self, split: str) -> Split:
        inputs, labels, lengths = self._mazes(split)
        if split == "train" and self.config.augment:
            inputs, labels = _all_dihedral(inputs), _all_dihedral(labels)
            lengths = np.repeat(lengths, 8)
        n = len(inputs)
        flat_in = inputs.reshape(n, -1)
        flat_lab = np.where(flat_in == grid_ops.PAD, IGNORE_INDEX, labels.reshape(n, -1))
        return Split(
            inputs=torch.as_tensor(flat_in, dtype=torch.int64),
            labels=torch.as_tensor(flat_lab, dtype=torch.int64),
            puzzle_ids=torch.zeros(n, dtype=torch.int64),
            difficulty=torch.as_tensor(lengths, dtype=torch.float32),
            bucket=torch.as_tensor(np.searchsorted(self.bucket_edges, lengths, side="right"), dtype=torch.int64),
        )

    def _mazes(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(inputs, labels) as ``[n, N, N]`` grids and the path lengths, before augmentation."""
        cfg = self.config
        count = cfg.num_train if split == "train" else cfg.num_test
        side = cfg.size if split == "train" else cfg.test_size or cfg.size
        name = cfg.train_file if split == "train" else cfg.test_file
        if name is not None:
            path = _data_file(name)
            skip = 0
            if (
                split == "test"
                and cfg.train_file is not None
                and _data_file(cfg.train_file).resolve() == path.resolve()
            ):
                skip = cfg.num_train  # one file for both splits: the test rows follow the train rows
            load = load_maze_csv if is_hrm_csv(path) else load_maze_jsonl
            data = load(path, size=side, limit=None if count < 0 else skip + count)
            if count >= 0 and len(data.inputs) < skip + count:
                raise ValueError(
                    f"{path}: has {len(data.inputs)} mazes, the {split} split needs rows "
                    f"{skip + 1}..{skip + count} (num_{split} = {count})"
                )
            return data.inputs[skip:], data.labels[skip:], data.path_length[skip:]

        rng = np.random.default_rng([cfg.seed, SPLITS.index(split)])
        # The test split holds no maze of the train split, nor any of its 8 symmetric versions, and no
        # maze twice (up to symmetry); a test split of another size cannot hold a training maze.
        seen = set()
        if split == "test" and side == cfg.size:
            seen = {row.tobytes() for row in self.build("train").inputs.numpy()}
        inputs: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        lengths: list[int] = []
        draws = 0
        while len(inputs) < count:
            draws += 1
            if draws > 20 * count + 100:
                raise RuntimeError(
                    f"maze: only {len(inputs)} of {count} test mazes differ from the train split and from each other "
                    f"after {draws - 1} draws; {side}×{side} has too few distinct mazes"
                )
            x, y, d = grid_ops.sample_maze(
                side,
                cfg.generator,
                rng,
                min_path_length=cfg.min_path_length,
                loop_fraction=cfg.loop_fraction,
                wall_fraction=cfg.wall_fraction,
            )
            if split == "test":
                versions = [grid_ops.dihedral(x, k).tobytes() for k in range(8)]
                if any(v in seen for v in versions):
                    continue
                seen.update(versions)
            inputs.append(x)
            labels.append(y)
            lengths.append(d)
        empty = np.zeros((0, side, side), dtype=np.int64)
        return (
            np.stack(inputs) if inputs else empty,
            np.stack(labels) if labels else empty,
            np.asarray(lengths, dtype=np.int64),
        )

    def canonical_forms(self, split: Split) -> list[bytes]:
        """Each row's maze up to the 8 symmetries of the square (the ``augment`` group), for
        `looped_hrm.overlap`: the smallest of its 8 versions' bytes."""
        square = _square(split.inputs[0].numpy()) if len(split) else (self.size, self.size)
        return [
            min(np.ascontiguousarray(grid_ops.dihedral(row.reshape(square), k)).tobytes() for k in range(8))
            for row in split.inputs.numpy()
        ]

    # ------------------------------------------------------------------------------- the rules

    def augment(
        self, inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        k = int(rng.integers(8))
        square = _square(inputs)  # the training size, or a test split's own (extrapolation)
        return (
            grid_ops.dihedral(np.asarray(inputs).reshape(square), k).ravel(),
            grid_ops.dihedral(np.asarray(labels).reshape(square), k).ravel(),
        )

    def verify(self, prediction: np.ndarray, inputs: np.ndarray, labels: np.ndarray | None = None) -> bool:
        """A shortest S->G path painted on the input grid (any one of them); labels are not needed."""
        square = _square(inputs)
        return grid_ops.is_shortest_path(np.asarray(prediction).reshape(square), np.asarray(inputs).reshape(square))

    def render(self, tokens: np.ndarray) -> str:
        return grid_ops.render(np.asarray(tokens), _square(tokens)[0])

    def parse(self, text: str) -> np.ndarray:
        """A maze typed by a user: ``size`` lines of ``#`` (wall), space (open), ``S``, ``G`` (and ``o``
        path cells, read as open); a line shorter than ``size`` is padded with open cells."""
        rows = [line.rstrip("\r") for line in text.split("\n")]
        while rows and not rows[-1].strip():
            rows.pop()
        if len(rows) != self.size or any(len(r) > self.size for r in rows):
            raise ValueError(
                f"a maze of this task is {self.size} lines of at most {self.size} characters, "
                f"got {len(rows)} lines of up to {max((len(r) for r in rows), default=0)}"
            )
        chars = "".join(r.ljust(self.size) for r in rows).replace("o", " ")
        bad = sorted(set(chars) - set(grid_ops.CHARSET))
        if bad:
            raise ValueError(f"unknown maze character(s) {' '.join(map(repr, bad))} (expected '#', ' ', 'S', 'G')")
        if chars.count("S") != 1 or chars.count("G") != 1:
            raise ValueError("a maze needs exactly one S and one G")
        return np.array([grid_ops.CHARSET.index(c) + 1 for c in chars], dtype=np.int64)

    def picture(self, tokens: np.ndarray, inputs: np.ndarray) -> GridPicture:
        """Walls black, S green, G red, path cells orange and joined by a line."""
        side = _square(tokens)[0]
        grid = np.asarray(tokens).reshape(side, side)
        palette = {
            grid_ops.PAD: (0.6, 0.6, 0.6),
            grid_ops.WALL: (0.12, 0.12, 0.12),
            grid_ops.OPEN: (1.0, 1.0, 1.0),
            grid_ops.START: (0.2, 0.7, 0.3),
            grid_ops.GOAL: (0.85, 0.2, 0.2),
            grid_ops.PATH: (1.0, 0.8, 0.55),
        }
        colours = np.ones((side, side, 3))
        for token, colour in palette.items():
            colours[grid == token] = colour
        on_path = np.isin(grid, (grid_ops.PATH, grid_ops.START, grid_ops.GOAL))
        links = [
            ((r, c), (r + dr, c + dc))
            for r, c in zip(*np.nonzero(on_path))
            for dr, dc in ((0, 1), (1, 0))
            if r + dr < side
            and c + dc < side
            and on_path[r + dr, c + dc]
            and grid_ops.PATH in (grid[r, c], grid[r + dr, c + dc])
        ]
        return GridPicture(colours=colours, links=[((int(a), int(b)), (int(c), int(d))) for (a, b), (c, d) in links])


def _square(tokens: np.ndarray) -> tuple[int, int]:
    """The side × side shape of a flattened maze (the training or the test size)."""
    side = math.isqrt(np.asarray(tokens).size)
    return side, side


def _all_dihedral(grids: np.ndarray) -> np.ndarray:
    """``[n, N, N]`` -> ``[8n, N, N]``: the 8 symmetric versions of each grid, one maze after another."""
    return np.stack([grid_ops.dihedral(g, k) for g in grids for k in range(8)]) if len(grids) else grids


def _data_file(name: str) -> Path:
    """``name`` as given, else under the shipped reference data (``maze/maze_dataset_dfs_g15.jsonl``);
    a file found nowhere is left to the reader, whose error names it."""
    return reference_data.find(name) or Path(name)


def _file_digest(path: Path) -> str:
    """Content hash of a data file, so an edited file is not served from a stale cache."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError as exc:
        raise ValueError(f"maze: cannot read data file {path}: {exc.strerror or exc}") from exc


PRESETS = {
    "tiny": {"size": 7, "min_path_length": 4, "num_train": 256, "num_test": 64},
    "small": {"size": 15, "min_path_length": 15, "num_train": 2000, "num_test": 500},
    "paper": {
        "size": 30,
        "generator": "loops",
        "loop_fraction": 0.1,
        "min_path_length": 111,
        "num_train": 1000,
        "num_test": 1000,
        "augment": False,
    },
}
