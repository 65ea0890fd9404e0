"""Reader for HRM's Maze-Hard CSV (``sapientinc/maze-30x30-hard-1k``: ``train.csv`` / ``test.csv``).

Header ``source,question,answer,rating``; ``question`` is the N×N character grid row-major in the
charset ``# SGo`` (wall, open, start, goal) and ``answer`` the same grid with the shortest path
painted ``o``. These are exactly our maze tokens (`grid.CHARSET`, ids 1-5), so a row is read as it
is; the path length in moves is the number of ``o`` cells plus one. Every problem is reported as
``file:line: what``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from looped_hrm.plugins.tasks.maze.grid import CHARSET, GOAL, OPEN, PAD, PATH, START
from looped_hrm.plugins.tasks.maze.jsonl import MazeFile, MazeFileError

HEADER = ("source", "question", "answer", "rating")
_TOKENS = np.full(256, PAD, dtype=np.int64)  # byte -> token: '#' 1, ' ' 2, 'S' 3, 'G' 4, 'o' 5
_TOKENS[np.frombuffer(CHARSET.encode(), dtype=np.uint8)] = np.arange(1, len(CHARSET) + 1)


def is_hrm_csv(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".csv"


def load_maze_csv(path: str | Path, size: int | None = None, limit: int | None = None) -> MazeFile:
    """Read an HRM maze CSV; every grid must be ``size``×``size`` (default: the first row's side)."""
    path = Path(path)
    try:
        handle = open(path, newline="")
    except OSError as exc:
        raise MazeFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    inputs: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    lengths: list[int] = []
    ids: list[str] = []
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header[:2]) != HEADER[:2] or "answer" not in header:
            raise MazeFileError(f"{path}:1: expected HRM's maze header {','.join(HEADER)}, got {header}")
        q_col, a_col = header.index("question"), header.index("answer")
        for lineno, row in enumerate(reader, start=2):
            if limit is not None and len(inputs) >= limit:
                break
            if not row:
                continue
            where = f"{path}:{lineno}"
            if len(row) <= max(q_col, a_col):
                missing = " and ".join(
                    name for col, name in ((q_col, "question"), (a_col, "answer")) if col >= len(row)
                )
                raise MazeFileError(f"{where}: {len(row)} column(s), no {missing} (header: {','.join(header)})")
            question, answer = row[q_col], row[a_col]
            side = size or math.isqrt(len(question))
            if len(question) != side * side or len(answer) != side * side:
                raise MazeFileError(
                    f"{where}: question/answer have {len(question)}/{len(answer)} characters, "
                    f"a {side}×{side} maze needs {side * side} (set the task's size)"
                )
            bad = sorted(set(question + answer) - set(CHARSET))
            if bad:
                raise MazeFileError(f"{where}: unknown character(s) {bad} (expected {CHARSET!r})")
            x = _TOKENS[np.frombuffer(question.encode(), dtype=np.uint8)]
            y = _TOKENS[np.frombuffer(answer.encode(), dtype=np.uint8)]
            if (x == PATH).any() or (x == START).sum() != 1 or (x == GOAL).sum() != 1:
                raise MazeFileError(f"{where}: the question must hold one 'S', one 'G' and no 'o'")
            if ((y != x) & ~((x == OPEN) & (y == PATH))).any():
                raise MazeFileError(f"{where}: the answer may only paint open cells of the question with 'o'")
            inputs.append(x.reshape(side, side))
            labels.append(y.reshape(side, side))
            lengths.append(int((y == PATH).sum()) + 1)
            ids.append(f"{path.name}:{lineno}")
    if not inputs:
        raise MazeFileError(f"{path}: no mazes in the file")
    return MazeFile(
        ids=ids, inputs=np.stack(inputs), labels=np.stack(labels), path_length=np.asarray(lengths, dtype=np.int64)
    )
