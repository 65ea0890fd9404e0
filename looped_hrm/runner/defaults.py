"""Training and evaluation settings for a grid given only on the command line.

One row per preset, so ``--tasks sudoku --models hrm,baseline`` means the same budget for every
model (a fair comparison) and ``--preset paper`` means the published recipe. A benchmark YAML
sets these explicitly instead; ``--set train.steps=...`` overrides either.
"""

from __future__ import annotations

from typing import Any

DEFAULT_PRESET = "small"

TRAIN: dict[str, dict[str, Any]] = {
    # seconds per combination on a CPU core: a smoke test of the whole pipeline
    "tiny": {"steps": 300, "batch_size": 32, "lr": 1e-3, "warmup_steps": 30, "max_segments": 4, "log_every": 25},
    # the CPU benchmark default: a few minutes per combination on one core (README's main command: HRM and
    # the baseline x 3 seeds within 10 minutes on 2 cores; three curve points, not four, are part of that)
    "small": {
        "steps": 1000,
        "batch_size": 64,
        "lr": 1e-3,
        "warmup_steps": 100,
        "max_segments": 8,
        "weight_decay": 0.1,
        "log_every": 50,
        "curve_fractions": [0.25, 0.5, 0.75],
    },
    # the official HRM/TRM Sudoku-Extreme recipe (docs/reference.md §3): 20k epochs of 1k puzzles at batch 768
    "paper": {
        "steps": 26041,
        "batch_size": 768,
        "lr": 1e-4,
        "warmup_steps": 2000,
        "max_segments": 16,
        "weight_decay": 1.0,
        "puzzle_emb_lr": 1e-4,
        "puzzle_emb_weight_decay": 1.0,
        "checkpoint_every": 1000,
    },
}

EVAL: dict[str, dict[str, Any]] = {
    "tiny": {"batch_size": 256, "curve": [1, 2, 4, 8], "fixed_segments": 8},
    # fixed pass to the training cap (8): what "compute saved vs fixed" compares with; 16 costs twice as much
    "small": {"batch_size": 256, "curve": [1, 2, 4, 8], "fixed_segments": 8},
    "paper": {"batch_size": 1024, "curve": [1, 2, 4, 8, 16, 32], "fixed_segments": 32},
}


def default_train_eval(preset: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(train, eval) settings for ``preset``; presets without a row use ``small``'s."""
    key = preset if preset in TRAIN else DEFAULT_PRESET
    return dict(TRAIN[key]), dict(EVAL[key])
