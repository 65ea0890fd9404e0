"""Random Sudoku puzzles with a unique solution and a chosen difficulty, reproducible per seed.

One *candidate* is drawn per index of a seeded stream: a random complete grid, then its givens
removed in random order whenever the puzzle stays unique (`solver.removable`), down to a
minimal puzzle or to a requested number of givens; finally its difficulty is measured (backtracks of
the complete search). `generate` walks the stream in index order and keeps candidates whose
difficulty bucket is still wanted, so the result depends only on (size, seed, stream, filters), never
on how many worker processes computed the candidates. The cost is spread over a process pool
(``LOOPED_HRM_DATA_WORKERS``, default: every usable core). docs/tasks/sudoku.md says why rejection
rather than a hill climb, and what generating costs (measured).
"""

from __future__ import annotations

import multiprocessing
import os
import random
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable, Sequence

import numpy as np

from looped_hrm.config import ConfigError
from looped_hrm.plugins.tasks.sudoku import solver


class GenerationError(ConfigError):
    """The requested puzzles are too rare to draw (e.g. 9×9 with ≥ 100 backtracks): a config asking for
    them is at fault, so the command says so in one line (a `ConfigError`) instead of a traceback."""


@dataclass(frozen=True)
class Candidate:
    index: int
    puzzle: tuple[int, ...]
    solution: tuple[int, ...]
    backtracks: int
    rounds: int | None = None  # `solver.singles_rounds`, measured when asked for (measure="rounds")

    def difficulty(self, measure: str) -> int:
        return self.backtracks if measure == "backtracks" else rounds_difficulty(self.rounds)


def rounds_difficulty(rounds: int | None) -> int:
    """Singles rounds as a difficulty: a puzzle singles cannot finish (-1) is harder than any count."""
    return STUCK if rounds is None or rounds < 0 else rounds


STUCK = 999  # the rounds difficulty of a puzzle that needs search


def candidate(
    n: int, seed: int, stream: str, index: int, givens: int | None = None, measure: str = "backtracks"
) -> Candidate | None:
    """The ``index``-th candidate of a stream; None when its minimal form keeps more than ``givens``."""
    rng = random.Random(f"sudoku/{n}/{seed}/{stream}/{index}")  # str seeds hash with SHA-512: stable
    solution = solver.random_solution(n, rng)
    puzzle = list(solution)
    order = list(range(n * n))
    rng.shuffle(order)
    left = n * n
    for cell in order:
        if givens is not None and left <= givens:
            break
        if solver.removable(puzzle, cell):
            puzzle[cell] = 0
            left -= 1
    if givens is not None and left > givens:
        return None
    rounds = solver.singles_rounds(puzzle) if measure == "rounds" else None
    return Candidate(index, tuple(puzzle), tuple(solution), solver.backtracks(puzzle), rounds)


def _candidate_job(args: tuple[int, int, str, int, int | None, str]) -> Candidate | None:
    return candidate(*args)


