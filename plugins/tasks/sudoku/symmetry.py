"""Validity-preserving Sudoku transforms (HRM's augmentation) and an invariant to de-duplicate
puzzles up to those transforms.

The group: relabel the digits; permute the bands (groups of box-high rows) and the rows inside each
band; permute the stacks (groups of box-wide columns) and the columns inside each stack; and, when
the boxes are square (4×4, 9×9), transpose. For 6×6 the boxes are 2 rows × 3 columns and transposing
would turn them into 3×2 boxes: a different puzzle family, not a symmetry. No composition of row and
column permutations can undo that (a box keeps spanning 2 rows under any of them), so 6×6 simply has
no transpose.

De-duplication ("is this test puzzle a disguised training puzzle?") uses `invariant`: a value that
every transform above leaves unchanged. Equivalent puzzles therefore always share it, so dropping
every puzzle whose invariant was already seen can never let an equivalent puzzle through; it may, in
principle, also drop an inequivalent puzzle that happens to collide, which only costs a puzzle,
never correctness (measured collisions: docs/tasks/sudoku.md). The invariant combines

* the sorted counts of each digit among the givens;
* the box-count matrix (givens per box, bands × stacks) in a canonical form: the smallest over all
  band and stack permutations (and transposition when allowed);
* for every given, a signature built from quantities the group preserves: givens in its box, and for
  its row and its column (an unordered pair when transposition is allowed) the givens in that line,
  in that line's part of its box, in its band (stack) and with the same digit in its band (stack);
  signatures are grouped by digit and the groups sorted, so relabelling digits changes nothing;
* for every two digits, in how many boxes, rows and columns both are given (rows and columns again
  an unordered pair), as a sorted list.

Grids here are digit arrays (0 blank, 1..n digits) or HRM tokens (digit + 1); `apply` works on either
through a value map.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import permutations

import numpy as np

from looped_hrm.plugins.tasks.sudoku.solver import BOX_SHAPES


def has_transpose(n: int) -> bool:
    """Transposition is a symmetry only for square boxes."""
    br, bc = BOX_SHAPES[n]
    return br == bc


def _grouped_permutations(rng: np.random.Generator, count: int, n: int, group: int) -> np.ndarray:
    """``[count, n]`` permutations of 0..n-1 that move whole groups of ``group`` consecutive indices
    and shuffle the indices inside each group (band/row or stack/column permutations)."""
    k = n // group
    outer = np.argsort(rng.random((count, k)), axis=1)  # which old group goes to each new group slot
    inner = np.argsort(rng.random((count, k, group)), axis=2)
    return (outer[:, :, None] * group + inner).reshape(count, n)


def random_transforms(rng: np.random.Generator, count: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random group elements as ``(positions [count, n*n], digits [count, n+1])``.

    Output cell ``j`` of copy ``k`` takes input cell ``positions[k, j]``; digit ``d`` becomes
    ``digits[k, d]`` (``digits[k, 0] == 0`` keeps blanks blank).
    """
    br, bc = BOX_SHAPES[n]
    rows = _grouped_permutations(rng, count, n, br)
    cols = _grouped_permutations(rng, count, n, bc)
    positions = rows[:, :, None] * n + cols[:, None, :]  # [count, n, n]: out (r, c) <- in (rows[r], cols[c])
    if has_transpose(n):
        flip = rng.random(count) < 0.5
        positions[flip] = positions[flip].transpose(0, 2, 1)
    digits = np.zeros((count, n + 1), dtype=np.int64)
    digits[:, 1:] = 1 + np.argsort(rng.random((count, n)), axis=1)
    return positions.reshape(count, n * n), digits


def apply(grids: np.ndarray, positions: np.ndarray, digits: np.ndarray, offset: int = 0) -> np.ndarray:
    """Transform ``grids`` (``[count, n*n]``, or one ``[n*n]`` grid for every transform).

    ``offset`` is what digit 0 (blank) is stored as: 0 for digit grids, 1 for HRM tokens (where digit
    ``d`` is token ``d + 1``); values below it (PAD) are left unchanged.
    """
    grids = np.asarray(grids)
    if grids.ndim == 1:
        grids = np.broadcast_to(grids, positions.shape)
    moved = np.take_along_axis(grids, positions, axis=1).astype(np.int64)
    value_map = np.concatenate([np.broadcast_to(np.arange(offset), (len(digits), offset)), digits + offset], axis=1)
    return np.take_along_axis(value_map, moved, axis=1)


