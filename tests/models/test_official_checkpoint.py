"""Official HRM/TRM checkpoints load into our models through the key table (looped_hrm/training/official.py).

The state dicts here carry the key names that the official ``pretrain.py`` writes for
``torch.compile(ACTLossHead(model))`` — spelled out below from the official module names, not
derived from our table — filled with random tensors; loading must put every tensor where our model
uses it. (Outputs on the same weights were also compared against the official modules themselves:
bit-identical logits and Q logits over 3 segments for HRM, TRM-Att and TRM-MLP in float32 on the
CPU — docs/reference.md §7; that check needs the official code and is not part of CI.)
"""

from __future__ import annotations

import json

import pytest
import torch

from conftest import TINY_TASK, build, random_batch
from looped_hrm import commands
from looped_hrm.config import ConfigError
from looped_hrm.plugins.tasks.sudoku.task import SudokuTask
from looped_hrm.resolve import resolve_combination
from looped_hrm.training.official import load_official

PREFIX = "_orig_mod.model.inner."


def official_names(levels: dict[str, int], mixer: str = "attention", learned_pos: bool = False) -> list[str]:
    names = [
        "H_init",
        "L_init",
        "embed_tokens.embedding_weight",
        "lm_head.weight",
        "q_head.weight",
        "q_head.bias",
        "puzzle_emb.weights",
    ] + (["embed_pos.embedding_weight"] if learned_pos else [])
    for level, layers in levels.items():
        for i in range(layers):
            block = f"{level}.layers.{i}."
            names += (
                [block + "self_attn.qkv_proj.weight", block + "self_attn.o_proj.weight"]
                if mixer == "attention"
                else [block + "mlp_t.gate_up_proj.weight", block + "mlp_t.down_proj.weight"]
            )
            names += [block + "mlp.gate_up_proj.weight", block + "mlp.down_proj.weight"]
    return [PREFIX + n for n in names]


# official name (without prefix) -> ours, written out for one block of each kind
EXPECTED = {
    "hrm": {
        "H_init": "H_init",
        "L_init": "L_init",
        "embed_tokens.embedding_weight": "io.tokens.weight",
        "puzzle_emb.weights": "io.puzzle.weight",
        "lm_head.weight": "io.lm_head.weight",
        "q_head.bias": "io.q_head.bias",
        "H_level.layers.0.self_attn.qkv_proj.weight": "H_level.blocks.0.attn.qkv.weight",
        "L_level.layers.0.self_attn.o_proj.weight": "L_level.blocks.0.attn.out.weight",
        "L_level.layers.0.mlp.gate_up_proj.weight": "L_level.blocks.0.mlp.gate_up.weight",
        "H_level.layers.0.mlp.down_proj.weight": "H_level.blocks.0.mlp.down.weight",
    },
    "trm": {
        "H_init": "y_init",
        "L_init": "z_init",
        "L_level.layers.1.self_attn.qkv_proj.weight": "net.blocks.1.attn.qkv.weight",
        "L_level.layers.0.mlp.down_proj.weight": "net.blocks.0.mlp.down.weight",
    },
}

CASES = {
    "hrm": (dict(), {"H_level": 1, "L_level": 1}, "attention"),
    "hrm_learned": (dict(pos_encodings="learned"), {"H_level": 1, "L_level": 1}, "attention"),
    "trm": (dict(num_layers=2), {"L_level": 2}, "attention"),
    "trm_mlp": (dict(num_layers=2, mixer="mlp", pos_encodings="none"), {"L_level": 2}, "mlp"),
}


def official_state(model: torch.nn.Module, names: list[str], plugin: str) -> dict[str, torch.Tensor]:
    """Random tensors under the official names, shaped like the tensors our model must receive."""
    from looped_hrm.training.official import official_key

    ours = model.state_dict()
    g = torch.Generator().manual_seed(7)
    return {n: torch.randn(ours[official_key(n, plugin)].shape, generator=g) for n in names}