def default_workers() -> int:
    """Worker processes for generation: ``$LOOPED_HRM_DATA_WORKERS`` or every usable core; 1 inside a
    daemonic process (which may not start children, e.g. a multiprocessing pool worker)."""
    if multiprocessing.current_process().daemon:
        return 1
    env = os.environ.get("LOOPED_HRM_DATA_WORKERS")
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"LOOPED_HRM_DATA_WORKERS must be an integer, got {env!r}") from None
        return max(1, value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# Rough cost of one candidate in seconds, to decide when a process pool pays for its start-up.
_COST = {4: 2e-4, 6: 1.1e-3, 9: 1.1e-2}


def generate(
    n: int,
    quotas: dict[int, int] | int,
    *,
    seed: int,
    stream: str,
    bucket_of: Callable[[int], int],
    givens: int | None = None,
    key: Callable[[np.ndarray], Hashable] | None = None,
    exclude: Iterable[Hashable] = (),
    unique: bool = True,
    workers: int | None = None,
    progress: bool = False,
    measure: str = "backtracks",
) -> list[Candidate]:
    """Draw puzzles from the stream ``(n, seed, stream)`` until the quotas are met.

        ``quotas`` maps a bucket index (of ``bucket_of(difficulty)``, the difficulty being backtracks or,
        with ``measure="rounds"``, `rounds_difficulty`) to how many puzzles of that bucket
        to keep, or is a plain count (any bucket, the stream's natural mix). ``key`` names a puzzle for
        de-duplication: a candidate whose key is in ``exclude``, or (when ``unique``) was kept earlier in
        this stream, is skipped. Candidates are examined in index order, so the result is the same for any ``workers``
    (None: `default_workers` when the expected work is worth a process pool, else 1).

        Raises `GenerationError` when a wanted bucket is too rare: none of the first 2000 candidates
        (or 50 per wanted puzzle, if more) fell into it, or 1000 candidates per wanted puzzle (at least
        2000) ran out.
    """
    wanted: dict[int | None, int] = {None: quotas} if isinstance(quotas, int) else {b: q for b, q in quotas.items()}
    total = sum(wanted.values())
    seen = set(exclude)
    kept: list[Candidate] = []
    have = {b: 0 for b in wanted}
    hits = {b: 0 for b in wanted}
    if workers is None:  # automatic: a pool only when the work outweighs starting one
        workers = default_workers() if total * _COST[n] * 2 > 1.0 else 1
    use_pool = workers > 1
    pool = multiprocessing.Pool(workers) if use_pool else None
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"sudoku {n}x{n} {stream}", unit="puzzle", disable=None, leave=False)
    examined = 0
    try:
        while len(kept) < total:
            starved = [b for b in wanted if hits[b] == 0 and have[b] < wanted[b]]
            if starved and examined >= max(2000, 50 * total):
                raise GenerationError(
                    f"{n}x{n} {stream}: none of {examined} random puzzles fell in bucket(s) "
                    f"{starved} (givens={givens}); such puzzles are too rare to generate, "
                    f"load them from a file instead"
                )
            if examined >= max(2000, 1000 * total):
                raise GenerationError(
                    f"{n}x{n} {stream}: {examined} candidates gave only {len(kept)} of "
                    f"{total} wanted puzzles; ask for fewer or easier puzzles, or use a file"
                )
            chunk = _chunk_size(total - len(kept), len(kept), examined, workers)
            jobs = [(n, seed, stream, i, givens, measure) for i in range(examined, examined + chunk)]
            results = (
                pool.map(_candidate_job, jobs, chunksize=max(1, chunk // (4 * workers)))
                if pool
                else map(_candidate_job, jobs)
            )
            for cand in results:
                examined += 1
                if cand is None:
                    continue
                b = bucket_of(cand.difficulty(measure)) if None not in wanted else None
                if b not in wanted:
                    continue
                hits[b] += 1
                if have[b] >= wanted[b]:
                    continue
                if key is not None:
                    k = key(np.asarray(cand.puzzle))
                    if k in seen:
                        continue
                    if unique:
                        seen.add(k)
                kept.append(cand)
                have[b] += 1
                if bar is not None:
                    bar.update(1)
                if len(kept) == total:
                    break
    finally:
        if pool is not None:
            pool.terminate()
        if bar is not None:
            bar.close()
    return kept


def _chunk_size(missing: int, kept: int, examined: int, workers: int) -> int:
    """Candidates to draw next: enough for the missing puzzles at the acceptance rate seen so far."""
    rate = (kept + 1) / (examined + 1)
    return int(min(8192, max(16 * workers, missing / rate * 1.2)))


def as_arrays(
    cands: Sequence[Candidate], n: int, measure: str = "backtracks"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(puzzles [N, n*n] int8, solutions [N, n*n] int8, difficulty [N] int64)`` (backtracks or rounds)."""
    cells = n * n
    puzzles = np.array([c.puzzle for c in cands], dtype=np.int8).reshape(-1, cells)
    solutions = np.array([c.solution for c in cands], dtype=np.int8).reshape(-1, cells)
    return puzzles, solutions, np.array([c.difficulty(measure) for c in cands], dtype=np.int64)
