"""The throughput benchmark runs on the CPU too: counted FLOPs agree with the models' formula."""

from __future__ import annotations

import json

import pytest

from looped_hrm.bench.speed import measure, write


@pytest.mark.slow
@pytest.mark.parametrize("model, halting", [("hrm", "act_q"), ("trm", "act_bce")])
def test_speed_row_counts_the_work_of_a_training_step(tmp_path, model, halting):
    row = measure(model, "sudoku", preset="tiny", task_preset="tiny", halting=halting, batch=16, steps=3, warmup=1,
                  compile=False, device="cpu")
    assert row["steps_per_s"] > 0 and row["sequences_per_s"] == pytest.approx(16 * row["steps_per_s"])
    assert row["lookahead"] is (halting == "act_q")
    # FlopCounterMode on a real step vs ComputeProfile's formula (attention/elementwise details differ a little)
    assert row["tflop_per_step_counted"] == pytest.approx(row["tflop_per_step_formula"], rel=0.1)
    assert row["mfu"] is None and not row["recompiled_during_timing"]
    write([row], tmp_path, "cmd")
    write([row], tmp_path, "cmd")  # merged by key, not duplicated
    assert len(json.loads((tmp_path / "speed.json").read_text())["rows"]) == 1
    assert model in (tmp_path / "speed.md").read_text()
