"""The transform families of ARC-lite and the procedural puzzles built from them.

A *puzzle* is what HRM calls one ARC task: a rule (one transform family with fixed parameters, or a
short composition of them) together with demonstration pairs and test pairs drawn from it. The
model never sees the demonstrations next to the test input; as in HRM it learns the rule into the
puzzle's embedding from the demonstration pairs (train split) and applies it to the test inputs.

Families (colour 0 is the background everywhere):

=================  =================================================================  =========
family             rule (parameters fixed per puzzle)                                  can follow
=================  =================================================================  =========
copy               output = input                                                      no
rotate             quarter turns clockwise, k in 1..3                                  yes
flip               mirror left-right or up-down                                        yes
transpose          mirror across the main or the anti-diagonal                         yes
recolour           a colour map: 1..3 colours replaced by others                       yes
gravity            every non-background cell falls down/up/left/right, order kept      yes
translate          the whole picture moves by (dr, dc), |dr|, |dc| <= 2                no
scale              every cell becomes a k×k block, k in 2..3                           yes
tile               the input repeated n×m times, plain or mirrored                     no
complete_pattern   a periodic motif with erased rectangles -> the full pattern         no
fill_enclosed      background cells enclosed by walls (4-connectivity) -> fill colour  no
=================  =================================================================  =========

A composed puzzle applies a first family (which also chooses what the input looks like) and then
one or two of the families marked "can follow", at most one of them a symmetry of the square
(rotate, flip, transpose), since two symmetries compose to a single one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

Grid = np.ndarray  # int64 [h, w], colours 0..9
Params = tuple[int, ...]
COLOURS = np.arange(1, 10)  # the non-background colours


# ---------------------------------------------------------------------------------- random grids


def _palette(rng: np.random.Generator, low: int = 1, high: int = 4, exclude: tuple[int, ...] = ()) -> np.ndarray:
    pool = np.setdiff1d(COLOURS, exclude)
    return rng.choice(pool, size=int(rng.integers(low, min(high, pool.size) + 1)), replace=False)


def noise_grid(
    rng: np.random.Generator,
    h: int,
    w: int,
    density: tuple[float, float] = (0.3, 0.8),
    colours: np.ndarray | None = None,
) -> Grid:
    """Background with a random share of cells painted from a small random palette."""
    colours = _palette(rng) if colours is None else colours
    filled = rng.random((h, w)) < rng.uniform(*density)
    return np.where(filled, rng.choice(colours, size=(h, w)), 0).astype(np.int64)


def objects_grid(rng: np.random.Generator, h: int, w: int) -> Grid:
    """A few solid or speckled rectangles of random colours on the background (ARC-like objects)."""
    grid = np.zeros((h, w), dtype=np.int64)
    for _ in range(int(rng.integers(1, 4))):
        oh, ow = int(rng.integers(1, min(3, h) + 1)), int(rng.integers(1, min(3, w) + 1))
        r, c = int(rng.integers(0, h - oh + 1)), int(rng.integers(0, w - ow + 1))
        block = rng.random((oh, ow)) < 0.8
        block[rng.integers(oh), rng.integers(ow)] = True
        grid[r : r + oh, c : c + ow] = np.where(block, rng.choice(COLOURS), grid[r : r + oh, c : c + ow])
    return grid


# ------------------------------------------------------------------------------------- families


@dataclass(frozen=True)
class Family:
    """One kind of rule.

    ``sample(rng, max_side)`` draws the puzzle's parameters, or None when no parameters fit inputs
    of at most ``max_side`` cells a side; ``make_input(rng, params, h, w)`` draws an input suited
    to the rule; ``growth(params)`` bounds ``max(out.shape) / max(in.shape)``; ``min_side(params)``
    is the smallest input side the rule needs.
    """

    name: str
    sample: Callable[[np.random.Generator, int], Params | None]
    apply: Callable[[Grid, Params], Grid]
    make_input: Callable[[np.random.Generator, Params, int, int], Grid]
    describe: Callable[[Params], str]
    growth: Callable[[Params], int] = lambda p: 1
    min_side: Callable[[Params], int] = lambda p: 1
    can_follow: bool = False
    symmetry: bool = False


def _generic_input(rng: np.random.Generator, params: Params, h: int, w: int) -> Grid:
    return noise_grid(rng, h, w)


def _gravity(grid: Grid, params: Params) -> Grid:
    # Direction 0 down, 1 up, 2 right, 3 left: rotate so that "down" is the fall, stack, rotate back.
    turns = {0: 0, 1: 2, 2: 3, 3: 1}[params[0]]
    g = np.rot90(grid, turns)
    out = np.zeros_like(g)
    for c in range(g.shape[1]):
        column = g[:, c][g[:, c] != 0]
        if column.size:
            out[-column.size :, c] = column
    return np.rot90(out, -turns)


def _recolour_input(rng: np.random.Generator, params: Params, h: int, w: int) -> Grid:
    sources = np.asarray(params[0::2])
    extra = _palette(rng, 0, 2, exclude=tuple(sources)) if rng.random() < 0.7 else np.zeros(0, dtype=np.int64)
    grid = noise_grid(rng, h, w, (0.5, 0.9), np.concatenate([sources, extra]))
    cells = rng.permutation(h * w)[: sources.size]
    grid.reshape(-1)[cells] = sources[: cells.size]  # every source colour appears
    return grid


def _recolour(grid: Grid, params: Params) -> Grid:
    table = np.arange(10)
    table[list(params[0::2])] = params[1::2]
    return table[grid]


def _sample_recolour(rng: np.random.Generator, max_side: int) -> Params:
    n = int(rng.integers(1, 4))
    sources = rng.choice(COLOURS, size=n, replace=False)
    targets = [int(rng.choice(np.setdiff1d(COLOURS, [s]))) for s in sources]
    return tuple(int(x) for pair in zip(sources, targets) for x in pair)


def _translate(grid: Grid, params: Params) -> Grid:
    dr, dc = params
    h, w = grid.shape
    out = np.zeros_like(grid)
    out[max(dr, 0) : h + min(dr, 0), max(dc, 0) : w + min(dc, 0)] = grid[
        max(-dr, 0) : h - max(dr, 0), max(-dc, 0) : w - max(dc, 0)
    ]
    return out


def _translate_input(rng: np.random.Generator, params: Params, h: int, w: int) -> Grid:
    # Objects only where the move keeps them inside, so the rule loses nothing and is learnable.
    dr, dc = params
    grid = np.zeros((h, w), dtype=np.int64)
    grid[max(-dr, 0) : h - max(dr, 0), max(-dc, 0) : w - max(dc, 0)] = objects_grid(rng, h - abs(dr), w - abs(dc))
    return grid


def _sample_translate(rng: np.random.Generator, max_side: int) -> Params | None:
    if max_side < 2:
        return None
    reach = min(2, max_side - 1)
    while True:
        dr, dc = (int(x) for x in rng.integers(-reach, reach + 1, size=2))
        if (dr, dc) != (0, 0):
            return dr, dc


def _tile(grid: Grid, params: Params) -> Grid:
    n, m, mirrored = params
    rows = []
    for i in range(n):
        row = []
        for j in range(m):
            tile = grid
            if mirrored and i % 2:
                tile = tile[::-1]
            if mirrored and j % 2:
                tile = tile[:, ::-1]
            row.append(tile)
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)


def _sample_tile(rng: np.random.Generator, max_side: int) -> Params:
    while True:
        n, m = (int(x) for x in rng.integers(1, 4, size=2))
        if (n, m) != (1, 1):
            return n, m, int(rng.integers(2))


def _pattern_input(rng: np.random.Generator, params: Params, h: int, w: int) -> Grid:
    ph, pw = params
    motif = rng.choice(_palette(rng, 2, 4), size=(ph, pw))
    full = np.tile(motif, (h // ph + 1, w // pw + 1))[:h, :w]
    for _ in range(100):
        grid = full.copy()
        for _ in range(int(rng.integers(1, 3))):
            eh, ew = int(rng.integers(1, max(2, h // 2) + 1)), int(rng.integers(1, max(2, w // 2) + 1))
            r, c = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
            grid[r : r + eh, c : c + ew] = 0
        # Solvable only if every cell of the motif is still visible somewhere.
        seen = np.zeros((ph, pw), dtype=bool)
        rr, cc = np.nonzero(grid)
        seen[rr % ph, cc % pw] = True
        if seen.all() and (grid == 0).any():
            return grid
    raise RuntimeError(f"could not erase a {h}x{w} pattern of period {ph}x{pw} and keep it recoverable")


def _complete_pattern(grid: Grid, params: Params) -> Grid:
    ph, pw = params
    h, w = grid.shape
    motif = np.zeros((ph, pw), dtype=grid.dtype)
    rr, cc = np.nonzero(grid)
    motif[rr % ph, cc % pw] = grid[rr, cc]
    return np.tile(motif, (h // ph + 1, w // pw + 1))[:h, :w]


def _sample_pattern(rng: np.random.Generator, max_side: int) -> Params | None:
    top = min(4, max_side // 2)
    if top < 2:
        return None
    return int(rng.integers(2, top + 1)), int(rng.integers(2, top + 1))


def _enclosed(grid: Grid) -> np.ndarray:
    """Background cells that no 4-connected path of background cells links to the border."""
    h, w = grid.shape
    outside = np.zeros((h, w), dtype=bool)
    queue = deque(
        (r, c) for r in range(h) for c in range(w) if (r in (0, h - 1) or c in (0, w - 1)) and grid[r, c] == 0
    )
    for r, c in queue:
        outside[r, c] = True
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < h and 0 <= nc < w and not outside[nr, nc] and grid[nr, nc] == 0:
                outside[nr, nc] = True
                queue.append((nr, nc))
    return (grid == 0) & ~outside


def _fill_enclosed(grid: Grid, params: Params) -> Grid:
    return np.where(_enclosed(grid), params[0], grid)


def _fill_input(rng: np.random.Generator, params: Params, h: int, w: int) -> Grid:
    walls = np.setdiff1d(COLOURS, [params[0]])
    for _ in range(100):
        grid = noise_grid(rng, h, w, (0.0, 0.1), rng.choice(walls, size=2, replace=False))
        for _ in range(int(rng.integers(1, 4))):
            bh, bw = int(rng.integers(3, h + 1)), int(rng.integers(3, w + 1))
            r, c = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
            colour = rng.choice(walls)
            grid[r, c : c + bw] = grid[r + bh - 1, c : c + bw] = colour
            grid[r : r + bh, c] = grid[r : r + bh, c + bw - 1] = colour
        if _enclosed(grid).any():
            return grid
    raise RuntimeError(f"could not draw an enclosed region on a {h}x{w} grid")


_ROTATION_NAMES = {1: "90", 2: "180", 3: "270"}
_GRAVITY_NAMES = ("down", "up", "right", "left")

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("copy", lambda rng, s: (), lambda g, p: g.copy(), _generic_input, lambda p: "copy"),
        Family(
            "rotate",
            lambda rng, s: (int(rng.integers(1, 4)),),
            lambda g, p: np.rot90(g, -p[0]),
            _generic_input,
            lambda p: f"rotate{_ROTATION_NAMES[p[0]]}",
            can_follow=True,
            symmetry=True,
        ),
        Family(
            "flip",
            lambda rng, s: (int(rng.integers(2)),),
            lambda g, p: g[:, ::-1] if p[0] == 0 else g[::-1],
            _generic_input,
            lambda p: "flip_lr" if p[0] == 0 else "flip_ud",
            can_follow=True,
            symmetry=True,
        ),
        Family(
            "transpose",
            lambda rng, s: (int(rng.integers(2)),),
            lambda g, p: g.T if p[0] == 0 else np.rot90(g, 2).T,
            _generic_input,
            lambda p: "transpose" if p[0] == 0 else "antitranspose",
            can_follow=True,
            symmetry=True,
        ),
        Family(
            "recolour",
            _sample_recolour,
            _recolour,
            _recolour_input,
            lambda p: "recolour" + ",".join(f"{a}>{b}" for a, b in zip(p[0::2], p[1::2])),
            can_follow=True,
        ),
        Family(
            "gravity",
            lambda rng, s: (int(rng.integers(4)),),
            _gravity,
            lambda rng, p, h, w: noise_grid(rng, h, w, (0.15, 0.45)),
            lambda p: f"gravity_{_GRAVITY_NAMES[p[0]]}",
            can_follow=True,
        ),
        Family(
            "translate",
            _sample_translate,
            _translate,
            _translate_input,
            lambda p: f"translate{p[0]:+d}{p[1]:+d}",
            min_side=lambda p: max(abs(p[0]), abs(p[1])) + 1,
        ),
        Family(
            "scale",
            lambda rng, s: (int(rng.integers(2, 4)),),
            lambda g, p: np.kron(g, np.ones((p[0], p[0]), dtype=g.dtype)),
            _generic_input,
            lambda p: f"scale{p[0]}",
            growth=lambda p: p[0],
            can_follow=True,
        ),
        Family(
            "tile",
            _sample_tile,
            _tile,
            _generic_input,
            lambda p: f"tile{p[0]}x{p[1]}" + ("_mirrored" if p[2] else ""),
            growth=lambda p: max(p[0], p[1]),
        ),
        Family(
            "complete_pattern",
            _sample_pattern,
            _complete_pattern,
            _pattern_input,
            lambda p: f"complete_pattern{p[0]}x{p[1]}",
            min_side=lambda p: 2 * max(p),
        ),
        Family(
            "fill_enclosed",
            lambda rng, s: (int(rng.choice(COLOURS)),) if s >= 3 else None,
            _fill_enclosed,
            _fill_input,
            lambda p: f"fill_enclosed{p[0]}",
            min_side=lambda p: 3,
        ),
    )
}
FAMILY_NAMES = tuple(FAMILIES)


# -------------------------------------------------------------------------------------- puzzles


@dataclass(frozen=True)
class Step:
    family: str
    params: Params

    def apply(self, grid: Grid) -> Grid:
        return np.ascontiguousarray(FAMILIES[self.family].apply(grid, self.params))

    @property
    def name(self) -> str:
        return FAMILIES[self.family].describe(self.params)


@dataclass(frozen=True)
class LitePuzzle:
    """A rule (``steps`` applied in order) and the input sizes it is drawn at."""

    steps: tuple[Step, ...]
    min_side: int
    max_side: int

    @property
    def name(self) -> str:
        return "+".join(step.name for step in self.steps)

    @property
    def depth(self) -> int:
        return len(self.steps)

    @property
    def growth(self) -> int:
        """Bound on ``max(out.shape) / max(in.shape)``: how much the rule can enlarge its input."""
        return int(np.prod([FAMILIES[step.family].growth(step.params) for step in self.steps]))

    def apply(self, grid: Grid) -> Grid:
        for step in self.steps:
            grid = step.apply(grid)
        return grid

    def make_pairs(self, rng: np.random.Generator, count: int) -> list[tuple[Grid, Grid]]:
        """``count`` pairs with distinct inputs; each output differs from its input unless the rule
        is `copy`, so every demonstration shows the rule at work."""
        first = self.steps[0]
        pairs: list[tuple[Grid, Grid]] = []
        seen: set[bytes] = set()
        for _ in range(200 * count):
            if len(pairs) == count:
                return pairs
            h, w = (int(x) for x in rng.integers(self.min_side, self.max_side + 1, size=2))
            grid = FAMILIES[first.family].make_input(rng, first.params, h, w)
            out = self.apply(grid)
            key = bytes(grid.shape) + grid.tobytes()
            if key in seen or (first.family != "copy" and out.shape == grid.shape and (out == grid).all()):
                continue
            seen.add(key)
            pairs.append((grid, out))
        raise RuntimeError(f"puzzle {self.name}: could not draw {count} distinct informative pairs")


def sample_puzzle(
    rng: np.random.Generator, families: tuple[str, ...], depth: int, canvas: int, min_side: int, max_side: int
) -> LitePuzzle:
    """A random rule of ``depth`` steps (or fewer when the families allow no longer composition)
    whose outputs fit the canvas for inputs of ``min_side..max_side`` cells a side."""
    for _ in range(1000):
        first = str(rng.choice([f for f in families if depth == 1 or f != "copy"]))
        names = [first]
        for _ in range(depth - 1):
            options = [
                f
                for f in families
                if FAMILIES[f].can_follow
                and f not in names
                and not (FAMILIES[f].symmetry and any(FAMILIES[n].symmetry for n in names))
            ]
            if options:
                names.append(str(rng.choice(options)))
        later = []
        for name in names[1:]:
            params = FAMILIES[name].sample(rng, max_side)
            if params is None:
                break
            later.append(Step(name, params))
        else:
            growth = int(np.prod([FAMILIES[s.family].growth(s.params) for s in later]))
            params = FAMILIES[first].sample(rng, min(max_side, canvas // growth))
            if params is None:
                continue
            growth *= FAMILIES[first].growth(params)
            top = min(max_side, canvas // growth)
            low = max(min_side, FAMILIES[first].min_side(params))
            if low <= top:
                return LitePuzzle((Step(first, params), *later), low, top)
    raise ValueError(
        f"no puzzle of families {families} fits inputs of {min_side}..{max_side} cells on a "
        f"{canvas}x{canvas} canvas; enlarge max_size or the canvas"
    )
