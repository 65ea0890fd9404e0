"""Reader for maze-dataset JSON lines (the reference mazes in ``plugins/tasks/data/maze/``).

One JSON object per line with ``id``, ``grid_n`` (cells per side), ``start`` / ``end`` (``[row,
col]`` in cells), ``solution`` (cells from start to end), ``path_len`` (cells in the solution) and
``ascii`` (rows of ``#`` wall, space, ``S``, ``E``). A g×g-cell maze is a (2g+1)×(2g+1) character
grid; cell (r, c) is character (2r+1, 2c+1), and the character between two adjacent cells is the
opening joining them. The stored solution becomes our label (``o`` on every character strictly
between S and G), so a g-cell solution of ``path_len`` cells is ``2 (path_len - 1)`` moves.

Every problem is reported as ``file:line: what`` — a broken reference file must never turn into a
silently wrong benchmark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from looped_hrm.plugins.tasks.maze.grid import GOAL, OPEN, PAD, PATH, START, WALL

_ASCII_TOKENS = {"#": WALL, " ": OPEN, "S": START, "E": GOAL}
_FIELDS = ("id", "grid_n", "start", "end", "solution", "path_len", "ascii")


class MazeFileError(ValueError):
    """A malformed maze file; the message starts with ``file:line:``."""


@dataclass
class MazeFile:
    """The mazes of one file on a ``size``×``size`` canvas (smaller grids padded with PAD, bottom-right)."""

    ids: list[str]
    inputs: np.ndarray  # int64 [n, size, size]
    labels: np.ndarray  # int64 [n, size, size]: the stored solution painted
    path_length: np.ndarray  # int64 [n]: moves on the stored solution


def load_maze_jsonl(path: str | Path, size: int | None = None, limit: int | None = None) -> MazeFile:
    """Read a maze-dataset JSONL file; ``size`` defaults to the largest grid in the file.

    ``limit`` stops after that many mazes (the rest of the file is not read).
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise MazeFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    grids: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    lengths: list[int] = []
    ids: list[str] = []
    for lineno, line in enumerate(lines, start=1):
        if limit is not None and len(grids) >= limit:
            break
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        grid, label, length, maze_id = _parse(line, where)
        grids.append(grid)
        labels.append(label)
        lengths.append(length)
        ids.append(maze_id)
    if not grids:
        raise MazeFileError(f"{path}: no mazes in the file")
    side = size if size is not None else max(g.shape[0] for g in grids)
    inputs = np.full((len(grids), side, side), PAD, dtype=np.int64)
    painted = np.full((len(grids), side, side), PAD, dtype=np.int64)
    for i, (grid, label) in enumerate(zip(grids, labels)):
        n = grid.shape[0]
        if n > side:
            raise MazeFileError(
                f"{path}: maze '{ids[i]}' is {n}×{n} characters, larger than the "
                f"task's {side}×{side} grid (raise the task's size)"
            )
        inputs[i, :n, :n] = grid
        painted[i, :n, :n] = label
    return MazeFile(ids=ids, inputs=inputs, labels=painted, path_length=np.asarray(lengths, dtype=np.int64))


def _parse(line: str, where: str) -> tuple[np.ndarray, np.ndarray, int, str]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise MazeFileError(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
    if not isinstance(row, dict):
        raise MazeFileError(f"{where}: expected a JSON object, got {type(row).__name__}")
    missing = [f for f in _FIELDS if f not in row]
    if missing:
        raise MazeFileError(f"{where}: missing field(s) {', '.join(missing)}")
    g = row["grid_n"]
    if not isinstance(g, int) or g < 1:
        raise MazeFileError(f"{where}: grid_n must be a positive integer, got {g!r}")
    n = 2 * g + 1
    text = row["ascii"]
    if not isinstance(text, list) or len(text) != n or any(not isinstance(r, str) or len(r) != n for r in text):
        raise MazeFileError(f"{where}: ascii must be {n} rows of {n} characters for grid_n {g}")
    bad = sorted({ch for r in text for ch in r} - set(_ASCII_TOKENS))
    if bad:
        raise MazeFileError(f"{where}: ascii has unknown character(s) {bad} (expected '#', ' ', 'S', 'E')")
    grid = np.array([[_ASCII_TOKENS[ch] for ch in r] for r in text], dtype=np.int64)

    cells = row["solution"]
    if (
        not isinstance(cells, list)
        or not cells
        or any(
            not (isinstance(c, list) and len(c) == 2 and all(isinstance(v, int) and 0 <= v < g for v in c))
            for c in cells
        )
    ):
        raise MazeFileError(f"{where}: solution must be a non-empty list of [row, col] cells inside a {g}×{g} grid")
    if cells[0] != row["start"] or cells[-1] != row["end"]:
        raise MazeFileError(
            f"{where}: solution runs {cells[0]} -> {cells[-1]}, not start {row['start']} -> end {row['end']}"
        )
    if row["path_len"] != len(cells):
        raise MazeFileError(f"{where}: path_len {row['path_len']!r} != {len(cells)} cells in the solution")
    for name, token in (("start", START), ("end", GOAL)):
        r, c = row[name]
        if np.count_nonzero(grid == token) != 1 or grid[2 * r + 1, 2 * c + 1] != token:
            char = "S" if token == START else "E"
            raise MazeFileError(f"{where}: ascii must hold one '{char}', at the {name} cell {row[name]}")

    label = grid.copy()
    for (r0, c0), (r1, c1) in zip(cells, cells[1:]):
        if abs(r0 - r1) + abs(c0 - c1) != 1:
            raise MazeFileError(f"{where}: solution jumps from {[r0, c0]} to {[r1, c1]} (not adjacent cells)")
        for y, x in ((r0 + r1 + 1, c0 + c1 + 1), (2 * r1 + 1, 2 * c1 + 1)):
            if grid[y, x] == WALL:
                raise MazeFileError(f"{where}: solution crosses a wall at character ({y}, {x})")
            if grid[y, x] == OPEN:
                label[y, x] = PATH
    return grid, label, 2 * (len(cells) - 1), str(row["id"])
