"""Compute estimates for ``--dry-run``: what a grid will cost before anything runs.

Builds each distinct model once (weights on the CPU; the ``paper`` presets take a few seconds)
and multiplies its per-segment FLOPs (`ComputeProfile`) by the training budget, once per config:
the seeds of a config share one row (and its estimate covers all of them). Training cost =
train FLOPs per example-segment × batch × steps, plus one more forward per example-segment when
the halting policy asks for a lookahead (HRM's Q-continue target). Step and FLOPs budgets (a FLOPs
budget shows the steps it buys each model); a budget in epochs or seconds is reported as unknown.
"""

from __future__ import annotations

import math
from typing import Any

from looped_hrm.config import config_hash
from looped_hrm.registry import Registry
from looped_hrm.resolve import Combination


def estimate_rows(combos: list[Combination], registry: Registry) -> list[dict[str, Any]]:
    """One row per task × model × halting config with its seeds: seeds change no cost, so a grid
    of 100,000 seeds is estimated once per config (in seconds) and printed in a few rows."""
    cells: dict[str, list[Combination]] = {}
    hashed: dict[tuple[int, ...], str] = {}  # the seeds of a cell share their config dicts: hash each once
    for combo in combos:
        parts = (combo.task, combo.model, combo.halting, combo.train, combo.eval)
        ids = tuple(map(id, parts))
        if ids not in hashed:
            hashed[ids] = config_hash(*parts, combo.skip_reason)
        cells.setdefault(hashed[ids], []).append(combo)
    profiles: dict[str, Any] = {}
    rows = []
    for group in cells.values():
        combo = group[0]
        row: dict[str, Any] = {
            "task": combo.labels[0],
            "model": combo.labels[1],
            "halting": combo.labels[2],
            "seeds": seeds_text([c.seed for c in group]),
        }
        if combo.skip_reason:
            row.update(
                {
                    "params": "",
                    "fwd GFLOP/segment": "",
                    "steps": "",
                    "est. train PFLOP": "",
                    "note": "skipped: " + combo.skip_reason,
                }
            )
            rows.append(row)
            continue
        built = combo.build(registry)
        key = config_hash(combo.task, combo.model)
        if key not in profiles:
            model = built.model()
            profiles[key] = model.compute_profile()
            del model
        profile = profiles[key]
        policy, train = built.policy, built.train
        per_step = profile.train_flops + (profile.forward_flops if policy.needs_lookahead else 0.0)
        steps = train.steps
        if train.flops_budget is not None:  # an equal-compute budget: the steps it buys this model
            bought = math.ceil(train.flops_budget / (per_step * train.batch_size))
            steps = min(steps, bought) if steps else bought
        estimate = len(group) * per_step * train.batch_size * steps / 1e15 if steps else "unknown"
        row.update(
            {
                "params": f"{profile.trainable_params:,}",
                "fwd GFLOP/segment": round(profile.forward_flops / 1e9, 4),
                "steps": steps or "",
                "est. train PFLOP": estimate,
                "note": "",
            }
        )
        rows.append(row)
    return rows


def seeds_text(seeds: list[int]) -> str:
    """``0,1,2``; a long run of consecutive seeds as ``0..99999``; otherwise how many."""
    if len(seeds) <= 5:
        return ",".join(map(str, seeds))
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}..{seeds[-1]}"
    return f"{len(seeds)} seeds"
