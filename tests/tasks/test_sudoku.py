"""The Sudoku task: solver, generator, symmetries, file loaders, splits, verifier, cache."""

from __future__ import annotations

import itertools
import random
import re

import numpy as np
import pytest

from looped_hrm.config import ConfigError, plugin_config
from looped_hrm.contracts import IGNORE_INDEX, Task
from looped_hrm.plugins.tasks.reference_data import ROOT as DATA
from looped_hrm.plugins.tasks.sudoku import files, generator, solver, symmetry
from looped_hrm.plugins.tasks.sudoku.task import FORUM_HARDEST, SudokuTask
from looped_hrm.registry import get_registry

SUDOKU_CSVS = [
    "forum_hardest_1905_11plus_10k.csv",
    "magictour_top1465.csv",
    "norvig_top95.csv",
    "norvig_hardest.csv",
    "royle_17clue_10k.csv",
    "sudokuexchange_diabolical_10k.csv",
]

# Norvig's "hardest" #2 (top95 #2), its solution and its backtracks from the reference CSV.
PUZZLE = "52...6.........7.13...........4..8..6......5...........418.........3..2...87....."
SOLUTION = "527316489896542731314987562172453896689271354453698217941825673765134928238769145"


def digits(text: str) -> list[int]:
    return [0 if ch == "." else int(ch) for ch in text]


def make(preset: str | None = "tiny", **overrides) -> SudokuTask:
    spec = get_registry().get("task", "sudoku")
    return spec.factory(plugin_config(spec, preset, overrides))


# ------------------------------------------------------------------------------------------- solver


def test_solver_solves_counts_and_measures():
    assert solver.solve(digits(PUZZLE)) == digits(SOLUTION)
    assert solver.count_solutions(digits(PUZZLE), limit=5) == 1
    assert solver.backtracks(digits(PUZZLE)) == 75
    fewer = digits(PUZZLE)
    fewer[0] = 0  # a 16-clue 9x9 puzzle never has a unique solution
    assert solver.count_solutions(fewer) == 2
    assert solver.count_solutions([0] * 16, limit=1000) == 288  # every 4x4 grid
    clash = digits(PUZZLE)
    clash[1] = 5  # two 5s in row 1
    assert solver.count_solutions(clash) == 0 and solver.solve(clash) is None
    with pytest.raises(ValueError, match="one solution"):
        solver.backtracks(fewer)
    with pytest.raises(ValueError, match="16, 36 or 81"):
        solver.solve([0] * 20)


def test_removable_agrees_with_counting():
    puzzle = list(generator.candidate(9, seed=0, stream="r", index=0, givens=27).puzzle)
    assert solver.is_unique(puzzle)
    for cell in (c for c, v in enumerate(puzzle) if v):
        reduced = list(puzzle)
        reduced[cell] = 0
        assert solver.removable(puzzle, cell) == solver.is_unique(reduced)


@pytest.mark.parametrize("n", [4, 6, 9])
def test_random_solutions_are_valid(n):
    grids = np.array([solver.random_solution(n, random.Random(i)) for i in range(5)])
    assert solver.valid_grids(grids, n).all()
    assert len({g.tobytes() for g in grids}) == 5


