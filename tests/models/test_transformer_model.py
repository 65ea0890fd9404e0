"""The plain transformer baseline: no recurrence, and presets matched to HRM's size or depth."""

from __future__ import annotations

import torch


def test_matched_presets_say_what_they_match(build_model, sudoku_task):
    with torch.device("meta"):
        hrm = build_model("hrm", "paper", task=sudoku_task).compute_profile()
        params = build_model("transformer", "param_matched", task=sudoku_task).compute_profile()
        depth = build_model("transformer", "depth_matched", task=sudoku_task).compute_profile()
        paper = build_model("baseline", "paper", task=sudoku_task).compute_profile()
    assert params.trainable_params == hrm.trainable_params == paper.trainable_params
    assert depth.effective_depth == hrm.effective_depth == 24
    assert depth.forward_flops == hrm.forward_flops  # same blocks applied, once each
    assert "parameters" in params.notes and "depth" in depth.notes


def test_no_recurrence_every_segment_is_one_pass_from_the_input(build_model, make_batch):
    model = build_model("transformer")
    batch = make_batch()
    carry = model.initial_carry(batch)
    assert carry == {}
    carry, first = model.segment(carry, batch)
    _, second = model.segment(carry, batch)
    assert torch.equal(first.logits, second.logits)
    x = model.io.embed(batch.inputs, batch.puzzle_ids, torch.float32)
    assert torch.allclose(first.logits, model.io.logits(model.stack(x, None, model.io.rope())))
    profile = model.compute_profile()
    assert profile.effective_depth == profile.gradient_depth == 2
