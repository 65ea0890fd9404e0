"""Maze grids: generators, breadth-first search, the shortest-path rule, and dihedral symmetries.

A maze is an N×N grid of characters in HRM's Maze-Hard alphabet ``"# SGo"`` (token id = index + 1):

    PAD 0 | ``#`` wall 1 | `` `` open 2 | ``S`` start 3 | ``G`` goal 4 | ``o`` path 5

The input holds walls, open cells, S and G; the label is the same grid with the cells of one
shortest S→G path (S and G excluded) turned into ``o``. Moves are 4-connected, and a path's length
is its number of moves (so a path of length d paints d − 1 cells ``o``).

Three layouts (the ``generator`` option of the task):

* ``dfs``: a perfect maze (randomized depth-first search, the "recursive backtracker") on the cells
  at odd coordinates, the corridor format of maze-dataset and of the easy-to-hard mazes. Exactly
  one simple path joins any two cells, so the shortest path is unique.
* ``loops``: a ``dfs`` maze with a share of its remaining inner walls knocked out, which opens
  cycles: several shortest paths can exist and the verifier must accept any of them.
* ``random``: wall cells placed uniformly at random (Lehnert et al. 2024 / Searchformer style, the
  procedure HRM's paper cites for Maze-Hard). On 30×30 at 30–50 % walls no shortest path we
  measured exceeded 107 moves, so HRM's "> 110" filter cannot be met this way; use ``loops`` for
  hard 30×30 mazes.

Plain numpy and Python lists, no compiled extension (generation speed: docs/tasks/maze.md).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

CHARSET = "# SGo"
PAD, WALL, OPEN, START, GOAL, PATH = 0, 1, 2, 3, 4, 5
VOCAB_SIZE = 6
_TRAVERSABLE = (OPEN, START, GOAL)
GIVEN = (WALL, START, GOAL)  # input tokens every answer reproduces (`TaskInfo.given_tokens`)


# ------------------------------------------------------------------------------------ layouts


def cell_coords(size: int) -> np.ndarray:
    """Coordinates (odd indices) of the maze cells along one side of a ``size``-wide corridor maze.

    An odd size ``2g + 1`` has a wall border on every side (maze-dataset's format); an even size
    ``2g`` puts the last row and column of cells on the grid's edge, so a 30×30 grid holds 15×15
    cells instead of wasting two wall lines.
    """
    return np.arange(1, size, 2)


def carve_dfs(size: int, rng: np.random.Generator) -> np.ndarray:
    """A perfect maze: a depth-first spanning tree of the cell lattice from a random cell.

    Returns the open mask (``bool [size, size]``); everything else is wall. Plain Python lists in
    the loop: numpy element access would make this the slowest step of generation.
    """
    g = len(cell_coords(size))
    is_open = bytearray(size * size)
    visited = [False] * (g * g)
    start = int(rng.integers(g * g))
    visited[start] = True
    is_open[(2 * (start // g) + 1) * size + 2 * (start % g) + 1] = 1
    stack = [start]
    # One batch of random numbers per maze: drawing them one at a time costs more than the search.
    choices = iter(rng.random(g * g).tolist())
    while stack:
        u = stack[-1]
        r, c = divmod(u, g)
        nexts = [
            v
            for v, ok in ((u - g, r > 0), (u + g, r < g - 1), (u - 1, c > 0), (u + 1, c < g - 1))
            if ok and not visited[v]
        ]
        if not nexts:
            stack.pop()
            continue
        v = nexts[int(next(choices) * len(nexts))]
        visited[v] = True
        vr, vc = divmod(v, g)
        is_open[(2 * vr + 1) * size + 2 * vc + 1] = 1
        is_open[(r + vr + 1) * size + c + vc + 1] = 1  # the wall between the two cells
        stack.append(v)
    return np.frombuffer(bytes(is_open), dtype=np.uint8).reshape(size, size).astype(bool)


def knock_out_walls(is_open: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Open each remaining wall *between two cells* with probability ``fraction`` (adds cycles).

    Wall pillars (even, even) and the border stay, so the result still reads as a corridor maze.
    """
    out = is_open.copy()
    size = out.shape[0]
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    # A separator sits between two cells: one coordinate odd, the other even and inside the grid.
    between = ((rows % 2 == 1) & (cols % 2 == 0) & (cols > 0) & (cols < size - 1)) | (
        (rows % 2 == 0) & (cols % 2 == 1) & (rows > 0) & (rows < size - 1)
    )
    candidates = between & ~out
    out |= candidates & (rng.random(out.shape) < fraction)
    return out


def random_walls(size: int, wall_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Open mask with exactly ``round(wall_fraction * size²)`` wall cells placed uniformly."""
    walls = int(round(wall_fraction * size * size))
    is_open = np.ones(size * size, dtype=bool)
    is_open[rng.choice(size * size, size=walls, replace=False)] = False
    return is_open.reshape(size, size)


# ---------------------------------------------------------------------------------------- search


@lru_cache(maxsize=None)
def _neighbours(size: int) -> tuple[tuple[int, ...], ...]:
    """Flat indices of the 4-neighbours of every cell of a size×size grid (up, down, left, right)."""
    out = []
    for u in range(size * size):
        r, c = divmod(u, size)
        nb = []
        if r > 0:
            nb.append(u - size)
        if r < size - 1:
            nb.append(u + size)
        if c > 0:
            nb.append(u - 1)
        if c < size - 1:
            nb.append(u + 1)
        out.append(tuple(nb))
    return tuple(out)


def bfs_distances(passable: list[bool], size: int, source: int) -> list[int]:
    """Moves from ``source`` to every cell through ``passable`` cells (flat list); -1 if unreachable."""
    nbrs = _neighbours(size)
    dist = [-1] * (size * size)
    dist[source] = 0
    frontier = [source]
    d = 0
    while frontier:
        d += 1
        nxt = []
        for u in frontier:
            for v in nbrs[u]:
                if passable[v] and dist[v] < 0:
                    dist[v] = d
                    nxt.append(v)
        frontier = nxt
    return dist


def path_back(dist: list[int], size: int, goal: int) -> list[int]:
    """The cells strictly between source and ``goal`` on one shortest path, source side first.

    Walks back from the goal to a neighbour one move closer, preferring up, down, left, right, so
    the chosen path is deterministic when several shortest paths exist.
    """
    nbrs = _neighbours(size)
    cells = []
    u = goal
    while dist[u] > 1:
        u = next(v for v in nbrs[u] if dist[v] == dist[u] - 1)
        cells.append(u)
    return cells[::-1]


def passable_cells(grid: np.ndarray) -> list[bool]:
    """Which cells of an input grid (tokens, any shape) a path may use: open, start and goal."""
    return np.isin(grid.ravel(), _TRAVERSABLE).tolist()


def endpoints(grid: np.ndarray) -> tuple[int, int]:
    """Flat indices of S and G; a grid without exactly one of each is malformed."""
    flat = grid.ravel()
    s, g = np.flatnonzero(flat == START), np.flatnonzero(flat == GOAL)
    if len(s) != 1 or len(g) != 1:
        raise ValueError(f"a maze needs exactly one start and one goal, got {len(s)} S and {len(g)} G")
    return int(s[0]), int(g[0])


def shortest_path_length(grid: np.ndarray) -> int:
    """Moves on a shortest S→G path of an input grid (``[N, N]`` tokens); -1 if G is unreachable."""
    size = grid.shape[0]
    s, g = endpoints(grid)
    return bfs_distances(passable_cells(grid), size, s)[g]


def solve(grid: np.ndarray) -> np.ndarray:
    """The label of an input grid: the grid with one shortest path painted ``o``."""
    size = grid.shape[0]
    s, g = endpoints(grid)
    dist = bfs_distances(passable_cells(grid), size, s)
    if dist[g] < 0:
        raise ValueError("the goal is not reachable from the start")
    out = grid.copy().ravel()
    out[path_back(dist, size, g)] = PATH
    return out.reshape(grid.shape)


def is_shortest_path(prediction: np.ndarray, grid: np.ndarray) -> bool:
    """Is ``prediction`` the input ``grid`` (``[N, N]`` tokens) with a shortest S→G path painted?

    The rules, cheapest first: every cell that is not open in the input is reproduced (walls, S,
    G; PAD cells are ignored), open cells become open or path, the number of path cells is the
    shortest distance minus one, and S reaches G through path cells alone. The last two together
    mean the path cells form one 4-connected S→G path of minimal length — any shortest path, not
    only the stored one. If G is unreachable, the right answer paints nothing.
    """
    x, p = grid.ravel(), np.asarray(prediction).ravel()
    if p.shape != x.shape:
        return False
    if (x == PATH).any():
        raise ValueError("an input grid must not contain path tokens")
    fixed = (x != OPEN) & (x != PAD)
    if not np.array_equal(p[fixed], x[fixed]):
        return False
    free = p[x == OPEN]
    if not ((free == OPEN) | (free == PATH)).all():
        return False
    size = grid.shape[0]
    s, g = endpoints(grid)
    d = bfs_distances(passable_cells(grid), size, s)[g]
    on_path = p == PATH
    if d < 0:
        return not on_path.any()
    if int(on_path.sum()) != d - 1:
        return False
    along = on_path.copy()
    along[g] = True
    return bfs_distances(along.tolist(), size, s)[g] == d


# ---------------------------------------------------------------------------------- sampling


def sample_maze(
    size: int,
    generator: str,
    rng: np.random.Generator,
    *,
    min_path_length: int = 1,
    loop_fraction: float = 0.1,
    wall_fraction: tuple[float, float] = (0.3, 0.5),
    max_attempts: int = 10_000,
) -> tuple[np.ndarray, np.ndarray, int]:
    """One maze whose shortest S→G path has at least ``min_path_length`` moves.

    Returns (input grid, label grid, shortest path length). S and G are placed on cells (odd
    coordinates) for the corridor layouts and on any open cell for ``random``.

    The distribution is exactly that of rejection sampling "layout, then a uniform (S, G) pair of
    distinct eligible cells, keep if the path is long enough", at the cost of one BFS per layout:
    draw S uniformly, count the k eligible goals far enough from it out of the M eligible cells,
    keep the layout with probability k / M and draw G uniformly among the k.
    """
    cells = cell_coords(size)
    for _ in range(max_attempts):
        if generator == "dfs":
            is_open = carve_dfs(size, rng)
        elif generator == "loops":
            is_open = knock_out_walls(carve_dfs(size, rng), loop_fraction, rng)
        elif generator == "random":
            is_open = random_walls(size, rng.uniform(*wall_fraction), rng)
        else:
            raise ValueError(f"unknown maze generator {generator!r} (expected dfs, loops or random)")
        if generator == "random":
            eligible = np.flatnonzero(is_open.ravel())
        else:
            eligible = (cells[:, None] * size + cells[None, :]).ravel()
        if len(eligible) < 2:
            continue
        s = int(rng.choice(eligible))
        dist = np.asarray(bfs_distances(is_open.ravel().tolist(), size, s))
        far = eligible[dist[eligible] >= max(min_path_length, 1)]
        if rng.random() * len(eligible) >= len(far):
            continue
        g = int(rng.choice(far))
        grid = np.where(is_open, OPEN, WALL).astype(np.int64).ravel()
        grid[s], grid[g] = START, GOAL
        label = grid.copy()
        label[path_back(dist.tolist(), size, g)] = PATH
        return grid.reshape(size, size), label.reshape(size, size), int(dist[g])
    raise RuntimeError(
        f"no {size}×{size} '{generator}' maze with a path of >= {min_path_length} moves "
        f"in {max_attempts} layouts; lower min_path_length or change the generator"
    )


# ---------------------------------------------------------------------------------- symmetries


def dihedral(grid: np.ndarray, k: int) -> np.ndarray:
    """The ``k``-th of the 8 symmetries of the square (0 = identity): k % 4 quarter turns, then a
    transpose for k >= 4. Moves stay 4-connected, so a shortest path stays a shortest path."""
    out = np.rot90(grid, k % 4)
    return np.ascontiguousarray(out.T if k >= 4 else out)


# -------------------------------------------------------------------------------------- display


def render(tokens: np.ndarray, size: int) -> str:
    """The grid as text, one row per line; PAD shows as ``.`` and unknown tokens as ``?``."""
    chars = "." + CHARSET
    rows = np.asarray(tokens).reshape(size, size)
    return "\n".join("".join(chars[t] if 0 <= t < len(chars) else "?" for t in row) for row in rows)
