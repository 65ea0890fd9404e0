"""``verifier``: halt an example as soon as the task's rule checker accepts its current answer.

The check is ``Task.verify(prediction, inputs, labels=None)``: the rules of the puzzle, no label
(valid Sudoku consistent with the givens, a shortest maze path, a correct arithmetic proof), so the
policy is legitimate at test time — the "external verifier" design. Only tasks with
``label_free_verify`` offer it (the engine passes ``HaltContext.verify``); for the others, and for
training, a learned ``fallback`` policy decides (default ``act_bce``; ``fixed`` for none). The host
resolves and builds the fallback (``SPEC.wraps``): it is part of the run's key like any policy.

* ``combine="verify_only"``: where a verifier exists, halt exactly when it accepts;
* ``combine="or"``: halt when the verifier accepts *or* the fallback wants to stop.

The loss is the fallback's (its halting head keeps learning, so it can take over on tasks without a
verifier). The check runs on the host, one example at a time, so it is used in evaluation only
unless ``verify_in_training`` is set.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import torch

from looped_hrm.contracts import (
    HaltContext,
    HaltDecision,
    HaltingPolicy,
    HaltingSpec,
    InnerHalt,
    PolicyState,
    SegmentOutput,
)
from looped_hrm.plugins.halting.base import PolicyBase, count


@dataclass
class VerifierConfig:
    fallback: str = "act_bce"  # the learned policy for training and for tasks without a verifier
    fallback_preset: str | None = None
    fallback_config: dict[str, int | float | bool | str] = field(default_factory=dict)
    combine: Literal["verify_only", "or"] = "verify_only"
    verify_in_training: bool = False

    def __post_init__(self) -> None:
        if self.fallback == "verifier":
            raise ValueError("verifier: fallback cannot be 'verifier' itself")


class VerifierPolicy(PolicyBase):
    name = "verifier"

    def __init__(self, config: VerifierConfig | None = None, *, fallback: HaltingPolicy) -> None:
        """``fallback``: the policy ``config.fallback`` names, built by the host (`SPEC.wraps`)."""
        self.config = config or VerifierConfig()
        self.fallback = fallback
        self.levels = self.fallback.levels
        self.optional_levels: frozenset[str] = getattr(self.fallback, "optional_levels", frozenset())
        self.needs_q_head = self.fallback.needs_q_head
        self.needs_lookahead = self.fallback.needs_lookahead
        self.uses_labels = self.fallback.uses_labels

    def describe(self) -> str:
        return f"verifier (fallback: {self.config.fallback}, {self.config.combine})"

    def init_state(self, batch_size: int, device: torch.device) -> PolicyState:
        return self.fallback.init_state(batch_size, device)

    def inner_halt(self, training: bool) -> InnerHalt | None:
        return self.fallback.inner_halt(training)

    def step(self, output: SegmentOutput, state: PolicyState, ctx: HaltContext) -> HaltDecision:
        decision = self.fallback.step(output, state, ctx)
        verify = ctx.verify if not ctx.training or self.config.verify_in_training else None
        if verify is None:
            return decision
        accepted = verify(ctx.predictions, ctx.inputs).to(decision.halt.device)
        halt = accepted | decision.halt if self.config.combine == "or" else accepted
        metrics = dict(decision.metrics, verifier_accepts=count(accepted))
        return dataclasses.replace(decision, halt=halt, metrics=metrics)


SPEC = HaltingSpec(
    name="verifier",
    factory=VerifierPolicy,
    config=VerifierConfig,
    description="halts when the task's label-free rule checker accepts the answer; a learned fallback elsewhere",
    presets={"or_act_bce": {"combine": "or"}, "fixed_fallback": {"fallback": "fixed"}},
    wraps="fallback",
)
