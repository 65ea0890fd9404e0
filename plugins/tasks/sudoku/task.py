"""The ``sudoku`` task: fill a 4×4, 6×6 (2×3 boxes) or 9×9 grid, encoded as in the HRM paper.

Encoding (HRM's ``build_sudoku_dataset.py``): PAD 0, blank 1, digit ``d`` -> ``d + 1``; vocabulary
``n + 2`` (11 for 9×9), sequence length ``n²``; the label is the whole solution, so every cell,
givens included, is supervised and scored (no `IGNORE_INDEX`); one puzzle id (0) for all puzzles.

Data for each split comes from the generator (`generator`) or from a file (`files`); no training
puzzle is equivalent to a test puzzle under the augmentation group when ``dedup: symmetry``
(`symmetry.invariant`). Difficulty is the number of backtracks of the solver (`solver.backtracks`)
or, with ``difficulty_measure: rounds``, the depth of the puzzle's deduction chain in rounds of
simultaneous singles (`solver.singles_rounds`; a puzzle singles cannot finish counts as
`generator.STUCK`) — the measure that still varies on 6×6, where almost no puzzle needs a search.
docs/tasks/sudoku.md gives the buckets, the presets and the measurements behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable, Literal

import numpy as np
import torch

from looped_hrm.cache import cached_split
from looped_hrm.contracts import SPLITS, GridPicture, Split, TaskInfo
from looped_hrm.plugins.tasks.sudoku import files, generator, solver, symmetry

DATA_VERSION = 2  # bump when the generator or the selection changes, so cached splits are rebuilt

PAD, BLANK = 0, 1  # digit d is token d + 1
BUCKETS = ("easy", "medium", "hard", "extreme")
DEFAULT_EDGES = {
    "backtracks": {4: (1, 2, 3), 6: (1, 2, 3), 9: (1, 10, 100)},
    # rounds: measured on random puzzles (docs/tasks/sudoku.md): 6×6 with 18 givens 1-2 rounds 73 %,
    # 3 rounds 25 %, 4+ 2.3 %; minimal 4×4 1-3 rounds; minimal 9×9 6-18 rounds or stuck (55 %)
    "rounds": {4: (2, 3, 4), 6: (3, 4, 5), 9: (10, 13, 16)},
}
FORUM_HARDEST = "sudoku/forum_hardest_1905_11plus_10k.csv"


@dataclass
class SudokuConfig:
    size: Literal[4, 6, 9] = 9  # grid side; boxes 2×2, 2×3 (rows × columns), 3×3
    num_train: int = 1000  # puzzles before augmentation; -1: every usable puzzle of train_file
    num_test: int = 1000  # -1: every usable puzzle of test_file
    num_aug: int = 0  # augmented copies per training puzzle, the original kept (HRM's --num-aug)
    seed: int = 0
    train_file: str | None = None  # puzzles for the train split (None: generate); see files.py
    test_file: str | None = None  # the same file as train_file: held-out puzzles of that file
    data_dir: str | None = None  # your folder for relative file names (None: $LOOPED_HRM_DATA), before the shipped one
    givens: int | None = None  # generator: remove givens down to this many (None: to a minimal puzzle)
    difficulty: list[str] = field(default_factory=list)  # buckets to keep (empty: all); generated: equal shares
    test_difficulty: list[str] | None = None  # buckets for the test split (None: same as difficulty)
    bucket_edges: list[int] | None = None  # difficulty where medium, hard, extreme start (None: per size and measure)
    difficulty_measure: Literal["backtracks", "rounds"] = "backtracks"  # solver dead ends, or singles rounds
    dedup: Literal["none", "exact", "symmetry"] = (
        "symmetry"  # same puzzle = equivalent / identical / (none: repeats allowed)
    )

    def __post_init__(self) -> None:
        n = self.size
        if n not in solver.BOX_SHAPES:
            raise ValueError(f"size must be 4, 6 or 9, got {n}")
        for name in ("num_train", "num_test"):
            if getattr(self, name) < -1:
                raise ValueError(f"{name} must be >= 0 (or -1 for every puzzle of a file), got {getattr(self, name)}")
        if self.num_aug < 0:
            raise ValueError(f"num_aug must be >= 0, got {self.num_aug}")
        if self.givens is not None and not 0 < self.givens < n * n:
            raise ValueError(f"givens must be between 1 and {n * n - 1} for a {n}×{n} grid, got {self.givens}")
        for name in ("difficulty", "test_difficulty"):
            unknown = [b for b in getattr(self, name) or [] if b not in BUCKETS]
            if unknown:
                raise ValueError(f"{name}: unknown bucket(s) {unknown} (buckets: {', '.join(BUCKETS)})")
        if self.bucket_edges is not None:
            e = self.bucket_edges
            if len(e) != 3 or e[0] < 1 or not e[0] < e[1] < e[2]:
                raise ValueError(
                    f"bucket_edges must be 3 increasing backtrack counts >= 1 (where medium, "
                    f"hard and extreme start), got {e}"
                )


# ------------------------------------------------------------------------------------------ the task


class SudokuTask:
    """Sudoku as token grids with a rule-based verifier (any valid grid keeping the givens is right)."""

    name = "sudoku"
    bucket_names = BUCKETS
    label_free_verify = True

    def __init__(self, config: SudokuConfig):
        self.config = config
        self.n = config.size
        self.info = TaskInfo(vocab_size=self.n + 2, seq_len=self.n * self.n, num_puzzle_ids=1, grid=(self.n, self.n))
        self.edges = np.array(config.bucket_edges or DEFAULT_EDGES[config.difficulty_measure][self.n], dtype=np.int64)

    # ---------------------------------------------------------------------------------- splits

    def build(self, split: str) -> Split:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
        key = [self.config, self._file_fingerprints()]  # a changed file must not hit a stale cache
        return cached_split(self.name, key, split, lambda: self._build(split), version=DATA_VERSION)

    def bucket_of(self, difficulty: np.ndarray | int) -> np.ndarray:
        """Bucket index (into `bucket_names`) of each difficulty value (backtracks or rounds)."""
        return np.searchsorted(self.edges, difficulty, side="right")

    def _build(self, split: str) -> Split:
        cfg = self.config
        if split == "test":
            puzzles, solutions, difficulty = self._select("test", exclude=[])
            return self._split(puzzles, solutions, difficulty, num_aug=0)
        test = self.build("test")
        keyfn = self._key()
        exclude = [keyfn(p) for p in test.inputs.numpy() - 1]
        puzzles, solutions, difficulty = self._select("train", exclude=exclude)
        return self._split(puzzles, solutions, difficulty, num_aug=cfg.num_aug)

    def _key(self) -> Callable[[np.ndarray], Hashable]:
        """What makes two puzzles "the same": equal invariants (``symmetry``) or equal grids. Even with
        ``dedup: none`` a training puzzle identical to a test puzzle is dropped; ``none`` only keeps
        repeats inside a split."""
        n = self.n
        if self.config.dedup == "symmetry":
            return lambda p: symmetry.invariant(p, n)
        return lambda p: np.asarray(p, dtype=np.int8).tobytes()

    def _wanted(self, split: str) -> list[int]:
        names = (
            self.config.difficulty
            if split == "train" or self.config.test_difficulty is None
            else self.config.test_difficulty
        )
        return sorted({BUCKETS.index(b) for b in names})

    def _select(self, split: str, exclude: list[Hashable]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cfg = self.config
        count = cfg.num_train if split == "train" else cfg.num_test
        source = cfg.train_file if split == "train" else cfg.test_file
        wanted = self._wanted(split)
        if source is not None:
            return self._from_file(source, count, wanted, exclude, split)
        if count < 0:
            raise ValueError(f"num_{split} = -1 (every puzzle) needs a {split}_file; generated splits need a count")
        if wanted:
            share, extra = divmod(count, len(wanted))
            quotas: dict[int, int] | int = {b: share + (i < extra) for i, b in enumerate(wanted)}
        else:
            quotas = count
        cands = generator.generate(
            self.n,
            quotas,
            seed=cfg.seed,
            stream=split,
            bucket_of=lambda b: int(self.bucket_of(b)),
            givens=cfg.givens,
            key=self._key(),
            exclude=exclude,
            unique=cfg.dedup != "none",
            progress=True,
            measure=cfg.difficulty_measure,
        )
        return generator.as_arrays(cands, self.n, cfg.difficulty_measure)

    def _from_file(
        self, source: str, count: int, wanted: list[int], exclude: list[Hashable], split: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cfg = self.config
        data = files.load(files.resolve(source, cfg.data_dir), size=self.n)
        difficulty = (
            data.backtracks
            if cfg.difficulty_measure == "backtracks"
            else np.array([generator.rounds_difficulty(solver.singles_rounds(p)) for p in data.puzzles], dtype=np.int64)
        )
        keep = np.isin(self.bucket_of(difficulty), wanted) if wanted else np.ones(len(data.puzzles), bool)
        # One order per file and seed: with the same file for both splits, the test split takes the
        # first usable puzzles and the train split the next ones (after dropping the test puzzles).
        order = np.random.default_rng([cfg.seed, 1]).permutation(len(data.puzzles))
        keyfn = self._key()
        seen = set(exclude)
        chosen = []
        for i in order[keep[order]]:
            k = keyfn(data.puzzles[i])
            if k in seen:
                continue
            if cfg.dedup != "none":
                seen.add(k)
            chosen.append(i)
            if len(chosen) == count:
                break
        if count >= 0 and len(chosen) < count:
            raise files.SudokuFileError(
                f"{data.path}: {split} split wants {count} puzzles but only {len(chosen)} are usable "
                f"({int(keep.sum())} in bucket(s) {[BUCKETS[b] for b in wanted] or 'any'}, "
                f"{len(exclude)} held out for the test split, duplicates up to '{cfg.dedup}' dropped)"
            )
        idx = np.array(chosen, dtype=np.int64)
        return data.puzzles[idx], data.solutions[idx], difficulty[idx]

    def _file_fingerprints(self) -> list:
        cfg = self.config
        out = []
        for name in sorted({f for f in (cfg.train_file, cfg.test_file) if f is not None}):
            path = files.resolve(name, cfg.data_dir).resolve()
            stat = path.stat()
            out.append([str(path), stat.st_size, stat.st_mtime_ns])
        return out

    def _split(self, puzzles: np.ndarray, solutions: np.ndarray, difficulty: np.ndarray, num_aug: int) -> Split:
        inputs = puzzles.astype(np.int64) + 1
        labels = solutions.astype(np.int64) + 1
        if num_aug:
            inputs, labels = augmented_copies(
                inputs, labels, self.n, num_aug, np.random.default_rng([self.config.seed, 2])
            )
            difficulty = np.repeat(difficulty, 1 + num_aug)
        return Split(
            inputs=torch.from_numpy(inputs),
            labels=torch.from_numpy(labels),
            puzzle_ids=torch.zeros(len(inputs), dtype=torch.int64),
            difficulty=torch.as_tensor(difficulty, dtype=torch.float32),
            bucket=torch.from_numpy(self.bucket_of(difficulty).astype(np.int64)),
        )

    def canonical_forms(self, split: Split) -> list[Hashable]:
        """Each row's puzzle up to the augmentation group (`symmetry.invariant` of its givens), for
        `looped_hrm.overlap`: equal for equivalent puzzles. On 4×4 and 6×6 it partitions puzzles
        exactly as a brute-force canonical form does (tests/tasks/test_sudoku.py); on 9×9 it
        can merge two inequivalent puzzles (11 pairs in 10k, docs/tasks/sudoku.md), so overlap counts
        are upper bounds there."""
        done: dict[bytes, Hashable] = {}
        keys = []
        for row in split.inputs.numpy():
            raw = row.tobytes()
            if raw not in done:
                done[raw] = symmetry.invariant(row - BLANK, self.n)
            keys.append(done[raw])
        return keys

    def baselines(self, train: Split | None, test: Split) -> dict[str, np.ndarray]:
        """``givens_random``: the givens kept and every blank a random digit that no given of its row,
        column or box rules out (any digit when none is left), seeded by the config: what copying the
        givens and guessing the blanks scores (`looped_hrm.evaluation.baselines`)."""
        n = self.n
        digits = test.inputs.numpy() - BLANK  # [N, n*n], 0 = blank
        peers = np.array(solver.geometry(n).peers)  # [n*n, P]: every cell has as many peers
        ruled_out = (digits[:, peers, None] == np.arange(1, n + 1)).any(axis=2)  # [N, n*n, n]
        draw = np.random.default_rng([self.config.seed, 3]).random(ruled_out.shape)
        guess = 1 + np.argmax(draw + ~ruled_out, axis=2)  # an allowed digit when there is one
        return {"givens_random": np.where(digits > 0, digits, guess) + BLANK}

    # ------------------------------------------------------------------------------- per example

    def augment(
        self, inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        positions, digits = symmetry.random_transforms(rng, 1, self.n)
        return (
            symmetry.apply(np.asarray(inputs)[None], positions, digits, offset=BLANK)[0],
            symmetry.apply(np.asarray(labels)[None], positions, digits, offset=BLANK)[0],
        )

    def verify(self, prediction: np.ndarray, inputs: np.ndarray, labels: np.ndarray | None = None) -> bool:
        return bool(self.verify_batch(np.asarray(prediction)[None], np.asarray(inputs)[None])[0])

    def verify_batch(self, predictions: np.ndarray | torch.Tensor, inputs: np.ndarray | torch.Tensor) -> np.ndarray:
        """``bool[B]``: each prediction is a complete valid grid that keeps its puzzle's givens."""
        if isinstance(predictions, torch.Tensor):
            predictions = predictions.detach().cpu().numpy()
        if isinstance(inputs, torch.Tensor):
            inputs = inputs.detach().cpu().numpy()
        digits = np.asarray(predictions, dtype=np.int64) - 1
        givens = np.clip(np.asarray(inputs, dtype=np.int64) - 1, 0, None)
        if digits.shape != givens.shape or digits.shape[-1] != self.n * self.n:
            raise ValueError(
                f"predictions {digits.shape} and inputs {givens.shape} must both be [B, {self.n * self.n}]"
            )
        return solver.valid_grids(digits, self.n) & solver.consistent(givens, digits)

    def render(self, tokens: np.ndarray) -> str:
        n = self.n
        br, bc = solver.BOX_SHAPES[n]
        tokens = np.asarray(tokens).reshape(n, n)
        sym = {PAD: "_", BLANK: "."} | {d + 1: str(d) for d in range(1, n + 1)}
        rule = "-+-".join("-" * (2 * bc - 1) for _ in range(n // bc))
        rows = []
        for r in range(n):
            if r and r % br == 0:
                rows.append(rule)
            cells = [sym.get(int(t), "?") for t in tokens[r]]
            rows.append(" | ".join(" ".join(cells[c : c + bc]) for c in range(0, n, bc)))
        return "\n".join(rows)

    def parse(self, text: str) -> np.ndarray:
        """A puzzle typed by a user: the n² cells row by row, digits 1..n and ``0``, ``.`` or ``_`` for a
        blank; spaces, line breaks and `render`'s rules (``| - +``) are skipped, so a rendering reads back."""
        n = self.n
        cells = [c for c in text if c not in " \t\r\n|-+"]
        if len(cells) != n * n:
            raise ValueError(f"a {n}×{n} Sudoku has {n * n} cells (digits 1-{n}, 0 or . for a blank), got {len(cells)}")
        bad = sorted({c for c in cells if c not in "0._" and not (c.isdigit() and 1 <= int(c) <= n)})
        if bad:
            raise ValueError(f"not a digit 1-{n} or a blank (0 . _): {' '.join(map(repr, bad))}")
        return np.array([BLANK if c in "0._" else int(c) + 1 for c in cells], dtype=np.int64)

    def picture(self, tokens: np.ndarray, inputs: np.ndarray) -> GridPicture:
        """Givens on grey in black, the model's digits in blue, digits that break a rule in red."""
        n = self.n
        tokens, inputs = np.asarray(tokens).reshape(n, n), np.asarray(inputs).reshape(n, n)
        digits = np.where((tokens >= 2) & (tokens <= n + 1), tokens - 1, 0)
        given = inputs >= 2
        clash = np.zeros(n * n, dtype=bool)
        flat = digits.ravel()
        for unit in solver.geometry(n).unit_array():
            values = flat[unit]
            counts = np.bincount(values, minlength=n + 1)
            clash[unit] |= (values > 0) & (counts[values] > 1)
        clash = clash.reshape(n, n) | (given & (tokens != inputs))
        colours = np.ones((n, n, 3))
        colours[given] = 0.88
        text = np.where(digits > 0, digits.astype(str), "")
        text_colours = np.zeros((n, n, 3))
        text_colours[~given] = (0.1, 0.3, 0.85)
        text_colours[clash] = (0.85, 0.1, 0.1)
        return GridPicture(colours=colours, text=text, text_colours=text_colours, box=solver.BOX_SHAPES[n])


def augmented_copies(
    inputs: np.ndarray, labels: np.ndarray, n: int, num_aug: int, rng: np.random.Generator, chunk: int = 65536
) -> tuple[np.ndarray, np.ndarray]:
    """Each puzzle followed by ``num_aug`` random transforms of it (the same one for its input and
    label): ``[N * (1 + num_aug), n*n]`` tokens. Chunked, so 1000 × 1001 copies stay within memory."""
    count, cells = inputs.shape
    out_in = np.empty((count, 1 + num_aug, cells), dtype=np.int64)
    out_lab = np.empty_like(out_in)
    out_in[:, 0], out_lab[:, 0] = inputs, labels
    source = np.repeat(np.arange(count), num_aug)
    slots = np.tile(np.arange(1, 1 + num_aug), count)
    for start in range(0, len(source), chunk):
        rows, slot = source[start : start + chunk], slots[start : start + chunk]
        positions, digits = symmetry.random_transforms(rng, len(rows), n)
        out_in[rows, slot] = symmetry.apply(inputs[rows], positions, digits, offset=BLANK)
        out_lab[rows, slot] = symmetry.apply(labels[rows], positions, digits, offset=BLANK)
    return out_in.reshape(-1, cells), out_lab.reshape(-1, cells)


# ------------------------------------------------------------------------------------------ plugin

_EXTREME_1K = {
    "size": 9,
    "train_file": FORUM_HARDEST,
    "test_file": FORUM_HARDEST,
    "num_train": 1000,
    "num_aug": 1000,
    "num_test": 2000,
    "difficulty": ["hard", "extreme"],
    "dedup": "symmetry",
}

PRESETS = {
    # 4×4 with 8 givens: about a thousand puzzles up to symmetry (minimal 4×4 puzzles: 36), enough for a
    # test set inequivalent to every training puzzle
    "tiny": {"size": 4, "givens": 8, "num_train": 256, "num_test": 128, "num_aug": 3, "dedup": "symmetry"},
    # test: equal shares of the easy/medium/hard rounds buckets (1-2 / 3 / 4 rounds), so compute per difficulty
    # has three buckets to compare; train: the generator's natural mix
    "small": {
        "size": 6,
        "givens": 18,
        "num_train": 2000,
        "num_test": 600,  # 200 per bucket: the default run's evaluations stay within its 10-minute budget
        "num_aug": 4,
        "dedup": "symmetry",
        "difficulty_measure": "rounds",
        "test_difficulty": ["easy", "medium", "hard"],
    },
    "paper": _EXTREME_1K,
    "extreme_1k": _EXTREME_1K,
}
