"""The maze task: generators, shortest-path verifier, encoding, augmentation, cache, reference data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from looped_hrm.config import ConfigError, plugin_config
from looped_hrm.contracts import IGNORE_INDEX, Task
from looped_hrm.plugins.tasks.maze import grid as mg
from looped_hrm.plugins.tasks.maze import task as maze_module
from looped_hrm.plugins.tasks.maze.jsonl import MazeFileError, load_maze_jsonl
from looped_hrm.plugins.tasks.maze.task import MazeConfig, MazeTask
from looped_hrm.plugins.tasks.reference_data import ROOT as DATA
from looped_hrm.registry import get_registry

REFERENCE_FILES = {
    "maze_dataset_dfs_g5.jsonl": 500,
    "maze_dataset_dfs_g9.jsonl": 1000,
    "maze_dataset_dfs_g15.jsonl": 500,
}


def grid_of(rows: list[str]) -> np.ndarray:
    return np.array([[".# SGo".index(ch) for ch in row] for row in rows], dtype=np.int64)


def tiny(**overrides) -> MazeTask:
    spec = get_registry().get("task", "maze")
    return spec.factory(plugin_config(spec, "tiny", overrides))


# Two shortest routes of 4 moves (over the top or along the left) around the central pillar.
TWO_ROUTES = ["#####", "#S  #", "# # #", "#  G#", "#####"]
# A direct route of 4 moves and a detour of 8 moves.
SHORT_AND_LONG = ["#######", "#S   G#", "# ### #", "#     #", "#######", "#######", "#######"]


# ------------------------------------------------------------------------------------- verifier


def test_verifier_accepts_every_shortest_path_not_only_the_stored_one():
    grid = grid_of(TWO_ROUTES)
    over_top = grid_of(["#####", "#Soo#", "# #o#", "#  G#", "#####"])
    left_side = grid_of(["#####", "#S  #", "#o# #", "#ooG#", "#####"])
    assert mg.is_shortest_path(over_top, grid) and mg.is_shortest_path(left_side, grid)
    assert mg.shortest_path_length(grid) == 4
    assert mg.is_shortest_path(mg.solve(grid), grid)


def test_verifier_rejects_longer_paths_walls_gaps_and_edits():
    grid = grid_of(SHORT_AND_LONG)
    assert mg.is_shortest_path(grid_of(["#######", "#SoooG#", "# ### #", "#     #"] + ["#######"] * 3), grid)
    detour = grid_of(["#######", "#S   G#", "#o###o#", "#ooooo#"] + ["#######"] * 3)
    assert not mg.is_shortest_path(detour, grid)  # a valid path, but 8 moves instead of 4
    two = grid_of(TWO_ROUTES)
    bad = {
        "through the pillar": ["#####", "#So #", "# o #", "#  G#", "#####"],
        "gap in the path": ["#####", "#Soo#", "# # #", "#  G#", "#####"],
        "extra path cell": ["#####", "#Soo#", "#o#o#", "#  G#", "#####"],
        "no path": TWO_ROUTES,
        "wall erased": ["#####", "#Soo#", "# #o#", "#  G ", "#####"],
        "goal moved": ["#####", "#Soo#", "# #oG", "#   #", "#####"],
        "path over the start": ["#####", "#ooo#", "# #o#", "#  G#", "#####"],
    }
    for why, rows in bad.items():
        assert not mg.is_shortest_path(grid_of(rows), two), why
    assert not mg.is_shortest_path(np.array([5, 5]), two)  # wrong shape


def test_unreachable_goal_is_answered_by_painting_nothing():
    grid = grid_of(["#####", "#S# #", "### #", "#  G#", "#####"])
    assert mg.shortest_path_length(grid) == -1
    assert mg.is_shortest_path(grid, grid)
    assert not mg.is_shortest_path(grid_of(["#####", "#S# #", "###o#", "#  G#", "#####"]), grid)


def test_task_verify_is_label_free_and_works_on_flat_tokens():
    task = tiny()
    assert isinstance(task, Task) and task.label_free_verify
    test = task.build("test")
    x, y = test.inputs[0].numpy(), test.labels[0].numpy()
    assert task.verify(y, x, labels=None)
    assert not task.verify(x, x)  # the unanswered grid paints no path


# ---------------------------------------------------------------------------------- generation


@pytest.mark.parametrize("generator", ["dfs", "loops", "random"])
@pytest.mark.parametrize("size", [5, 8, 13])
def test_generated_labels_are_shortest_paths(generator: str, size: int):
    rng = np.random.default_rng(size)
    for _ in range(20):
        x, y, d = mg.sample_maze(size, generator, rng, min_path_length=3)
        assert x.shape == y.shape == (size, size)
        assert d >= 3 and d == mg.shortest_path_length(x)
        assert (y == mg.PATH).sum() == d - 1
        assert mg.is_shortest_path(y, x)
        assert set(np.unique(x)) <= {mg.WALL, mg.OPEN, mg.START, mg.GOAL}


def test_dfs_mazes_are_perfect_and_loops_add_cycles():
    # A perfect maze on g×g cells is a spanning tree: g² cells joined by g² − 1 openings.
    rng = np.random.default_rng(0)
    g = len(mg.cell_coords(15))
    tree = mg.carve_dfs(15, rng)
    assert tree.sum() == g * g + (g * g - 1)
    assert mg.knock_out_walls(tree, 0.2, rng).sum() > tree.sum()
    assert not mg.knock_out_walls(tree, 1.0, rng)[0].any()  # the border stays


def test_hard_30x30_mazes_reach_the_paper_filter():
    rng = np.random.default_rng(0)
    for _ in range(2):
        x, y, d = mg.sample_maze(30, "loops", rng, min_path_length=111)
        assert d >= 111 and mg.is_shortest_path(y, x)


def test_impossible_filter_fails_with_a_clear_message():
    with pytest.raises(RuntimeError, match="min_path_length"):
        mg.sample_maze(5, "dfs", np.random.default_rng(0), min_path_length=100, max_attempts=50)


# ---------------------------------------------------------------------------------- task splits


def test_shapes_encoding_and_buckets():
    task = tiny()
    assert task.info.vocab_size == 6 and task.info.seq_len == 49 and task.info.num_puzzle_ids == 1
    train, test = task.build("train"), task.build("test")
    assert train.inputs.shape == (256, 49) and test.inputs.shape == (64, 49)
    for split in (train, test):
        assert set(split.inputs.unique().tolist()) <= {1, 2, 3, 4}
        assert set(split.labels.unique().tolist()) <= {1, 2, 3, 4, 5}
        assert (split.puzzle_ids == 0).all()
        assert (split.difficulty >= 4).all()  # tiny's min_path_length
        assert split.bucket.tolist() == np.searchsorted(task.bucket_edges, split.difficulty.numpy(), "right").tolist()
    assert task.bucket_names == ("<7", "7-13", "14-27", ">=28")
    for x, y, d in zip(test.inputs.numpy(), test.labels.numpy(), test.difficulty.numpy()):
        assert task.verify(y, x) and mg.shortest_path_length(x.reshape(7, 7)) == d


def test_deterministic_per_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def fresh(seed: int, cache: str):
        monkeypatch.setenv("LOOPED_HRM_CACHE", str(tmp_path / cache))  # generate, do not read a cache
        return tiny(seed=seed).build("train")

    a, b, c = fresh(1, "a"), fresh(1, "b"), fresh(2, "c")
    assert a.inputs.equal(b.inputs) and a.labels.equal(b.labels) and a.difficulty.equal(b.difficulty)
    assert not a.inputs.equal(c.inputs)


def test_test_split_excludes_train_mazes_and_their_symmetries():
    # 3×3 cells: ~14k distinct dfs mazes, so 100 train × 8 symmetries would meet ~3 of 50 test draws.
    task = tiny(generator="dfs", min_path_length=1, num_train=100, num_test=50)
    seen = {mg.dihedral(x.reshape(7, 7), k).tobytes() for x in task.build("train").inputs.numpy() for k in range(8)}
    test = task.build("test").inputs.numpy()
    assert all(x.reshape(7, 7).tobytes() not in seen for x in test)
    assert len(set(task.canonical_forms(task.build("test")))) == len(test)  # no maze twice, up to symmetry
    with pytest.raises(RuntimeError, match="too few distinct mazes"):
        tiny(size=5, generator="dfs", min_path_length=1, num_train=200, num_test=50).build("test")


def test_test_split_at_another_size():
    """Trained on 7×7 grids, tested on 11×11 ones (the DeepThinking protocol: larger mazes)."""
    task = tiny(test_size=11, min_path_length=2)
    assert task.info.seq_len == 49 and task.info.grid == (7, 7)
    train, test = task.build("train"), task.build("test")
    assert train.inputs.shape[1] == 49 and test.inputs.shape[1] == 121
    assert task.info.grid_at(121) == (11, 11)
    for x, y, d in zip(test.inputs.numpy(), test.labels.numpy(), test.difficulty.numpy()):
        assert task.verify(y, x) and mg.shortest_path_length(x.reshape(11, 11)) == d
    assert "\n" in task.render(test.inputs[0].numpy()) and task.render(test.inputs[0].numpy()).count("\n") == 10
    assert torch.equal(train.inputs, tiny(min_path_length=2).build("train").inputs)  # training data unchanged


def test_augmentation_preserves_validity():
    task = tiny(augment=True, num_train=12)
    train = task.build("train")
    assert len(train) == 8 * 12
    for x, y in zip(train.inputs.numpy(), train.labels.numpy()):
        assert task.verify(y, x)
    base = tiny(num_train=12).build("train")
    assert train.inputs[::8].equal(base.inputs)  # copy 0 of each maze is the original
    assert train.difficulty[::8].repeat_interleave(8).equal(train.difficulty)  # symmetries keep the length
    rng = np.random.default_rng(0)
    for x, y in zip(base.inputs.numpy(), base.labels.numpy()):
        ax, ay = task.augment(x, y, rng)
        assert task.verify(ay, ax)
        assert mg.shortest_path_length(ax.reshape(7, 7)) == mg.shortest_path_length(x.reshape(7, 7))
    assert len(task.build("test")) == 64  # no augmentation at test time


def test_cache_hit_on_second_call(monkeypatch: pytest.MonkeyPatch):
    task = tiny(seed=7)
    first = task.build("train")

    def no_generation(*args, **kwargs):
        raise AssertionError("generated again instead of reading the cache")

    monkeypatch.setattr(mg, "sample_maze", no_generation)
    second = tiny(seed=7).build("train")
    assert first.inputs.equal(second.inputs) and first.labels.equal(second.labels)


def test_presets_and_config_errors():
    spec = get_registry().get("task", "maze")
    assert set(spec.presets) >= {"tiny", "small", "paper"}
    paper = MazeTask(plugin_config(spec, "paper"))
    assert paper.info.seq_len == 900 and paper.config.min_path_length == 111
    assert (paper.config.num_train, paper.config.num_test) == (1000, 1000)
    with pytest.raises(ConfigError, match="size must be >= 5"):
        plugin_config(spec, "tiny", {"size": 3})
    with pytest.raises(ConfigError, match="generator"):
        plugin_config(spec, "tiny", {"generator": "prim"})
    with pytest.raises(ConfigError, match="bucket_edges"):
        plugin_config(spec, "tiny", {"bucket_edges": [10, 5]})
    with pytest.raises(ValueError, match="unknown split"):
        tiny().build("valid")


# ---------------------------------------------------------------- reference mazes (plugins/tasks/data)


def test_reference_mazes_agree_with_bfs_and_verifier():
    """Every stored maze-dataset solution is a shortest path by our BFS and passes our verifier;
    the path touching a wall, a shortcut through a wall (where one exists) and the path lengthened by
    a side step into a dead end are all rejected."""
    counts = {}
    for name, expected in REFERENCE_FILES.items():
        data = load_maze_jsonl(DATA / "maze" / name)
        agreed = through_wall = shortcuts = longer = 0
        for x, y, length in zip(data.inputs, data.labels, data.path_length):
            assert mg.shortest_path_length(x) == length
            assert mg.is_shortest_path(y, x)
            assert np.array_equal(mg.solve(x), y)  # perfect mazes: our BFS finds the very same path
            agreed += 1
            near = _touching(np.isin(y, (mg.PATH, mg.START, mg.GOAL)))
            inner_walls = np.argwhere(near[1:-1, 1:-1] & (x[1:-1, 1:-1] == mg.WALL)) + 1
            if len(inner_walls):
                bad = y.copy()
                bad[tuple(inner_walls[0])] = mg.PATH
                assert not mg.is_shortest_path(bad, x)
                through_wall += 1
            if (shortcut := _shortcut_through_wall(x, y)) is not None:
                assert not mg.is_shortest_path(shortcut, x)
                shortcuts += 1
            side_steps = np.argwhere(near & (y == mg.OPEN))  # open cells touching the route: dead ends
            if len(side_steps):
                detour = y.copy()
                detour[tuple(side_steps[0])] = mg.PATH
                assert not mg.is_shortest_path(detour, x)
                longer += 1
        counts[name] = (agreed, through_wall, shortcuts, longer)
        assert agreed == through_wall == longer == expected, counts[name]
        assert shortcuts > expected / 2, counts[name]  # short or straight paths have no shortcut


def _touching(mask: np.ndarray) -> np.ndarray:
    """Cells 4-adjacent to a cell of ``mask``."""
    near = np.zeros_like(mask)
    near[1:] |= mask[:-1]
    near[:-1] |= mask[1:]
    near[:, 1:] |= mask[:, :-1]
    near[:, :-1] |= mask[:, 1:]
    return near


def _shortcut_through_wall(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """The stored path rerouted through one wall that separates two of its stretches, or None."""
    side = x.shape[0]
    s, g = mg.endpoints(x)
    dist = mg.bfs_distances(mg.passable_cells(x), side, s)
    route = [s] + mg.path_back(dist, side, g) + [g]
    order = {cell: i for i, cell in enumerate(route)}
    for w in np.flatnonzero(x.ravel() == mg.WALL):
        r, c = divmod(int(w), side)
        if not (0 < r < side - 1 and 0 < c < side - 1):
            continue
        at = sorted(order[v] for v in (w - side, w + side, w - 1, w + 1) if v in order)
        if len(at) >= 2 and at[-1] - at[0] > 2:
            cut = y.copy().ravel()
            cut[route[at[0] + 1 : at[-1]]] = mg.OPEN
            cut[[s, g]] = mg.START, mg.GOAL
            cut[w] = mg.PATH
            return cut.reshape(x.shape)
    return None


def test_reference_file_as_task_data_source():
    path = "maze/maze_dataset_dfs_g5.jsonl"  # a relative name: found in the shipped reference data
    task = tiny(size=11, train_file=path, test_file=path, num_train=400, num_test=100)
    train, test = task.build("train"), task.build("test")
    assert (len(train), len(test)) == (400, 100)
    rows = load_maze_jsonl(DATA / path)
    assert np.array_equal(test.inputs[0].numpy().reshape(11, 11), rows.inputs[400])
    assert all(task.verify(y, x) for x, y in zip(test.inputs.numpy(), test.labels.numpy()))
    # A larger canvas pads with PAD; padded cells are not scored.
    padded = tiny(size=13, test_file=path, num_test=5).build("test")
    assert (padded.inputs[:, -13:] == mg.PAD).all() and (padded.labels[:, -13:] == IGNORE_INDEX).all()
    task13 = tiny(size=13, test_file=path, num_test=5)
    assert all(task13.verify(y.clamp(min=0).numpy(), x.numpy()) for x, y in zip(padded.inputs, padded.labels))
    with pytest.raises(ValueError, match="needs rows 401..1400"):
        tiny(size=11, train_file=path, test_file=path, num_train=400, num_test=1000).build("test")
    with pytest.raises(MazeFileError, match="larger than the task's 7×7"):
        tiny(test_file=path, num_test=5).build("test")


# ------------------------------------------------------------------------------------ loader errors


GOOD_ROW = {
    "id": "m0",
    "grid_n": 2,
    "start": [0, 0],
    "end": [1, 1],
    "solution": [[0, 0], [0, 1], [1, 1]],
    "path_len": 3,
    "ascii": ["#####", "#S  #", "### #", "#  E#", "#####"],
}


@pytest.mark.parametrize(
    "change, message",
    [
        (None, "invalid JSON"),
        ({"path_len": 4}, "path_len 4 != 3 cells"),
        ({"solution": [[0, 0], [1, 1]], "path_len": 2}, "jumps from"),
        ({"solution": [[0, 0], [1, 0], [1, 1]]}, "crosses a wall"),
        ({"ascii": ["#####", "#S  #", "### #", "#  X#", "#####"]}, "unknown character"),
        ({"ascii": ["#####", "#S  #"]}, "must be 5 rows of 5 characters"),
        ({"end": [1, 0]}, "not start"),
        ("drop", "missing field"),
    ],
)
def test_loader_errors_name_file_and_line(tmp_path: Path, change, message):
    path = tmp_path / "mazes.jsonl"
    if change is None:
        bad = '{"id": "m1", "grid_n": 2,'
    elif change == "drop":
        bad = json.dumps({k: v for k, v in GOOD_ROW.items() if k != "ascii"})
    else:
        bad = json.dumps({**GOOD_ROW, **change})
    path.write_text(json.dumps(GOOD_ROW) + "\n\n" + bad + "\n")
    with pytest.raises(MazeFileError, match=message) as err:
        load_maze_jsonl(path)
    assert str(err.value).startswith(f"{path}:3:")
    assert load_maze_jsonl(path, limit=1).path_length.tolist() == [4]


def test_module_registers_the_task():
    assert get_registry().get("task", "maze").factory is maze_module.MazeTask
    assert isinstance(MazeTask(MazeConfig(size=9)), Task)


def write_hrm_csv(path: Path, inputs: np.ndarray, labels: np.ndarray) -> None:
    """HRM's Maze-Hard CSV: source,question,answer,rating, grids row-major in the charset '# SGo'."""
    text = lambda grid: "".join(mg.CHARSET[t - 1] for t in grid.reshape(-1))  # noqa: E731
    rows = ["source,question,answer,rating"] + [f"gen,{text(x)},{text(y)},0" for x, y in zip(inputs, labels)]
    path.write_text("\n".join(rows) + "\n")


def test_hrm_maze_csv_reads_back_what_was_written(tmp_path: Path):
    task = tiny(num_test=5)
    inputs, labels, lengths = task._mazes("test")
    path = tmp_path / "test.csv"
    write_hrm_csv(path, inputs, labels)
    from_file = tiny(test_file=str(path), num_test=-1)
    x, y, d = from_file._mazes("test")
    assert np.array_equal(x, inputs) and np.array_equal(y, labels) and np.array_equal(d, lengths)
    assert len(from_file.build("test")) == 5  # num_test=-1: every maze of the file

    bad = tmp_path / "bad.csv"
    bad.write_text("source,question,answer,rating\ngen,#S,#S,0\n")
    with pytest.raises(MazeFileError, match=r"bad\.csv:2: question/answer have 2/2 characters"):
        tiny(test_file=str(bad), num_test=-1)._mazes("test")
    with pytest.raises(ValueError, match="-1: every maze of test_file"):
        tiny(num_test=-1)