# ------------------------------------------------------------------------------------- invariant


@lru_cache(maxsize=None)
def _matrix_symmetries(rows: int, cols: int, transpose: bool) -> np.ndarray:
    """``[k, rows*cols]`` flat index maps: every row permutation × column permutation (× transposition)."""
    grid = np.arange(rows * cols).reshape(rows, cols)
    variants = [grid, grid.T] if transpose else [grid]
    return np.array(
        [
            v[np.ix_(rp, cp)].ravel()
            for v in variants
            for rp in permutations(range(v.shape[0]))
            for cp in permutations(range(v.shape[1]))
        ]
    )


def _canonical_matrix(m: np.ndarray, transpose: bool) -> tuple[int, ...]:
    """The smallest row-major reading of ``m`` over row permutations, column permutations and (if
    allowed) transposition."""
    variants = m.ravel()[_matrix_symmetries(*m.shape, transpose)]
    return tuple(variants[np.lexsort(variants.T[::-1])[0]].tolist())


def invariant(puzzle: np.ndarray, n: int) -> tuple:
    """A value shared by all puzzles equivalent to ``puzzle`` (digits, ``[n*n]``) under the group."""
    br, bc = BOX_SHAPES[n]
    grid = np.asarray(puzzle).reshape(n, n)
    given = grid > 0
    row_count = given.sum(axis=1)
    col_count = given.sum(axis=0)
    boxes = given.reshape(n // br, br, n // bc, bc).sum(axis=(1, 3))  # [bands, stacks]
    band_count = boxes.sum(axis=1)
    stack_count = boxes.sum(axis=0)
    mini_rows = given.reshape(n, n // bc, bc).sum(axis=2)  # [row, stack]: givens where a row crosses a box
    mini_cols = given.reshape(n // br, br, n).sum(axis=1)  # [band, col]
    # presence of each digit in each row / column / box, and per digit the band / stack counts
    onehot = (grid[:, :, None] == np.arange(1, n + 1)) & given[:, :, None]  # [n, n, digit]
    in_row = onehot.any(axis=1).astype(np.int64)  # [row, digit]
    in_col = onehot.any(axis=0).astype(np.int64)
    in_box = onehot.reshape(n // br, br, n // bc, bc, n).any(axis=(1, 3)).reshape(n, n).astype(np.int64)
    band_digit = onehot.reshape(n // br, br, n, n).sum(axis=(1, 2))  # [bands, digit]
    stack_digit = onehot.reshape(n, n // bc, bc, n).sum(axis=(0, 2))  # [stacks, digit]
    transpose = has_transpose(n)

    def pair(a: tuple, b: tuple) -> tuple:
        return tuple(sorted((a, b))) if transpose else (a, b)

    groups: dict[int, list[tuple]] = {}
    grid_l, boxes_l, band_digit_l, stack_digit_l = (
        grid.tolist(),
        boxes.tolist(),
        band_digit.tolist(),
        stack_digit.tolist(),
    )
    row_l, col_l, band_l, stack_l = row_count.tolist(), col_count.tolist(), band_count.tolist(), stack_count.tolist()
    mini_rows_l, mini_cols_l = mini_rows.tolist(), mini_cols.tolist()
    for r, c in zip(*np.nonzero(given)):
        r, c = int(r), int(c)
        d = grid_l[r][c]
        b, s = r // br, c // bc
        line_r = (row_l[r], mini_rows_l[r][s], band_l[b], band_digit_l[b][d - 1])
        line_c = (col_l[c], mini_cols_l[b][c], stack_l[s], stack_digit_l[s][d - 1])
        groups.setdefault(d, []).append((boxes_l[b][s], pair(line_r, line_c)))
    per_digit = tuple(sorted(tuple(sorted(sig)) for sig in groups.values()))
    digit_counts = tuple(sorted(len(sig) for sig in groups.values()))
    # for every two digits: in how many rows, columns and boxes both are given
    rows_both, cols_both, boxes_both = in_row.T @ in_row, in_col.T @ in_col, in_box.T @ in_box
    upper = np.triu_indices(n, 1)
    pairs = tuple(
        sorted(
            (x, pair(y, z))
            for x, y, z in zip(boxes_both[upper].tolist(), rows_both[upper].tolist(), cols_both[upper].tolist())
        )
    )
    return digit_counts, _canonical_matrix(boxes, transpose), per_digit, pairs
