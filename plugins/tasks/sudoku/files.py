"""Reading Sudoku puzzles from files, with errors that name the file and the line.

Three formats, told apart by the first non-blank line:

* the reference CSV shipped with the tasks (``plugins/tasks/data/sudoku/*.csv``): header
  ``puzzle,solution,clues,backtracks`` (``clues`` and ``backtracks`` optional), ``.`` for a blank;
* HRM's Sudoku-Extreme CSV (``sapientinc/sudoku-extreme``): header ``source,question,answer,rating``;
  its ``rating`` counts tdoku backtracks, a different scale, so difficulty is re-measured here;
* plain lines: one puzzle per line (``.`` or ``0`` for a blank), optionally followed by its solution
  after a comma or whitespace; ``#`` starts a comment line.

Every solution is checked to be a complete valid grid consistent with its givens. Where a file gives
no solution or no ``backtracks`` column, the solver computes them (and rejects a puzzle without
exactly one solution); this takes ~10 ms per hard 9×9 puzzle and runs in a process pool.
"""

from __future__ import annotations

import csv
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from looped_hrm.plugins.tasks import reference_data
from looped_hrm.plugins.tasks.sudoku import solver
from looped_hrm.plugins.tasks.sudoku.generator import default_workers


class SudokuFileError(ValueError):
    """A puzzle file that cannot be used; the message starts with ``file:line:`` where known."""


@dataclass
class PuzzleFile:
    """Puzzles read from one file: digits (0 blank) row-major, one row per puzzle."""

    path: Path
    puzzles: np.ndarray  # int8 [N, n*n]
    solutions: np.ndarray  # int8 [N, n*n]
    backtracks: np.ndarray  # int64 [N]
    lines: np.ndarray  # int64 [N], the line each puzzle came from

    @property
    def size(self) -> int:
        return solver.size_of(self.puzzles[0]) if len(self.puzzles) else 0


def resolve(name: str, data_dir: str | None = None) -> Path:
    """An existing file: ``name`` as given, else under the user's data folder (``data_dir`` or
    ``$LOOPED_HRM_DATA``), else under the shipped reference data (`reference_data`). A missing file
    is an error listing every place tried."""
    found = reference_data.find(name, data_dir)
    if found is not None:
        return found
    tried = ", ".join(str(path.resolve()) for path in reference_data.candidates(name, data_dir))
    user = reference_data.user_root(data_dir)
    hint = (
        f" (data folder {user} does not exist: set task.data_dir or ${reference_data.DATA_ENV} to the folder "
        "holding sudoku/*.csv)"
        if user is not None and not user.is_dir()
        else ""
    )
    raise SudokuFileError(f"puzzle file {name!r} not found; tried {tried}{hint}")


# ------------------------------------------------------------------------------------------ parsing


_BYTE_VALUE = np.full(256, -1, dtype=np.int8)
_BYTE_VALUE[ord(".")] = 0
_BYTE_VALUE[ord("0")] = 0
for _d in range(1, 10):
    _BYTE_VALUE[ord(str(_d))] = _d


def _grids(texts: list[str], n: int, lines: list[int], path: Path, what: str) -> np.ndarray:
    """Parse grid strings (``.``/``0`` blank) into ``int8 [N, n*n]`` digits, vectorised."""
    cells = n * n
    for text, lineno in zip(texts, lines):
        if len(text) != cells:
            raise SudokuFileError(
                f"{path}:{lineno}: {what} has {len(text)} characters, expected {cells} (the file's grids are {n}×{n})"
            )
    try:
        raw = np.frombuffer("".join(texts).encode("ascii"), dtype=np.uint8).reshape(len(texts), cells)
    except UnicodeEncodeError:
        raw = np.array([[min(ord(ch), 255) for ch in text] for text in texts], dtype=np.uint8)
    values = _BYTE_VALUE[raw]
    bad = (values < 0) | (values > n)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise SudokuFileError(
            f"{path}:{lines[i]}: {what} has {texts[i][j]!r} at position {j + 1} (row "
            f"{j // n + 1}, column {j % n + 1}); expected '.', '0' or a digit 1-{n}"
        )
    return values


def _int(text: str, where: str, column: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SudokuFileError(f"{where}: column {column!r} must be an integer, got {text!r}") from None
    if value < 0:
        raise SudokuFileError(f"{where}: column {column!r} must be >= 0, got {value}")
    return value


@dataclass
class _Rows:
    """The raw fields of a file, one entry per puzzle."""

    format: str
    lines: list[int]
    puzzles: list[str]
    solutions: list[str | None]
    backtracks: list[int | None]
    clues: list[int | None]


def _read_rows(path: Path) -> _Rows:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SudokuFileError(f"{path}: cannot read: {exc}") from exc
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip() and not line.startswith("#")), None)
    if first is None:
        raise SudokuFileError(f"{path}: no puzzles in the file")
    header = [h.strip().lower() for h in next(csv.reader([lines[first]]))]
    if {"puzzle", "solution"} <= set(header) or {"question", "answer"} <= set(header):
        shared = "puzzle" in header
        rows = _Rows("shared CSV" if shared else "HRM CSV", [], [], [], [], [])
        col_p = header.index("puzzle" if shared else "question")
        col_s = header.index("solution" if shared else "answer")
        col_c = header.index("clues") if shared and "clues" in header else None
        col_b = header.index("backtracks") if shared and "backtracks" in header else None
        for lineno, fields in zip(range(first + 2, len(lines) + 1), csv.reader(lines[first + 1 :])):
            if not "".join(fields).strip():
                continue
            where = f"{path}:{lineno}"
            if len(fields) != len(header):
                raise SudokuFileError(
                    f"{where}: {len(fields)} fields, the header has {len(header)} ({','.join(header)})"
                )
            rows.lines.append(lineno)
            rows.puzzles.append(fields[col_p].strip())
            rows.solutions.append(fields[col_s].strip())
            rows.clues.append(_int(fields[col_c], where, "clues") if col_c is not None else None)
            rows.backtracks.append(_int(fields[col_b], where, "backtracks") if col_b is not None else None)
        return rows
    rows = _Rows("plain lines", [], [], [], [], [])
    for lineno, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.replace(",", " ").split()
        if len(parts) > 2:
            raise SudokuFileError(
                f"{path}:{lineno}: expected a puzzle, optionally followed by its solution, got {len(parts)} fields"
            )
        rows.lines.append(lineno)
        rows.puzzles.append(parts[0])
        rows.solutions.append(parts[1] if len(parts) == 2 else None)
        rows.backtracks.append(None)
        rows.clues.append(None)
    return rows


