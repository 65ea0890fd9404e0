"""A small, deterministic Sudoku solver for 4×4, 6×6 and 9×9 grids.

Grids are flat sequences of ``n*n`` ints in row-major order, ``0`` for a blank and ``1..n`` for a
digit. Candidates are bitmasks (bit ``d-1`` for digit ``d``). Every search node first propagates
**naked singles** (a cell with one candidate) and **hidden singles** (a digit with one place in a
row, column or box) to a fixed point, then branches on the first cell in row-major order with the
fewest candidates (MRV), trying digits in increasing order.

Why this exact search: it is the difficulty measure of the whole Sudoku task. ``backtracks`` is the
number of dead ends of the *complete* search (it does not stop at the first solution), which makes
it independent of the order in which digits are tried and equal to the ``backtracks`` column of the
reference CSVs shipped with the tasks (``plugins/tasks/data/README.md``). 0 means singles alone solve the puzzle.

Pure Python on purpose (no compiled dependency); the generator runs it in a process pool when
many 9×9 puzzles are needed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

BOX_SHAPES = {4: (2, 2), 6: (2, 3), 9: (3, 3)}
"""Supported sizes and their boxes as (rows, columns): 6×6 uses boxes 2 rows high and 3 wide."""


@dataclass(frozen=True)
class Geometry:
    """The constraint structure of an ``n×n`` Sudoku: its units (rows, columns, boxes) and peers."""

    n: int
    box_rows: int
    box_cols: int
    units: tuple[tuple[int, ...], ...]  # rows, then columns, then boxes (each n cells)
    peers: tuple[tuple[int, ...], ...]  # per cell: the other cells sharing a unit with it

    @property
    def cells(self) -> int:
        return self.n * self.n

    @property
    def full(self) -> int:
        return (1 << self.n) - 1

    def unit_array(self) -> np.ndarray:
        """``[3n, n]`` cell indices of every unit, for vectorised checks."""
        return np.array(self.units, dtype=np.int64)


@lru_cache(maxsize=None)
def geometry(n: int) -> Geometry:
    if n not in BOX_SHAPES:
        raise ValueError(f"unsupported Sudoku size {n} (supported: {', '.join(map(str, BOX_SHAPES))})")
    br, bc = BOX_SHAPES[n]
    rows = [tuple(r * n + c for c in range(n)) for r in range(n)]
    cols = [tuple(r * n + c for r in range(n)) for c in range(n)]
    boxes = [
        tuple((r0 + r) * n + c0 + c for r in range(br) for c in range(bc))
        for r0 in range(0, n, br)
        for c0 in range(0, n, bc)
    ]
    units = tuple(rows + cols + boxes)
    peers = tuple(tuple(sorted({p for u in units if cell in u for p in u} - {cell})) for cell in range(n * n))
    return Geometry(n, br, bc, units, peers)


def size_of(grid: Sequence[int]) -> int:
    """The side ``n`` of a flat grid of ``n*n`` cells."""
    for n in BOX_SHAPES:
        if len(grid) == n * n:
            return n
    raise ValueError(f"a grid has 16, 36 or 81 cells, got {len(grid)}")


_POPCOUNT = [bin(m).count("1") for m in range(1 << 9)]


# ------------------------------------------------------------------------------------ propagation


def _candidates(grid: Sequence[int], geo: Geometry) -> list[int] | None:
    """Initial candidate masks (givens fixed, nothing eliminated yet); None if a given is out of range."""
    full = geo.full
    cand = []
    for v in grid:
        if v == 0:
            cand.append(full)
        elif 1 <= v <= geo.n:
            cand.append(1 << (v - 1))
        else:
            return None
    return cand


def _propagate(cand: list[int], queue: list[int], geo: Geometry) -> bool:
    """Apply naked and hidden singles to a fixed point, in place. ``queue`` holds the fixed cells whose
    digit still has to be removed from their peers. False when a cell or a unit runs out of options."""
    peers, units, full = geo.peers, geo.units, geo.full
    while True:
        while queue:
            cell = queue.pop()
            bit = cand[cell]
            for p in peers[cell]:
                m = cand[p]
                if m & bit:
                    m ^= bit
                    if not m:
                        return False
                    cand[p] = m
                    if not m & (m - 1):
                        queue.append(p)
        for unit in units:
            once = twice = fixed = 0
            for c in unit:
                m = cand[c]
                twice |= once & m
                once |= m
                if not m & (m - 1):
                    fixed |= m
            if once != full:
                return False  # some digit has no place left in this unit
            hidden = once & ~twice & ~fixed
            while hidden:
                bit = hidden & -hidden
                hidden ^= bit
                for c in unit:
                    if cand[c] & bit:  # a cell claimed by two hidden digits fails on the next pass
                        cand[c] = bit
                        queue.append(c)
                        break
        if not queue:
            return True


def _start(grid: Sequence[int], geo: Geometry) -> tuple[list[int], list[int]]:
    """Candidates and the propagation queue (every given) for a fresh search."""
    cand = _candidates(grid, geo)
    if cand is None:
        raise ValueError(f"grid values must be 0 (blank) or 1..{geo.n}")
    return cand, [i for i, v in enumerate(grid) if v]


def _mrv_cell(cand: list[int]) -> int:
    """First unsolved cell (row-major) with the fewest candidates; -1 when every cell is solved."""
    best, best_count = -1, 99
    for i, m in enumerate(cand):
        if m & (m - 1):
            k = _POPCOUNT[m]
            if k < best_count:
                best, best_count = i, k
                if k == 2:
                    break
    return best


# ------------------------------------------------------------------------------------------ search


@dataclass
class SearchResult:
    """What one search found: ``solutions`` (capped at the limit), the first solution, and the dead
    ends met on the way (the whole tree's dead ends when the search was complete)."""

    solutions: int
    solution: list[int] | None
    dead_ends: int
    nodes: int


def search(grid: Sequence[int], limit: int | None = None, rng: random.Random | None = None) -> SearchResult:
    """Depth-first search with singles propagation and MRV branching.

    Stops after ``limit`` solutions (None: explore the whole tree). With ``rng`` the digits of each
    branching cell are tried in random order (used to draw random complete grids). ``limit=2`` on a
    puzzle with one solution explores the whole tree: its dead ends are the puzzle's backtracks.
    """
    geo = geometry(size_of(grid))
    cand, queue = _start(grid, geo)
    result = SearchResult(0, None, 0, 0)
    _dfs(cand, queue, geo, result, limit, rng)
    return result


def _dfs(
    cand: list[int], queue: list[int], geo: Geometry, out: SearchResult, limit: int | None, rng: random.Random | None
) -> None:
    out.nodes += 1
    if not _propagate(cand, queue, geo):
        out.dead_ends += 1
        return
    cell = _mrv_cell(cand)
    if cell < 0:
        out.solutions += 1
        if out.solution is None:
            out.solution = [m.bit_length() for m in cand]
        return
    m = cand[cell]
    bits = []
    while m:
        bit = m & -m
        bits.append(bit)
        m ^= bit
    if rng is not None:
        rng.shuffle(bits)
    for bit in bits:
        child = cand[:]
        child[cell] = bit
        _dfs(child, [cell], geo, out, limit, rng)
        if limit is not None and out.solutions >= limit:
            return


def solve(grid: Sequence[int]) -> list[int] | None:
    """The first solution in search order (the only one for a proper puzzle), or None."""
    return search(grid, limit=1).solution


def count_solutions(grid: Sequence[int], limit: int = 2) -> int:
    """Number of solutions, counted up to ``limit`` (``limit=2`` answers "is it unique?")."""
    return search(grid, limit=limit).solutions


def is_unique(grid: Sequence[int]) -> bool:
    return count_solutions(grid, 2) == 1


def backtracks(grid: Sequence[int]) -> int:
    """Measured difficulty of a proper puzzle: dead ends of the complete MRV search with singles
    propagation. (A search stopped at a second solution has explored the whole tree of a puzzle that
    has only one, so ``limit=2`` is complete here and stays bounded for improper input.)"""
    result = search(grid, limit=2)
    if result.solutions != 1:
        raise ValueError(
            f"backtracks is defined for puzzles with one solution, this one has "
            f"{'none' if result.solutions == 0 else 'several'}"
        )
    return result.dead_ends


def singles_rounds(grid: Sequence[int]) -> int:
    """Depth of a puzzle's deduction chain: rounds of *simultaneous* singles until it is solved.

    Each round fills, at once, every blank that is a naked single (one digit left after removing
    its peers' digits) or a hidden single (the only place for a digit in a row, column or box),
    judged from the digits placed before the round. The count is the number of parallel steps a
    solver that only uses singles needs — the dependency depth that a fixed number of reasoning
    steps must cover, and a difficulty that still varies where (almost) no puzzle needs a search
    (6×6). 0 for a full grid; -1 when singles alone get stuck (the puzzle needs search)."""
    geo = geometry(size_of(grid))
    values = [int(v) for v in grid]
    rounds = 0
    while 0 in values:
        placed = [0 if v == 0 else 1 << (v - 1) for v in values]
        cand = [0] * len(values)
        for cell, v in enumerate(values):
            if v == 0:
                used = 0
                for p in geo.peers[cell]:
                    used |= placed[p]
                cand[cell] = geo.full & ~used
        fill: dict[int, int] = {}
        for cell, m in enumerate(cand):
            if values[cell] == 0 and m and not m & (m - 1):
                fill[cell] = m
        for unit in geo.units:
            for bit in (1 << d for d in range(geo.n)):
                if any(placed[c] == bit for c in unit):
                    continue
                spots = [c for c in unit if cand[c] & bit]
                if len(spots) == 1:
                    fill.setdefault(spots[0], bit)
        if not fill:
            return -1
        for cell, bit in fill.items():
            values[cell] = bit.bit_length()
        rounds += 1
    return rounds


def random_solution(n: int, rng: random.Random) -> list[int]:
    """A random complete ``n×n`` grid (randomised search on an empty grid)."""
    result = search([0] * (n * n), limit=1, rng=rng)
    assert result.solution is not None  # an empty grid always has solutions
    return result.solution


# ------------------------------------------------------------------------------ vectorised checks


def valid_grids(grids: np.ndarray, n: int) -> np.ndarray:
    """``bool[N]``: each row of ``grids`` (``[N, n*n]`` digits) is a complete valid solution."""
    grids = np.asarray(grids)
    if grids.ndim != 2 or grids.shape[1] != n * n:
        raise ValueError(f"expected grids of shape [N, {n * n}], got {grids.shape}")
    in_range = ((grids >= 1) & (grids <= n)).all(axis=1)
    bits = np.left_shift(1, np.clip(grids, 0, n).astype(np.int64))  # digit d -> bit d; blank -> bit 0
    per_unit = np.bitwise_or.reduce(bits[:, geometry(n).unit_array()], axis=2)  # [N, 3n]
    full = ((1 << (n + 1)) - 1) ^ 1  # bits 1..n
    return in_range & (per_unit == full).all(axis=1)


def consistent(puzzles: np.ndarray, solutions: np.ndarray) -> np.ndarray:
    """``bool[N]``: every given (non-zero) digit of each puzzle equals the solution's digit there."""
    puzzles, solutions = np.asarray(puzzles), np.asarray(solutions)
    return ((puzzles == 0) | (puzzles == solutions)).all(axis=1)


def removable(puzzle: Sequence[int], cell: int) -> bool:
    """Does ``puzzle`` (proper: one solution) keep a unique solution without its given at ``cell``?

    True iff no solution puts another digit there, which one existence search answers: cheaper than
    counting two solutions of the reduced puzzle.
    """
    geo = geometry(size_of(puzzle))
    value = puzzle[cell]
    if not value:
        raise ValueError(f"cell {cell} is blank")
    reduced = list(puzzle)
    reduced[cell] = 0
    cand, queue = _start(reduced, geo)
    cand[cell] = geo.full & ~(1 << (value - 1))
    if not cand[cell] & (cand[cell] - 1):
        queue.append(cell)
    result = SearchResult(0, None, 0, 0)
    _dfs(cand, queue, geo, result, 1, None)
    return result.solutions == 0