def test_backtracks_match_the_reference_csv_column():
    # The same definition as the CSVs' `backtracks` column (all 31,571 rows agree; a sample here).
    for name in ("norvig_top95.csv", "magictour_top1465.csv", "royle_17clue_10k.csv"):
        data = files.load(DATA / "sudoku" / name)
        for i in range(0, len(data.puzzles), max(1, len(data.puzzles) // 30)):
            assert solver.backtracks(data.puzzles[i].tolist()) == data.backtracks[i], (name, data.lines[i])


# ---------------------------------------------------------------------------------------- generator


@pytest.mark.parametrize("n", [4, 6, 9])
def test_generated_puzzles_are_unique_and_minimal(n):
    for index in range(3 if n == 9 else 10):
        cand = generator.candidate(n, seed=1, stream="test", index=index)
        puzzle = list(cand.puzzle)
        assert solver.search(puzzle, limit=2).solutions == 1
        assert solver.solve(puzzle) == list(cand.solution)
        assert cand.backtracks == solver.backtracks(puzzle)
        assert all(solver.count_solutions(puzzle[:c] + [0] + puzzle[c + 1 :]) == 2 for c in range(n * n) if puzzle[c])


def test_generator_honours_givens_and_buckets():
    cand = generator.candidate(9, seed=0, stream="x", index=0, givens=30)
    assert sum(map(bool, cand.puzzle)) == 30 and solver.is_unique(list(cand.puzzle))
    assert generator.candidate(9, seed=0, stream="x", index=0, givens=17) is None  # cannot get that low
    task = make(None, size=6)  # backtracks buckets
    kept = generator.generate(
        6, {1: 3, 2: 2}, seed=0, stream="t", bucket_of=lambda b: int(task.bucket_of(b)), workers=1
    )
    assert sorted(int(task.bucket_of(c.backtracks)) for c in kept) == [1, 1, 1, 2, 2]
    assert all(solver.is_unique(list(c.puzzle)) for c in kept)
    again = generator.generate(
        6, {1: 3, 2: 2}, seed=0, stream="t", bucket_of=lambda b: int(task.bucket_of(b)), workers=2
    )
    assert [c.puzzle for c in again] == [c.puzzle for c in kept]  # independent of the worker count
    with pytest.raises(generator.GenerationError, match="too rare"):
        generator.generate(4, {2: 1}, seed=0, stream="t", bucket_of=lambda b: int(task.bucket_of(b)), workers=1)


@pytest.mark.slow
def test_hard_9x9_bucket_is_as_hard_as_top1465():
    task = make(None, size=9)
    kept = generator.generate(9, {2: 6}, seed=0, stream="hard", bucket_of=lambda b: int(task.bucket_of(b)))
    measured = np.array([solver.backtracks(list(c.puzzle)) for c in kept])
    assert (task.bucket_of(measured) == 2).all()
    top1465 = np.median(files.load(DATA / "sudoku" / "magictour_top1465.csv").backtracks)
    assert top1465 == 24
    assert np.median(measured) >= top1465 / 3


# ----------------------------------------------------------------------------------------- symmetry


@pytest.mark.parametrize("n", [4, 6, 9])
def test_augmentation_preserves_validity_and_invariant(n):
    rng = np.random.default_rng(n)
    solution = np.array(solver.random_solution(n, random.Random(n)))
    puzzle = np.array(generator.candidate(n, seed=0, stream="s", index=0).puzzle)
    positions, digit_maps = symmetry.random_transforms(rng, 300, n)
    grids = symmetry.apply(solution, positions, digit_maps)
    assert solver.valid_grids(grids, n).all()  # for 6x6 this also shows no transpose was drawn
    assert len({g.tobytes() for g in grids}) > (100 if n == 4 else 250)  # 4x4 has only 288 grids
    moved = symmetry.apply(puzzle, positions[:50], digit_maps[:50])
    assert len({symmetry.invariant(p, n) for p in moved} | {symmetry.invariant(puzzle, n)}) == 1
    task = make(None, size=n)
    sol = np.array(generator.candidate(n, seed=0, stream="s", index=0).solution)
    for _ in range(20):
        inputs, labels = task.augment(puzzle + 1, sol + 1, rng)
        assert task.verify(labels, inputs) and ((inputs == 1) == (labels != inputs)).all()
        assert (inputs == 1).sum() == (puzzle == 0).sum()


def test_transpose_is_drawn_for_square_boxes_only():
    rng = np.random.default_rng(0)
    for n, expected in ((4, True), (9, True), (6, False)):
        positions, _ = symmetry.random_transforms(rng, 400, n)
        # without transposition an output row is one (permuted) input row; transposed it is a column
        source_rows = positions.reshape(-1, n, n)[:, 0, :] // n
        transposed = (source_rows != source_rows[:, :1]).any(axis=1)
        assert (0.4 < transposed.mean() < 0.6) if expected else not transposed.any()


def _line_orders(n: int, group: int) -> list[tuple[int, ...]]:
    """Every order of n lines that moves whole groups of ``group`` lines and the lines inside each."""
    out = []
    for outer in itertools.permutations(range(n // group)):
        for inner in itertools.product(*[list(itertools.permutations(range(group)))] * (n // group)):
            out.append(tuple(g * group + i for g, within in zip(outer, inner) for i in within))
    return out


def brute_canonical(puzzle: np.ndarray, n: int) -> bytes:
    """The smallest reading of ``puzzle`` (digits, 0 blank) over every element of the group: each
    band/row and stack/column order (and transposition for square boxes), digits renumbered by first
    appearance — a canonical form by definition, too slow for 9×9."""
    br, bc = solver.BOX_SHAPES[n]
    grid = np.asarray(puzzle).reshape(n, n)
    views = [grid, grid.T] if br == bc else [grid]
    best = None
    for view in views:
        for rows in _line_orders(n, br):
            moved_rows = view[list(rows)]
            for cols in _line_orders(n, bc):
                cells = moved_rows[:, list(cols)].ravel()
                present = [d for d in dict.fromkeys(cells.tolist()) if d]
                table = np.zeros(n + 1, dtype=np.int8)
                table[present] = np.arange(1, len(present) + 1)
                key = table[cells].tobytes()
                best = key if best is None or key < best else best
    return best


@pytest.mark.parametrize("n, count", [(4, 160), (6, 40)])
def test_invariant_partitions_puzzles_as_a_canonical_form_does(n, count):
    """`canonical_forms` (the invariant) calls two puzzles the same exactly when they are equivalent:
    on generated puzzles, on disguised copies of them, and on the CI preset's test split."""
    rng = np.random.default_rng(n)
    puzzles = [np.array(generator.candidate(n, 0, "canon", i, givens=8 if n == 4 else 18).puzzle) for i in range(count)]
    positions, digit_maps = symmetry.random_transforms(rng, count // 4, n)
    puzzles += list(symmetry.apply(np.stack(puzzles[: count // 4]), positions, digit_maps))
    if n == 4:
        puzzles += list(make("tiny").build("test").inputs.numpy() - 1)
    invariant = [symmetry.invariant(p, n) for p in puzzles]
    canonical = [brute_canonical(p, n) for p in puzzles]
    pairs = list(zip(invariant, canonical))
    assert len(set(invariant)) == len(set(canonical)) == len(set(pairs))  # the same partition
    assert len(set(canonical)) < len(puzzles)  # the disguised copies were found


def test_invariant_separates_the_forum_file():
    data = files.load(DATA / "sudoku" / "forum_hardest_1905_11plus_10k.csv")
    keys = {symmetry.invariant(p, 9) for p in data.puzzles[:2000]}
    assert len(keys) >= 1990  # few inequivalent puzzles collide (1998 distinct values measured)


# ------------------------------------------------------------------------------------------- splits


def test_registered_with_presets():
    spec = get_registry().get("task", "sudoku")
    assert {"tiny", "small", "paper", "extreme_1k"} <= set(spec.presets)
    assert spec.presets["paper"] == spec.presets["extreme_1k"]
    task = make()
    assert isinstance(task, Task) and task.label_free_verify
    assert task.bucket_names == ("easy", "medium", "hard", "extreme")


@pytest.mark.parametrize("n,vocab,seq", [(4, 6, 16), (6, 8, 36), (9, 11, 81)])
def test_info_follows_hrm_encoding(n, vocab, seq):
    info = make(None, size=n).info
    assert (info.vocab_size, info.seq_len, info.num_puzzle_ids) == (vocab, seq, 1)


def test_shapes_dtypes_and_encoding():
    task = make()
    train, test = task.build("train"), task.build("test")
    assert train.inputs.shape == (256 * 4, 16) and test.inputs.shape == (128, 16)
    for split in (train, test):
        assert split.inputs.dtype == split.labels.dtype == split.puzzle_ids.dtype == split.bucket.dtype
        assert str(split.inputs.dtype) == "torch.int64" and str(split.difficulty.dtype) == "torch.float32"
        assert ((split.inputs >= 1) & (split.inputs <= 5)).all()  # blank 1, digits 2..5, never PAD
        assert ((split.labels >= 2) & (split.labels <= 5)).all() and not (split.labels == IGNORE_INDEX).any()
        given = split.inputs > 1
        assert (split.inputs[given] == split.labels[given]).all()
        assert (split.puzzle_ids == 0).all()
        assert task.verify_batch(split.labels, split.inputs).all()
        assert (split.bucket.numpy() == task.bucket_of(split.difficulty.numpy())).all()
    # each training puzzle is followed by its 3 augmented copies, which share its difficulty
    groups = train.difficulty.view(-1, 4)
    assert (groups == groups[:, :1]).all()
    givens = (train.inputs.view(-1, 4, 16) > 1).sum(2)
    assert (givens == givens[:, :1]).all()


def test_deterministic_per_seed(tmp_path, monkeypatch):
    first = make().build("train")
    monkeypatch.setenv("LOOPED_HRM_CACHE", str(tmp_path))  # rebuild from scratch
    again = make().build("train")
    other = make(seed=1).build("train")
    assert (first.inputs == again.inputs).all() and (first.labels == again.labels).all()
    assert not (first.inputs == other.inputs).all()


def test_cache_hit_on_second_call(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPED_HRM_CACHE", str(tmp_path))
    task = make()
    first = task.build("test")
    assert len(list((tmp_path / "sudoku").glob("test-*.npz"))) == 1
    monkeypatch.setattr(task, "_build", lambda split: pytest.fail("rebuilt instead of loading the cache"))
    assert (task.build("test").inputs == first.inputs).all()


def test_small_preset_train_and_test_are_inequivalent():
    task = make("small", num_train=60, num_test=60, num_aug=1)
    train, test = task.build("train"), task.build("test")
    train_keys = {symmetry.invariant(p, 6) for p in train.inputs.numpy()[::2] - 1}
    test_keys = {symmetry.invariant(p, 6) for p in test.inputs.numpy() - 1}
    assert len(train_keys) == 60 and len(test_keys) == 60 and not train_keys & test_keys
    assert ((test.inputs > 1).sum(1) == 18).all()
    # the test split spans three difficulty buckets (rounds of singles) in equal shares
    assert sorted(test.bucket.tolist()) == [0] * 20 + [1] * 20 + [2] * 20
    assert [task.bucket_names[b] for b in range(3)] == ["easy", "medium", "hard"]


def test_singles_rounds_count_parallel_deduction_steps():
    solution = [1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1]
    assert solver.singles_rounds(solution) == 0
    one_blank = [0] + solution[1:]
    assert solver.singles_rounds(one_blank) == 1
    # a chain: the second blank only becomes a single once the first is filled
    chain = [0, 0, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1]
    assert solver.singles_rounds(chain) == 1  # both are naked singles at once
    puzzle = digits(PUZZLE)
    assert solver.singles_rounds(puzzle) == -1  # Norvig's hardest needs search
    for seed in range(5):
        cand = generator.candidate(6, seed=seed, stream="r", index=0, givens=18, measure="rounds")
        assert cand.rounds >= 1 and cand.difficulty("rounds") == cand.rounds
    assert generator.rounds_difficulty(-1) == generator.STUCK


def test_rounds_buckets_from_a_file(tmp_path):
    task = make(
        None,
        size=9,
        train_file="sudoku/norvig_top95.csv",
        test_file="sudoku/norvig_top95.csv",
        num_train=10,
        num_test=10,
        difficulty_measure="rounds",
    )
    test = task.build("test")
    expected = [generator.rounds_difficulty(solver.singles_rounds(list(p - 1))) for p in test.inputs.numpy()]
    assert test.difficulty.tolist() == expected


def test_difficulty_filter_gives_equal_shares():
    task = make(
        None,
        size=6,
        num_train=4,
        num_test=6,
        num_aug=4,
        difficulty=["easy", "medium"],
        test_difficulty=["medium", "hard"],
    )
    assert sorted(task.build("test").bucket.tolist()) == [1, 1, 1, 2, 2, 2]
    assert sorted(task.build("train").bucket.tolist()) == [0] * 10 + [1] * 10  # 4 puzzles x (1 + 4 copies)


def test_paper_preset_holds_out_hard_forum_puzzles():
    task = make("paper", num_train=100, num_aug=2, num_test=200)
    train, test = task.build("train"), task.build("test")
    assert train.inputs.shape == (300, 81) and test.inputs.shape == (200, 81)
    assert (train.difficulty >= 10).all() and (test.difficulty >= 10).all()
    assert task.verify_batch(train.labels, train.inputs).all()
    originals = train.inputs.numpy()[::3] - 1
    train_keys = {symmetry.invariant(p, 9) for p in originals}
    test_keys = {symmetry.invariant(p, 9) for p in test.inputs.numpy() - 1}
    assert len(train_keys) == 100 and len(test_keys) == 200 and not train_keys & test_keys
    forum = files.load(DATA / "sudoku" / "forum_hardest_1905_11plus_10k.csv")
    rows = {p.tobytes() for p in forum.puzzles.astype(np.int8)}
    assert all(p.astype(np.int8).tobytes() in rows for p in originals)


def test_user_file_as_train_and_test_source(tmp_path):
    rows = (DATA / "sudoku" / "norvig_top95.csv").read_text().splitlines()
    (tmp_path / "mine.csv").write_text("\n".join(rows[:41]) + "\n")
    plain = tmp_path / "plain.txt"
    plain.write_text("# twelve puzzles, no solutions\n" + "\n".join(r.split(",")[0] for r in rows[60:72]) + "\n")
    task = make(
        None, size=9, train_file="mine.csv", test_file=str(plain), data_dir=str(tmp_path), num_train=-1, num_test=-1
    )
    test, train = task.build("test"), task.build("train")
    assert len(test) == 12 and 0 < len(train) <= 40
    assert task.verify_batch(test.labels, test.inputs).all()
    # a training file holding a disguised test puzzle: it is dropped
    puzzle = test.inputs.numpy()[0] - 1
    positions, digit_maps = symmetry.random_transforms(np.random.default_rng(0), 1, 9)
    disguised = symmetry.apply(puzzle, positions, digit_maps)[0]
    (tmp_path / "leak.txt").write_text("".join(map(str, disguised)) + "\n" + rows[1].split(",")[0] + "\n")
    leak = make(
        None, size=9, train_file="leak.txt", test_file=str(plain), data_dir=str(tmp_path), num_train=-1, num_test=-1
    )
    assert len(leak.build("train")) == 1


@pytest.mark.parametrize("dedup", ["none", "exact", "symmetry"])
def test_one_file_split_into_disjoint_train_and_test(tmp_path, dedup):
    rows = (DATA / "sudoku" / "norvig_top95.csv").read_text().splitlines()
    (tmp_path / "one.csv").write_text("\n".join(rows[:31] + rows[1:6]) + "\n")  # 30 puzzles, 5 repeated
    task = make(
        None,
        size=9,
        train_file="one.csv",
        test_file="one.csv",
        data_dir=str(tmp_path),
        num_train=-1,
        num_test=10,
        dedup=dedup,
    )
    train, test = task.build("train"), task.build("test")
    train_rows = {p.tobytes() for p in train.inputs.numpy()}
    test_rows = {p.tobytes() for p in test.inputs.numpy()}
    assert len(test) == 10 and not train_rows & test_rows  # never the same puzzle on both sides
    assert len(train_rows) == 30 - len(test_rows)
    if dedup == "none":  # repeats stay (in one split or the other)
        assert len(train) + len(test) > 30
    else:
        assert len(test_rows) == 10 and len(train) == 20


def test_missing_data_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPED_HRM_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(files.SudokuFileError, match="'sudoku/mine.csv' not found; tried .*nowhere.*LOOPED_HRM_DATA"):
        make(None, size=9, test_file="sudoku/mine.csv").build("test")


def test_shipped_file_found_beside_a_user_data_folder(tmp_path, monkeypatch):
    # $LOOPED_HRM_DATA adds the user's folder; the paper preset's shipped forum file is still found
    monkeypatch.setenv("LOOPED_HRM_DATA", str(tmp_path))
    assert files.resolve(FORUM_HARDEST) == DATA / FORUM_HARDEST
    (tmp_path / "sudoku").mkdir()
    (tmp_path / FORUM_HARDEST).write_text("puzzle,solution\n")
    assert files.resolve(FORUM_HARDEST) == tmp_path / FORUM_HARDEST  # the user's copy comes first


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="unknown bucket"):
        make(difficulty=["impossible"])
    with pytest.raises(ConfigError, match="bucket_edges"):
        make(bucket_edges=[5, 2, 9])
    with pytest.raises(ConfigError, match="size"):
        make(size=5)
    with pytest.raises(ValueError, match="needs a train_file"):
        make(num_train=-1).build("train")


# ----------------------------------------------------------------------------------------- verifier


def test_verifier_on_good_and_bad_answers():
    task = make(None, size=9)
    inputs = np.array(digits(PUZZLE)) + 1
    labels = np.array(digits(SOLUTION)) + 1
    assert task.verify(labels, inputs) and task.verify(labels, inputs, labels)
    changed = np.repeat(labels[None], 81 * 8, axis=0)
    for k, (cell, new) in enumerate((c, d) for c in range(81) for d in range(2, 11) if d != labels[c]):
        changed[k, cell] = new
    assert not task.verify_batch(changed, np.broadcast_to(inputs, changed.shape)).any()
    assert not task.verify(np.where(inputs == 1, 0, labels), inputs)  # PAD left in blanks
    # another valid grid that breaks a given, and a second solution of an improper puzzle
    swap = labels.copy()
    swap[labels == 2], swap[labels == 3] = 3, 2  # exchange digits 1 and 2 everywhere
    assert not task.verify(swap, inputs)
    improper = np.where((labels == 2) | (labels == 3), 1, labels)  # digits 1, 2 never given
    assert task.verify(swap, improper) and task.verify(labels, improper)


def test_render_draws_boxes():
    task = make(None, size=6)
    picture = task.render(np.arange(36) % 8)
    lines = picture.splitlines()
    assert len(lines) == 6 + 2 and lines[2] == "------+------" and lines[0].startswith("_ . 1 | 2 3 4")


# ------------------------------------------------------------------------------------------ loaders


def test_every_reference_csv_row_loads_and_verifies():
    task = make(None, size=9)
    rng = np.random.default_rng(0)
    for name in SUDOKU_CSVS:
        data = files.load(DATA / "sudoku" / name, size=9)
        inputs, labels = data.puzzles.astype(np.int64) + 1, data.solutions.astype(np.int64) + 1
        assert len(data.puzzles) > 0 and task.verify_batch(labels, inputs).all(), name
        broken = labels.copy()
        cells = rng.integers(0, 81, len(broken))
        rows = np.arange(len(broken))
        broken[rows, cells] = (broken[rows, cells] - 2 + rng.integers(1, 9, len(broken))) % 9 + 2
        assert not task.verify_batch(broken, inputs).any(), name


def test_hrm_csv_and_plain_lines(tmp_path):
    reference = files.load(DATA / "sudoku" / "norvig_top95.csv")
    rows = (DATA / "sudoku" / "norvig_top95.csv").read_text().splitlines()[1:11]
    hrm = tmp_path / "hrm.csv"
    hrm.write_text(
        "source,question,answer,rating\n" + "".join(f"forum,{r.split(',')[0]},{r.split(',')[1]},7\n" for r in rows)
    )
    plain = tmp_path / "plain.txt"
    plain.write_text(
        "\n".join(
            r.split(",")[0].replace(".", "0") + ("  " + r.split(",")[1] if i % 2 else "") for i, r in enumerate(rows)
        )
        + "\n"
    )
    for path in (hrm, plain):
        data = files.load(path)
        assert (data.puzzles == reference.puzzles[:10]).all() and (data.solutions == reference.solutions[:10]).all()
        assert (data.backtracks == reference.backtracks[:10]).all()  # re-measured, not HRM's rating


GOOD = PUZZLE + "," + SOLUTION + ",17,75"


@pytest.mark.parametrize(
    "row,message",
    [
        (PUZZLE[:-1] + "," + SOLUTION + ",17,75", "puzzle has 80 characters, expected 81"),
        (PUZZLE[:-1] + "x," + SOLUTION + ",17,75", "puzzle has 'x' at position 81"),
        (PUZZLE + "," + SOLUTION + ",18,75", "'clues' says 18 but the puzzle has 17 givens"),
        (PUZZLE + "," + SOLUTION + ",17,many", "'backtracks' must be an integer"),
        (PUZZLE + "," + SOLUTION + ",17", "3 fields, the header has 4"),
        (PUZZLE + "," + SOLUTION[1:] + SOLUTION[0] + ",17,75", "solution is not a valid 9×9 grid: row 1"),
        (PUZZLE + "," + SOLUTION.translate(str.maketrans("52", "25")) + ",17,75", "where the puzzle gives 5"),
    ],
)
def test_malformed_reference_csv_rows_name_file_and_line(tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text(f"puzzle,solution,clues,backtracks\n{GOOD}\n{row}\n")
    with pytest.raises(files.SudokuFileError, match=f"^{re.escape(str(path))}:3: .*{message}"):
        files.load(path)


def test_malformed_plain_lines_name_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(f"{PUZZLE}\n\n{'.' * 81}\n")
    with pytest.raises(files.SudokuFileError, match=f"^{re.escape(str(path))}:3: puzzle has 2 solutions"):
        files.load(path)
    path.write_text(f"{PUZZLE} {SOLUTION} extra\n")
    with pytest.raises(files.SudokuFileError, match=f"^{re.escape(str(path))}:1: expected a puzzle"):
        files.load(path)
    path.write_text(f"{PUZZLE}\n")
    with pytest.raises(files.SudokuFileError, match=f"^{re.escape(str(path))}:1: puzzle is 9×9 but the task is 6×6"):
        files.load(path, size=6)


def test_too_rare_puzzles_are_one_line_from_the_command(capsys, tmp_path):
    """A grid asking for more distinct hard 4x4 puzzles than exist (only a few up to symmetry) once
    ended in a GenerationError traceback from `run`; it is a config error: one line, exit 2."""
    from looped_hrm.commands import main

    argv = ["run", "--tasks", "sudoku", "--models", "hrm", "--preset", "tiny", "--out", str(tmp_path)]
    argv += ["--set", "task.givens=8", "--set", "task.difficulty_measure=rounds"]  # (34 of 48 exist: ~17 s)
    argv += ["--set", "task.test_difficulty=[easy,medium,hard]", "--set", "task.num_test=48"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "ask for fewer or easier puzzles" in err[0]
