"""The throughput benchmark runs on the CPU too: counted FLOPs agree with the models' formula."""

from __future__ import annotations

import json

import pytest

from looped_hrm.experiment.speed import measure, write
from looped_hrm.registry import get_registry


@pytest.mark.slow
@pytest.mark.parametrize("model, halting", [("hrm", "act_q"), ("trm", "act_bce")])
def test_speed_row_counts_the_work_of_a_training_step(tmp_path, model, halting):
    row = measure(
        model,
        "sudoku",
        preset="tiny",
        task_preset="tiny",
        halting=halting,
        batch=16,
        steps=3,
        warmup=1,
        compile=False,
        device="cpu",
    )
    assert row["steps_per_s"] > 0 and row["sequences_per_s"] == pytest.approx(16 * row["steps_per_s"])
    assert row["lookahead"] is (halting == "act_q")
    # FlopCounterMode on a real step vs ComputeProfile's formula (attention/elementwise details differ a little)
    assert row["tflop_per_step_counted"] == pytest.approx(row["tflop_per_step_formula"], rel=0.1)
    assert row["mfu"] is None and row["recompiles_after_warmup"] == 0 and row["compile_s"] is None
    write([row], tmp_path, "cmd")
    write([row], tmp_path, "cmd")  # merged by key, not duplicated
    assert len(json.loads((tmp_path / "speed.json").read_text())["rows"]) == 1
    assert model in (tmp_path / "speed.md").read_text()


@pytest.mark.slow
def test_tokens_count_every_position_the_model_sees():
    """TRM prepends ``puzzle_emb_len`` positions (16 in paper_att: 97 = 81 + 16 on 9x9 Sudoku); tokens/s counts them."""
    row = measure(
        "trm",
        "sudoku",
        preset="tiny",
        task_preset="tiny",
        halting="act_bce",
        batch=4,
        steps=1,
        warmup=1,
        compile=False,
        device="cpu",
        overrides=["model.puzzle_emb_len=3"],
    )
    cells = get_registry().get("task", "sudoku").presets["tiny"]["size"] ** 2
    assert row["seq_positions"] == cells + 3
    assert row["tokens_per_s"] == pytest.approx(4 * (cells + 3) * row["steps_per_s"])
