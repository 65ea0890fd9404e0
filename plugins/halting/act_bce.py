"""``act_bce``: TRM's simplification of HRM halting (arXiv 2510.04871, §4.6; ``no_ACT_continue``).

Halt when ``sigmoid(q_halt) > threshold`` (0.5, i.e. ``q_halt > 0``); the halting head is trained
by binary cross-entropy against "the whole answer is right now". No continue logit, no extra
forward. Loss: ``lm + q_loss_weight * BCE(q_halt, correct)``, ``lm`` added by the engine (TRM keeps the 0.5 weight). The same
exploration floor as ``act_q`` applies in training (TRM keeps it too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from looped_hrm.contracts import HaltContext, HaltDecision, HaltingSpec, PolicyState, SegmentOutput
from looped_hrm.plugins.halting.base import PolicyBase, bce, count, exploration_floor, require_q_halt


@dataclass
class ActBceConfig:
    threshold: float = 0.5  # halt when sigmoid(q_halt) exceeds it
    exploration_prob: float = 0.1  # as in act_q
    q_loss_weight: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if not 0 <= self.exploration_prob <= 1:
            raise ValueError(f"exploration_prob must be in [0, 1], got {self.exploration_prob}")


class ActBcePolicy(PolicyBase):
    name = "act_bce"
    levels = frozenset({"segment"})
    needs_q_head = True

    def __init__(self, config: ActBceConfig | None = None) -> None:
        self.config = config or ActBceConfig()
        self._logit_threshold = math.log(self.config.threshold / (1 - self.config.threshold))

    def step(self, output: SegmentOutput, state: PolicyState, ctx: HaltContext) -> HaltDecision:
        q_halt = require_q_halt(output, self.name)
        halt = (q_halt > self._logit_threshold) & (ctx.steps >= exploration_floor(ctx, self.config.exploration_prob))
        halt_loss = bce(q_halt, ctx.correct)
        loss = self.config.q_loss_weight * halt_loss.sum()
        metrics = {
            "q_halt_loss": halt_loss.detach().sum(),
            "q_halt_accuracy": count((q_halt.detach() >= 0) == ctx.correct),
        }
        return HaltDecision(halt=halt, loss=loss, state=state, metrics=metrics)


SPEC = HaltingSpec(
    name="act_bce",
    factory=ActBcePolicy,
    config=ActBceConfig,
    description="TRM halting: halt if sigmoid(q_halt) > 0.5, BCE on exact correctness, no extra forward",
)
