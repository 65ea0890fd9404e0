"""What both ARC tasks share: puzzle versions and their ids, the train/test rows on HRM's canvas,
exact-match verification and voting over views (see docs/tasks/arc.md).

A subclass (`lite.ArcLiteTask`, `agi.ArcAgiTask`) says where the puzzles come from.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from looped_hrm.cache import cached_split
from looped_hrm.contracts import IGNORE_INDEX, GridPicture, Split, TaskInfo
from looped_hrm.plugins.tasks.arc.grid import (
    ARC_PALETTE,
    COLOUR_OFFSET,
    EOS,
    PAD,
    VOCAB_SIZE,
    canonical_pair,
    decode,
    encode,
    encode_label,
    random_aug,
    render,
    sample_views,
)
from looped_hrm.plugins.tasks.arc.voting import VoteResult, vote

Pair = tuple[np.ndarray, np.ndarray]
CACHE_VERSION = 1  # bump when generated puzzles change: cached splits are rebuilt, results rerun (TaskSpec.revision)


def check_views(num_aug: int, test_views: int | None) -> None:
    if num_aug < 0:
        raise ValueError(f"num_aug must be >= 0, got {num_aug}")
    if test_views is not None and not 1 <= test_views <= num_aug + 1:
        raise ValueError(f"test_views must be in 1..num_aug+1 = {num_aug + 1}, got {test_views}")


class ArcTask(ABC):
    """What both ARC tasks share: puzzle versions, splits, encoding, verification and voting.

    A subclass sets ``name``, ``config``, ``bucket_names`` and ``puzzle_labels`` (one per puzzle) and
    implements `_pairs`, `_num_tests` and `_difficulty`.
    """

    name: str
    config: Any
    bucket_names: tuple[str, ...]
    puzzle_labels: list[str]
    label_free_verify = False

    def __init__(self, canvas: int, num_aug: int, test_views: int | None, translate: bool, seed: int) -> None:
        self.canvas, self.num_aug, self.translate, self.seed = canvas, num_aug, translate, seed
        self.test_views = num_aug + 1 if test_views is None else test_views
        count = len(self.puzzle_labels)
        self.views = [sample_views(np.random.default_rng([seed, 2, p]), num_aug) for p in range(count)]
        self.info = TaskInfo(
            vocab_size=VOCAB_SIZE,
            seq_len=canvas * canvas,
            num_puzzle_ids=1 + count * (num_aug + 1),
            grid=(canvas, canvas),
        )

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
        return ["<blank>"] + [
            f"{label}|{view.name}" for label, views in zip(self.puzzle_labels, self.views) for view in views
        ]

    def test_rows(self) -> dict[str, np.ndarray]:
        """For each row of the test split, in order: ``puzzle`` index, ``view`` index, ``test_index``."""
        rows = [
            (p, v, j)
            for p in range(len(self.puzzle_labels))
            for v in range(self.test_views)
            for j in range(self._num_tests(p))
        ]
        table = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        return {"puzzle": table[:, 0], "view": table[:, 1], "test_index": table[:, 2]}

    # ------------------------------------------------------------------------------------ splits

    def build(self, split: str) -> Split:
        if split not in ("train", "test"):
            raise ValueError(f"{self.name}: unknown split {split!r} (expected 'train' or 'test')")
        return cached_split(self.name, self.cache_key(), split, lambda: self._build(split), version=CACHE_VERSION)

    def cache_key(self) -> Any:
        """What identifies this task's data in the cache (the config; plus file contents where read)."""
        return self.config

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
        return Split.from_arrays(
            {"inputs": inputs, "labels": labels, "puzzle_ids": ids, "difficulty": difficulty, "bucket": bucket}
        )

    def _random_offset(self, rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> tuple[int, int]:
        room_r = self.canvas - max(x.shape[0], y.shape[0])
        room_c = self.canvas - max(x.shape[1], y.shape[1])
        return int(rng.integers(room_r + 1)), int(rng.integers(room_c + 1))

    # ----------------------------------------------------------------------- the Task protocol

    def augment(
        self, inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
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

    def canonical_forms(self, split: Split) -> list[bytes]:
        """Each row's (input, output) pair up to HRM's augmentations (`grid.canonical_pair`) and
        translation (the grids are cut from their canvas), for `looped_hrm.overlap`: the augmented
        views of one test input share a key, and a test pair matches a training row when that row
        shows the same input with the same answer, in whichever puzzle version."""
        labels = np.where(split.labels.numpy() == IGNORE_INDEX, PAD, split.labels.numpy())
        return [
            canonical_pair(decode(x, self.canvas), decode(y, self.canvas)) for x, y in zip(split.inputs.numpy(), labels)
        ]

    def verify(self, prediction: np.ndarray, inputs: np.ndarray, labels: np.ndarray | None = None) -> bool:
        """Exact match with the label on every scored cell: ARC has no rule checker."""
        if labels is None:
            raise ValueError(
                f"{self.name}: verify needs the labels (ARC answers can only be checked against them; "
                "label_free_verify is False)"
            )
        prediction, labels = np.asarray(prediction), np.asarray(labels)
        scored = labels != IGNORE_INDEX
        return bool((prediction[scored] == labels[scored]).all())

    def render(self, tokens: np.ndarray) -> str:
        return render(tokens, self.canvas)

    def parse(self, text: str) -> np.ndarray:
        """A test input typed by a user: one line of colour digits 0-9 per row (equal lengths)."""
        rows = [r.strip().replace(" ", "") for r in text.strip().splitlines() if r.strip()]
        if not rows or len({len(r) for r in rows}) != 1 or not all(r.isdigit() for r in rows):
            raise ValueError("an ARC grid is lines of colour digits 0-9, all of the same length")
        grid = np.array([[int(c) for c in r] for r in rows], dtype=np.int64)
        if max(grid.shape) > self.canvas:
            raise ValueError(
                f"grid {grid.shape[0]}×{grid.shape[1]} does not fit the {self.canvas}×{self.canvas} canvas"
            )
        return encode(grid, self.canvas)

    def picture(self, tokens: np.ndarray, inputs: np.ndarray) -> GridPicture:
        """The ARC palette; EOS cells light grey; cropped (by the drawing) to the cells in use."""
        board = np.asarray(tokens).reshape(self.canvas, self.canvas)
        colours = np.ones((self.canvas, self.canvas, 3))
        colour = (board >= COLOUR_OFFSET) & (board < VOCAB_SIZE)
        colours[colour] = ARC_PALETTE[board[colour] - COLOUR_OFFSET]
        colours[board == EOS] = 0.85
        used = (board != PAD) & (board != IGNORE_INDEX)
        return GridPicture(colours=colours, used=used)

    # -------------------------------------------------------------------------------- voting

    def extra_metrics(self, predictions: np.ndarray, split: Split) -> dict[str, float]:
        """pass@1/pass@2 for the engine's tables, voting over the test views (with one view per test
        input pass@2 = pass@1: one candidate), by HRM's rule (``hrm_pass@k``: every test input of a puzzle)
        and by the ARC Prize's (``prize_pass@k``: each test output), `voting`. Empty when ``split`` is
        not the whole test split (an evaluation ``limit`` cuts puzzles apart)."""
        if len(predictions) != self.test_rows()["puzzle"].size:
            return {}
        return self.vote(predictions).metrics()

    def vote(self, predictions: np.ndarray, scores: np.ndarray | None = None) -> VoteResult:
        """pass@1/pass@2 by both rules (`voting`) from predictions for the rows of ``build("test")`` (in order),
        voting over the ``test_views`` views of each test input; ``scores`` (optional, one per row,
        e.g. sigmoid(q_halt)) break ties between grids with equal votes."""
        rows = self.test_rows()
        if len(predictions) != rows["puzzle"].size:
            raise ValueError(f"{self.name}: {len(predictions)} predictions for {rows['puzzle'].size} test rows")
        answers = {}
        for p in np.unique(rows["puzzle"]):
            for j, (_, y) in enumerate(self._pairs(int(p))[1]):
                answers[(self.puzzle_labels[p], j)] = y
        return vote(
            predictions,
            [self.puzzle_labels[p] for p in rows["puzzle"]],
            rows["test_index"],
            [self.views[p][v] for p, v in zip(rows["puzzle"], rows["view"])],
            answers,
            self.canvas,
            scores,
        )
