"""``oracle``: stops an example as soon as its prediction is exactly right.

It reads the labels, so it is an **upper bound for analysis** (how few segments would have been
enough), never a deployable policy: ``uses_labels = True`` makes every table mark it. It has no
parameters and adds no loss beyond the task loss; training under it simply stops supervising an
example once it is solved.
"""

from __future__ import annotations

from dataclasses import dataclass

from looped_hrm.contracts import HaltContext, HaltDecision, HaltingSpec, PolicyState, SegmentOutput
from looped_hrm.plugins.halting.base import PolicyBase


@dataclass
class OracleConfig:
    pass


class OraclePolicy(PolicyBase):
    name = "oracle"
    uses_labels = True

    def __init__(self, config: OracleConfig | None = None) -> None:
        self.config = config or OracleConfig()

    def describe(self) -> str:
        return "oracle (reads the labels: an upper bound, not a deployable policy)"

    def step(self, output: SegmentOutput, state: PolicyState, ctx: HaltContext) -> HaltDecision:
        return HaltDecision(halt=ctx.correct.clone(), state=state)


SPEC = HaltingSpec(
    name="oracle",
    factory=OraclePolicy,
    config=OracleConfig,
    description="stops when the prediction is correct (reads labels: an upper bound for analysis only)",
)
