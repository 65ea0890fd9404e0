"""ARC grids as HRM token canvases, and the augmentations that act on them.

Shared by the procedural ARC-lite task and the real ARC-AGI loader so that both speak exactly the
encoding of the official HRM builder (docs/reference.md §4), and a model or a vote never has to know which
of the two produced a row:

* a grid (``h×w`` colours 0..9, ``h, w <= C``) is drawn on a ``C×C`` canvas (C = 30 in the paper)
  at a row/column offset (0, 0 except for train-split translation);
* tokens: PAD 0 (outside the grid), EOS 1 (one row drawn just below the grid and one column just
  to its right, over the grid's width/height only, and only where the canvas has room), colour
  ``k`` -> ``k + 2`` (2..11); vocabulary 12;
* labels are the output canvas with PAD replaced by `IGNORE_INDEX`: PAD cells are neither
  supervised nor scored, but EOS cells are, which is how the model tells the output's size.

Augmentations are HRM's: one of the 8 symmetries of the square (`dihedral`) times a permutation of
colours 1..9 with black (0) fixed. A `GridAug` applies to a whole puzzle (every input and output of
it), so the augmented puzzle is the original one conjugated by the augmentation and is a new puzzle
with its own puzzle id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from looped_hrm.contracts import IGNORE_INDEX

PAD = 0
EOS = 1
COLOUR_OFFSET = 2
NUM_COLOURS = 10
VOCAB_SIZE = COLOUR_OFFSET + NUM_COLOURS
ARC_PALETTE = (
    np.array(
        [  # the colours of the ARC testing interface, colour k in row k (RGB in 0..1)
            [0x00, 0x00, 0x00],
            [0x00, 0x74, 0xD9],
            [0xFF, 0x41, 0x36],
            [0x2E, 0xCC, 0x40],
            [0xFF, 0xDC, 0x00],
            [0xAA, 0xAA, 0xAA],
            [0xF0, 0x12, 0xBE],
            [0xFF, 0x85, 0x1B],
            [0x7F, 0xDB, 0xFF],
            [0x87, 0x0C, 0x25],
        ]
    )
    / 255.0
)


# ------------------------------------------------------------------------------------ encoding


def encode(grid: np.ndarray, canvas: int, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The ``[canvas*canvas]`` int64 tokens of ``grid`` drawn at ``offset`` with its EOS border."""
    h, w = grid.shape
    r, c = offset
    if not (0 < h and 0 < w and r + h <= canvas and c + w <= canvas):
        raise ValueError(f"a {h}x{w} grid at offset {offset} does not fit a {canvas}x{canvas} canvas")
    out = np.full((canvas, canvas), PAD, dtype=np.int64)
    out[r : r + h, c : c + w] = np.asarray(grid, dtype=np.int64) + COLOUR_OFFSET
    if r + h < canvas:
        out[r + h, c : c + w] = EOS
    if c + w < canvas:
        out[r : r + h, c + w] = EOS
    return out.reshape(-1)