def _search_job(puzzle: tuple[int, ...]) -> tuple[int, tuple[int, ...] | None, int]:
    result = solver.search(puzzle, limit=2)  # complete for a proper puzzle, bounded for the others
    return result.solutions, tuple(result.solution) if result.solution else None, result.dead_ends


def _solve_all(puzzles: list[tuple[int, ...]]) -> list[tuple[int, tuple[int, ...] | None, int]]:
    workers = default_workers()
    if workers > 1 and len(puzzles) > 200:
        with multiprocessing.Pool(workers) as pool:
            return pool.map(_search_job, puzzles, chunksize=64)
    return [_search_job(p) for p in puzzles]


def load(path: str | Path, size: int | None = None) -> PuzzleFile:
    """Read and check every puzzle of ``path`` (any of the three formats).

    ``size`` (4, 6 or 9), when given, must match the file's grids.
    """
    path = Path(path)
    rows = _read_rows(path)
    if not rows.puzzles:
        raise SudokuFileError(f"{path}: no puzzles in the file ({rows.format})")
    first = rows.puzzles[0]
    try:
        n = solver.size_of(first)
    except ValueError:
        raise SudokuFileError(
            f"{path}:{rows.lines[0]}: puzzle has {len(first)} characters, expected 16, 36 "
            f"or 81 (a 4×4, 6×6 or 9×9 grid)"
        ) from None
    if size is not None and n != size:
        raise SudokuFileError(f"{path}:{rows.lines[0]}: puzzle is {n}×{n} but the task is {size}×{size}")
    lines = np.array(rows.lines, dtype=np.int64)
    puzzles = _grids(rows.puzzles, n, rows.lines, path, "puzzle")
    clues = np.array([-1 if c is None else c for c in rows.clues])
    wrong = (clues >= 0) & (clues != (puzzles != 0).sum(axis=1))
    if wrong.any():
        i = int(np.argmax(wrong))
        raise SudokuFileError(
            f"{path}:{lines[i]}: column 'clues' says {clues[i]} but the puzzle has "
            f"{int((puzzles[i] != 0).sum())} givens"
        )
    solutions = np.zeros_like(puzzles)
    known = np.array([s is not None for s in rows.solutions])
    given = [(s, line) for s, line in zip(rows.solutions, rows.lines) if s is not None]
    if given:
        texts, at = [s for s, _ in given], [line for _, line in given]
        solutions[np.flatnonzero(known)] = _grids(texts, n, at, path, "solution")
    backtracks = np.array([-1 if b is None else b for b in rows.backtracks], dtype=np.int64)
    missing = np.flatnonzero(~known | (backtracks < 0))
    if len(missing):
        found = _solve_all([tuple(puzzles[i].tolist()) for i in missing])
        for i, (count, solution, dead_ends) in zip(missing.tolist(), found):
            if count != 1:
                raise SudokuFileError(
                    f"{path}:{lines[i]}: puzzle has "
                    f"{'no solution' if count == 0 else f'{count} solutions'}, "
                    f"expected exactly one"
                )
            if not known[i]:
                solutions[i] = solution
            backtracks[i] = dead_ends
    _check_solutions(path, puzzles, solutions, lines, n)
    return PuzzleFile(path, puzzles, solutions, backtracks, lines)


def _check_solutions(path: Path, puzzles: np.ndarray, solutions: np.ndarray, lines: np.ndarray, n: int) -> None:
    """Vectorised: every solution is a valid grid that keeps its puzzle's givens."""
    valid = solver.valid_grids(solutions, n)
    if not valid.all():
        i = int(np.argmin(valid))
        raise SudokuFileError(
            f"{path}:{lines[i]}: solution is not a valid {n}×{n} grid: {_first_broken_unit(solutions[i], n)}"
        )
    agree = solver.consistent(puzzles, solutions)
    if not agree.all():
        i = int(np.argmin(agree))
        cell = int(np.argmax((puzzles[i] != 0) & (puzzles[i] != solutions[i])))
        raise SudokuFileError(
            f"{path}:{lines[i]}: solution has {solutions[i, cell]} at row {cell // n + 1}, "
            f"column {cell % n + 1} where the puzzle gives {puzzles[i, cell]}"
        )


def _first_broken_unit(grid: np.ndarray, n: int) -> str:
    names = (
        [f"row {i + 1}" for i in range(n)] + [f"column {i + 1}" for i in range(n)] + [f"box {i + 1}" for i in range(n)]
    )
    for name, unit in zip(names, solver.geometry(n).units):
        values = sorted(int(grid[c]) for c in unit)
        if values != list(range(1, n + 1)):
            return f"{name} holds {''.join(map(str, (int(grid[c]) for c in unit)))}"
    return "unknown"