@pytest.mark.parametrize("case", sorted(CASES))
def test_official_state_dict_loads_every_tensor_where_it_belongs(case, tmp_path):
    plugin = case.split("_")[0]
    overrides, levels, mixer = CASES[case]
    model = build(plugin, **overrides)
    names = official_names(levels, mixer, learned_pos=overrides.get("pos_encodings") == "learned")
    state = official_state(model, names, plugin)
    assert len(names) == len(model.state_dict())  # the official checkpoint covers our model exactly
    path = tmp_path / "step_26041"
    torch.save(state, path)
    fresh = build(plugin, seed=1, **overrides)
    load_official(path, plugin, fresh)
    loaded = fresh.state_dict()
    for official, ours in EXPECTED[plugin].items():
        if PREFIX + official in state:
            assert torch.equal(loaded[ours], state[PREFIX + official]), official
    # everything landed somewhere distinct: the loaded model is the state, permuted by names only
    assert sorted(t.sum().item() for t in loaded.values()) == pytest.approx(
        sorted(t.sum().item() for t in state.values())
    )
    batch = random_batch()
    twin = build(plugin, seed=2, **overrides)
    twin.load_state_dict(loaded)
    (_, a), (_, b) = fresh.segment(fresh.initial_carry(batch), batch), twin.segment(twin.initial_carry(batch), batch)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.q_halt, b.q_halt)


def test_a_checkpoint_that_does_not_fit_names_the_key(tmp_path):
    model = build("hrm")
    state = official_state(model, official_names({"H_level": 1, "L_level": 1}), "hrm")
    path = tmp_path / "ckpt"
    torch.save(state, path)
    with pytest.raises(
        ConfigError, match=r"_orig_mod\.model\.inner\.H_init has shape \(32,\), our H_init is \(64,\).*preset"
    ):
        load_official(path, "hrm", build("hrm", hidden_size=64, num_heads=2))
    with pytest.raises(ConfigError, match="lacks H_level.blocks.1"):
        load_official(path, "hrm", build("hrm", H_layers=2))
    with pytest.raises(ConfigError, match="not for model 'transformer'"):
        load_official(path, "transformer", build("transformer"))
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(ConfigError, match="not an official HRM/TRM state dict"):
        load_official(path, "hrm", model)


def test_another_tasks_puzzle_table_starts_every_id_from_the_mean(tmp_path, capsys):
    model = build("hrm")  # TINY_TASK has 3 puzzle ids
    state = official_state(model, official_names({"H_level": 1, "L_level": 1}), "hrm")
    table = torch.randn(5, state[PREFIX + "puzzle_emb.weights"].shape[1])
    state[PREFIX + "puzzle_emb.weights"] = table
    torch.save(state, tmp_path / "ckpt")
    load_official(tmp_path / "ckpt", "hrm", model)
    assert torch.allclose(model.io.puzzle.weight, table.mean(0).expand(TINY_TASK.num_puzzle_ids, -1))
    assert "puzzle-embedding table has 5 ids" in capsys.readouterr().err


def test_eval_of_an_official_checkpoint_builds_no_training_data(tmp_path, capsys, monkeypatch):
    """README: `looped-hrm eval step_26041 --task sudoku --model hrm --preset paper --test-file test.csv`.
    The checkpoint was trained elsewhere, so the preset's training data (a million augmented puzzles
    for `paper`) is never built: eval scores the user's file on the checkpoint's weights alone."""
    built = resolve_combination("sudoku", "hrm", preset="tiny", train={"steps": 1}).build()
    checkpoint = tmp_path / "step_26041"
    torch.save(official_state(built.model(), official_names({"H_level": 1, "L_level": 1}), "hrm"), checkpoint)
    puzzles = built.task.build("test").inputs[:3] - 1  # tokens -> digits, 0 blank
    (tmp_path / "mine.txt").write_text("".join("".join(map(str, p.tolist())) + "\n" for p in puzzles))
    built_splits = []
    build = SudokuTask.build
    monkeypatch.setattr(SudokuTask, "build", lambda task, split: built_splits.append(split) or build(task, split))
    code = commands.main(
        [
            "eval",
            str(checkpoint),
            "--task",
            "sudoku",
            "--model",
            "hrm",
            "--preset",
            "tiny",
            "--test-file",
            str(tmp_path / "mine.txt"),
            "--max-segments",
            "2",
            "--no-progress",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    (record_file,) = (tmp_path / "out" / "evals").glob("*.json")
    record = json.loads(record_file.read_text())
    assert record["metrics"]["policy/examples"] == 3 and set(record["data"]) == {"test", "init_from"}
    assert set(built_splits) == {"test"}
