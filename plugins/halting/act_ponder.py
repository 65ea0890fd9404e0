"""``act_ponder``: Graves' Adaptive Computation Time (arXiv 1603.08983), adapted to segments.

Graves: a halting unit ``h_n = sigmoid(q_halt)`` after every step; an example stops at the first
``N`` with ``h_1 + ... + h_N >= 1 - epsilon`` (or at the maximum); the remainder is
``R = 1 - (h_1 + ... + h_{N-1})``; the ponder cost ``tau * (N + R)`` is added to the loss, and its
gradient reaches the halting unit only through ``R``: ``d(N + R)/dh_n = -1`` for every ``n < N``.

Here every segment is its own optimizer step and the carry is detached between segments, so the
quantities that span segments travel in the PolicyState, detached:

* ``cum`` — ``h_1 + ... + h_{n-1}`` of the row (reset to 0 when a new example enters the slot);
* the remainder of a halting row is ``R = 1 - cum`` (a constant: the ``h``'s it depends on belonged
  to earlier optimizer steps);
* the ponder-cost gradient is applied *when each h_n is produced*: a continuing row adds
  ``-tau * h_n`` (the exact gradient of ``tau * (N + R)`` with respect to ``h_n``); the halting row's
  ``tau * (N + R)`` is reported but carries no gradient (``h_N`` does not enter ``N + R``).

Graves trains the network on the halting-weighted mixture of the step outputs; across detached
segments that mixture cannot be backpropagated, so the network gets ordinary deep supervision (task
loss at every segment, weight 1) and the halting unit gets the task side of the mixture's gradient,
``dE/dh_n = L_n - L_N``, with ``L_N`` approximated by the next segment's loss ``L_{n+1}`` from the
engine's no-grad lookahead (``HaltContext.next_lm_loss``, the loss being trained; ``needs_lookahead``;
training only). Per continuing row the halting
term is therefore ``h_n * stopgrad(L_n - L_{n+1} - tau)``: continuing is encouraged exactly when the
next segment lowers the loss by more than the ponder price.

Mind the initial halting bias: Graves' ``+1`` (h ~ 0.73) halts after ~2 steps; with HRM's -5 the
rows start by running to the maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from looped_hrm.contracts import HaltContext, HaltDecision, HaltingSpec, PolicyState, SegmentOutput
from looped_hrm.plugins.halting.base import PolicyBase, last_step, require_q_halt


@dataclass
class ActPonderConfig:
    epsilon: float = 0.01  # halt once the cumulative halting probability reaches 1 - epsilon
    tau: float = 0.01  # ponder cost per segment (Graves swept 1e-4 .. 1e-1)

    def __post_init__(self) -> None:
        if not 0 < self.epsilon < 1:
            raise ValueError(f"epsilon must be in (0, 1), got {self.epsilon}")
        if self.tau < 0:
            raise ValueError(f"tau must be >= 0, got {self.tau}")


class ActPonderPolicy(PolicyBase):
    name = "act_ponder"
    levels = frozenset({"segment"})
    needs_q_head = True
    needs_lookahead = True

    def __init__(self, config: ActPonderConfig | None = None) -> None:
        self.config = config or ActPonderConfig()

    def init_state(self, batch_size: int, device: torch.device) -> PolicyState:
        return {"cum": torch.zeros(batch_size, device=device)}

    def step(self, output: SegmentOutput, state: PolicyState, ctx: HaltContext) -> HaltDecision:
        h = torch.sigmoid(require_q_halt(output, self.name))
        cum = state["cum"]
        halt = cum + h.detach() >= 1 - self.config.epsilon
        final = halt | last_step(ctx)

        coef = torch.full_like(h, -self.config.tau)
        if ctx.next_lm_loss is not None:
            coef = coef + (ctx.lm_loss - ctx.next_lm_loss)
        halting_term = torch.where(final, torch.zeros_like(h), h * coef)

        remainder = 1 - cum
        ponder = torch.where(final, ctx.steps.float() + remainder, torch.zeros_like(h))
        loss = halting_term.sum()
        metrics = {"ponder_cost": self.config.tau * ponder.sum(), "halt_prob": h.detach().sum()}
        return HaltDecision(halt=halt, loss=loss, state={"cum": cum + h.detach()}, metrics=metrics)


SPEC = HaltingSpec(
    name="act_ponder",
    factory=ActPonderPolicy,
    config=ActPonderConfig,
    description="Graves ACT: cumulative halting probability >= 1-eps, remainder, ponder cost tau*(N+R)",
)