def encode_label(grid: np.ndarray, canvas: int, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Like `encode`, with PAD cells set to `IGNORE_INDEX` (not supervised, not scored)."""
    tokens = encode(grid, canvas, offset)
    tokens[tokens == PAD] = IGNORE_INDEX
    return tokens


def decode(tokens: np.ndarray, canvas: int) -> np.ndarray:
    """The grid of a stored canvas (input or label, wherever it was translated to).

    The grid is the bounding box of the colour tokens; a box that is not all colours means the
    tokens are not a canvas made by `encode`.
    """
    board = np.asarray(tokens).reshape(canvas, canvas)
    colour = board >= COLOUR_OFFSET
    rows, cols = np.flatnonzero(colour.any(axis=1)), np.flatnonzero(colour.any(axis=0))
    if rows.size == 0:
        raise ValueError("no grid on this canvas (no colour tokens)")
    box = board[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    if not (box >= COLOUR_OFFSET).all():
        raise ValueError("the colour tokens of this canvas do not form one rectangle")
    return box - COLOUR_OFFSET


def crop_prediction(tokens: np.ndarray, canvas: int) -> np.ndarray | None:
    """The grid a model predicted: the largest all-colour rectangle anchored at the top-left cell.

    Predictions carry no guarantee of a clean EOS border, so (as HRM's evaluation does) the answer
    is the biggest origin-anchored rectangle containing only colours; None when the top-left cell
    is not a colour. Ties in area go to the taller rectangle.
    """
    board = np.asarray(tokens).reshape(canvas, canvas)
    colour = (board >= COLOUR_OFFSET) & (board < VOCAB_SIZE)
    # full[r, c]: every cell of board[:r+1, :c+1] is a colour.
    full = np.minimum.accumulate(np.minimum.accumulate(colour, axis=0), axis=1)
    if not full[0, 0]:
        return None
    side = np.arange(1, canvas + 1)
    area = np.where(full, side[:, None] * side[None, :], 0)
    rows, cols = np.nonzero(area == area.max())
    tallest = rows.argmax()
    return board[: rows[tallest] + 1, : cols[tallest] + 1] - COLOUR_OFFSET


def render(tokens: np.ndarray, canvas: int) -> str:
    """A canvas as text: colours as digits, EOS as ``#``, PAD (and ignored labels) as ``.``,
    cropped to the rows and columns that hold anything."""
    board = np.asarray(tokens).reshape(canvas, canvas)
    used = (board != PAD) & (board != IGNORE_INDEX)
    if not used.any():
        return "(empty canvas)"
    rows, cols = np.flatnonzero(used.any(axis=1)), np.flatnonzero(used.any(axis=0))
    chars = {PAD: ".", IGNORE_INDEX: ".", EOS: "#"}
    lines = []
    for row in board[: rows[-1] + 1, : cols[-1] + 1]:
        lines.append(
            "".join(
                chars.get(int(t), str(int(t) - COLOUR_OFFSET) if COLOUR_OFFSET <= t < VOCAB_SIZE else "?") for t in row
            )
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------- augmentations


def dihedral(grid: np.ndarray, k: int) -> np.ndarray:
    """Symmetry ``k`` (0..7) of the square: 0..3 rotate by ``k`` quarter turns counter-clockwise,
    4..7 transpose first, then rotate by ``k - 4`` quarter turns."""
    if not 0 <= k < 8:
        raise ValueError(f"dihedral index must be in 0..7, got {k}")
    return np.rot90(grid if k < 4 else grid.T, k % 4)


def inverse_dihedral(grid: np.ndarray, k: int) -> np.ndarray:
    """Undo `dihedral` ``k``: rotations rotate back; the four reflections are their own inverse."""
    if not 0 <= k < 8:
        raise ValueError(f"dihedral index must be in 0..7, got {k}")
    return np.rot90(grid, -k) if k < 4 else np.rot90(grid, -(k % 4)).T


@dataclass(frozen=True)
class GridAug:
    """One of HRM's ARC augmentations: a symmetry of the square and a colour permutation.

    ``colours[k]`` is the new colour of colour ``k``; ``colours[0] == 0`` (black stays black, as
    in HRM, because ARC uses black as the background almost everywhere).
    """

    dihedral: int = 0
    colours: tuple[int, ...] = tuple(range(NUM_COLOURS))

    def __post_init__(self) -> None:
        if sorted(self.colours) != list(range(NUM_COLOURS)) or self.colours[0] != 0:
            raise ValueError(f"colours must permute 0..9 with 0 fixed, got {self.colours}")
        if not 0 <= self.dihedral < 8:
            raise ValueError(f"dihedral index must be in 0..7, got {self.dihedral}")

    def apply(self, grid: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(dihedral(np.asarray(self.colours)[grid], self.dihedral))

    def invert(self, grid: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.argsort(self.colours)[inverse_dihedral(grid, self.dihedral)])

    @property
    def name(self) -> str:
        return f"d{self.dihedral}c{''.join(map(str, self.colours[1:]))}"


def canonical_pair(x: np.ndarray, y: np.ndarray) -> bytes:
    """One key for the pair ``(x, y)`` and for every augmentation of it (`GridAug` applied to both):
    over the 8 symmetries of the square, the pair with its colours 1..9 renumbered by first
    appearance (black fixed), read as bytes with the two shapes in front; the smallest of the 8."""
    best = b""
    for k in range(8):
        a, b = dihedral(np.asarray(x), k), dihedral(np.asarray(y), k)
        cells = np.concatenate([a.ravel(), b.ravel()])
        colours, first = np.unique(cells, return_index=True)
        order = colours[np.argsort(first)]
        table = np.zeros(NUM_COLOURS, dtype=np.uint8)
        order = order[order != 0]
        table[order] = np.arange(1, len(order) + 1)
        key = bytes((*a.shape, *b.shape)) + table[cells].tobytes()
        if not best or key < best:
            best = key
    return best


def random_aug(rng: np.random.Generator) -> GridAug:
    """A uniformly random symmetry and colour permutation (black fixed)."""
    return GridAug(int(rng.integers(8)), (0, *(int(c) for c in rng.permutation(np.arange(1, NUM_COLOURS)))))


def sample_views(rng: np.random.Generator, num_aug: int) -> list[GridAug]:
    """The identity followed by ``num_aug`` distinct random augmentations: the versions of one puzzle."""
    views = [GridAug()]
    seen = {views[0]}
    while len(views) <= num_aug:
        aug = random_aug(rng)
        if aug not in seen:
            seen.add(aug)
            views.append(aug)
    return views
