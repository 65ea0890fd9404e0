"""What a test split shares with its training split, up to the task's own symmetries.

A test puzzle that is a training puzzle in disguise — the same Sudoku relabelled and transposed, the
same maze mirrored, the same bit string — measures memory, not reasoning, and models score higher
on such items. So every test row gets a *canonical form*: a hashable key, equal for two rows that the
task's symmetries map onto each other. A task says what its symmetries are through an optional
method (not part of the `looped_hrm.contracts.Task` runtime check, so a third-party task without it
still works)::

    def canonical_forms(self, split: Split) -> Sequence[Hashable]:
        '''One key per row of ``split``: equal for rows that are the same item up to the task's
        symmetries (its augmentations), different otherwise.'''

Without it two rows are the same item when they have the same puzzle id and the same input tokens
(`exact_forms`): the input is the question, and in the tasks here it fixes the answer up to what the
verifier accepts. A key may be a conservative invariant — one that never separates two equivalent
rows and only rarely merges two inequivalent ones (Sudoku's `symmetry.invariant` on 9×9) — then the
counts below are upper bounds.

`split_overlap` counts test rows whose key is also a training row's, and numbers the distinct items
of the test split (rows with one key are one item: augmented views of one test input, a puzzle and
its mirror image). `looped_hrm.testing.check_disjoint_splits` asserts that nothing is shared, and
every result record stores the counts.
"""

from __future__ import annotations

import zipfile
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from looped_hrm.atomic import atomic_write
from looped_hrm.cache import cache_dir, split_fingerprint
from looped_hrm.config import config_hash
from looped_hrm.contracts import Split, Task

__all__ = ["Overlap", "cached_overlap", "canonical_forms", "exact_forms", "split_overlap"]


def exact_forms(split: Split) -> list[bytes]:
    """The default key of each row: its puzzle id and its input tokens, as bytes."""
    ids = split.puzzle_ids.numpy().astype("<i8")
    inputs = np.ascontiguousarray(split.inputs.numpy().astype("<i8"))
    return [ids[i].tobytes() + inputs[i].tobytes() for i in range(len(split))]


def canonical_forms(task: Task, split: Split) -> list[Hashable]:
    """The key of each row of ``split``: the task's ``canonical_forms`` when it has one, else `exact_forms`."""
    hook = getattr(task, "canonical_forms", None)
    if hook is None:
        return list(exact_forms(split))
    keys = list(hook(split))
    if len(keys) != len(split):
        raise ValueError(
            f"task {getattr(task, 'name', type(task).__name__)!r}: canonical_forms gave {len(keys)} keys "
            f"for {len(split)} rows"
        )
    return keys


@dataclass(frozen=True)
class Overlap:
    """The test split measured against the training split.

    ``item[i]`` numbers the distinct items of the test split (two rows with the same number are one
    item up to the task's symmetries; numbers count from 0 in order of first appearance);
    ``seen[i]`` says that row ``i`` is also an item of the training split.
    """

    item: np.ndarray  # int64 [N_test]
    seen: np.ndarray  # bool [N_test]

    @property
    def test_rows(self) -> int:
        return len(self.item)

    @property
    def distinct(self) -> int:
        """How many distinct items the test split holds."""
        return int(self.item.max()) + 1 if len(self.item) else 0

    @property
    def in_train(self) -> int:
        """How many test rows are training items up to the task's symmetries."""
        return int(self.seen.sum())

    def distinct_in(self, mask: np.ndarray) -> int:
        """How many distinct items the rows selected by ``mask`` hold (e.g. one difficulty bucket)."""
        return len(np.unique(self.item[np.asarray(mask, dtype=bool)]))


def split_overlap(task: Task, train: Split, test: Split) -> Overlap:
    """Which rows of ``test`` are items of ``train`` up to ``task``'s symmetries (see the module doc)."""
    seen_keys = set(canonical_forms(task, train))
    numbers: dict[Hashable, int] = {}
    item = np.empty(len(test), dtype=np.int64)
    seen = np.empty(len(test), dtype=bool)
    for i, key in enumerate(canonical_forms(task, test)):
        item[i] = numbers.setdefault(key, len(numbers))
        seen[i] = key in seen_keys
    return Overlap(item=item, seen=seen)


OVERLAP_VERSION = 2  # 2: parity strings without their padding
"""Bump when a built-in task's canonical forms change meaning, so that cached overlaps are recomputed."""


def cached_overlap(task: Task, train: Split, test: Split) -> Overlap:
    """`split_overlap`, kept in the data cache (`looped_hrm.cache`) under the content fingerprints of both
    splits: a canonical form can be slow (9×9 Sudoku: about a millisecond a row, and the paper preset's
    training split has a million augmented rows), and every run on the same data gets the same answer."""
    key = config_hash(type(task).__qualname__, split_fingerprint(train), split_fingerprint(test), OVERLAP_VERSION)
    path = cache_dir() / "overlap" / f"{getattr(task, 'name', 'task')}-{key}.npz"
    if path.exists():
        try:
            with np.load(path) as arrays:
                return Overlap(item=arrays["item"], seen=arrays["seen"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            path.unlink(missing_ok=True)  # unreadable: measured again below
    overlap = split_overlap(task, train, test)
    atomic_write(path, lambda f: np.savez(f, item=overlap.item, seen=overlap.seen))  # type: ignore[arg-type]
    return overlap
