"""``fixed``: every example runs the same number of segments (what the papers report at test time).

The policy never asks to stop; the engine stops every row at its ``max_segments``. With
``segments`` set, rows stop earlier, at that count (e.g. train with 8 segments, evaluate with 16).
The loss is the task loss alone: the model's halting head, if it has one, is left untrained.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from looped_hrm.contracts import HaltContext, HaltDecision, HaltingSpec, PolicyState, SegmentOutput
from looped_hrm.plugins.halting.base import PolicyBase


@dataclass
class FixedConfig:
    segments: int | None = None  # stop every row after this many segments (None: the engine's maximum)

    def __post_init__(self) -> None:
        if self.segments is not None and self.segments < 1:
            raise ValueError(f"segments must be >= 1, got {self.segments}")


class FixedPolicy(PolicyBase):
    name = "fixed"

    def __init__(self, config: FixedConfig | None = None) -> None:
        self.config = config or FixedConfig()

    @property
    def runs_to_cap(self) -> bool:  # type: ignore[override]
        """Without ``segments`` every row runs to the engine's cap: the policy pass is the fixed one."""
        return self.config.segments is None

    def step(self, output: SegmentOutput, state: PolicyState, ctx: HaltContext) -> HaltDecision:
        if self.config.segments is None:
            halt = torch.zeros_like(ctx.correct)
        else:
            halt = ctx.steps >= self.config.segments
        return HaltDecision(halt=halt, state=state)


SPEC = HaltingSpec(
    name="fixed",
    factory=FixedPolicy,
    config=FixedConfig,
    description="always the maximum number of segments (the papers' evaluation setting)",
)
