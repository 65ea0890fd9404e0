"""``act_q``: HRM's Q-learning halting (arXiv 2506.21734, §2 "Adaptive computational time").

The model's Q head gives two logits per example after every segment, ``q_halt`` and
``q_continue``. Decision: halt when ``q_halt > q_continue`` (and the engine stops everyone at
``max_steps``). During training an exploration floor applies: with probability
``exploration_prob`` a row may not halt before ``U{2..max_steps}`` segments, drawn afresh each
segment as in the official code.

Loss (summed over the batch; the engine adds the task loss ``lm``, the policy returns the rest)::

    lm + q_loss_weight * (BCE(q_halt, correct) + BCE(q_continue, target))
    target = sigmoid(next_q_halt)                          on the row's last segment
           = sigmoid(max(next_q_halt, next_q_continue))    otherwise

``next_*`` come from one extra forward of the *next* segment without gradient (``needs_lookahead``;
the engine runs it in training only — it costs one more forward per step, as in the official
code). In evaluation there is no lookahead and the continue term is 0. The Q head should start
strongly negative (HRM: bias -5): near 0 the policy learns to halt after ~2 segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from looped_hrm.contracts import HaltContext, HaltDecision, HaltingSpec, PolicyState, SegmentOutput
from looped_hrm.plugins.halting.base import PolicyBase, bce, count, exploration_floor, last_step, require_q_halt


@dataclass
class ActQConfig:
    exploration_prob: float = 0.1  # chance per segment of imposing a random minimum number of segments
    q_loss_weight: float = 0.5  # weight of (halt BCE + continue BCE); the official 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.exploration_prob <= 1:
            raise ValueError(f"exploration_prob must be in [0, 1], got {self.exploration_prob}")


class ActQPolicy(PolicyBase):
    name = "act_q"
    levels = frozenset({"segment"})
    needs_q_head = True
    needs_lookahead = True

    def __init__(self, config: ActQConfig | None = None) -> None:
        self.config = config or ActQConfig()

    def step(self, output: SegmentOutput, state: PolicyState, ctx: HaltContext) -> HaltDecision:
        q_halt = require_q_halt(output, self.name)
        if output.q_continue is None:
            raise ValueError("halting policy 'act_q' needs SegmentOutput.q_continue (HRM's continue logit)")
        q_continue = output.q_continue.float()

        halt = (q_halt > q_continue) & (ctx.steps >= exploration_floor(ctx, self.config.exploration_prob))

        halt_loss = bce(q_halt, ctx.correct)
        continue_loss = torch.zeros_like(halt_loss)
        nxt = ctx.next_output
        if nxt is not None:
            if nxt.q_halt is None or nxt.q_continue is None:
                raise ValueError("act_q: the lookahead segment returned no Q logits")
            next_halt, next_continue = nxt.q_halt.float(), nxt.q_continue.float()
            target = torch.sigmoid(torch.where(last_step(ctx), next_halt, torch.maximum(next_halt, next_continue)))
            continue_loss = bce(q_continue, target.detach())
        loss = self.config.q_loss_weight * (halt_loss.sum() + continue_loss.sum())
        metrics = {
            "q_halt_loss": halt_loss.detach().sum(),
            "q_continue_loss": continue_loss.detach().sum(),
            "q_halt_accuracy": count((q_halt.detach() >= 0) == ctx.correct),
        }
        return HaltDecision(halt=halt, loss=loss, state=state, metrics=metrics)


SPEC = HaltingSpec(
    name="act_q",
    factory=ActQPolicy,
    config=ActQConfig,
    description="HRM Q-learning: halt if q_halt > q_continue; bootstrapped continue target (extra forward); exploration",
    presets={"no_exploration": {"exploration_prob": 0.0}},
)
