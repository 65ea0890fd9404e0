"""The `confidence` halting policy: stop once the model is sure of every position.

An example halts when the smallest, over its positions, of the top softmax probability reaches
``threshold``. Nothing is learned, so the policy adds no halting loss (the engine trains the model on
its task loss alone) and needs no halting head: any model can run under it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from looped_hrm import hookimpl
from looped_hrm.contracts import HaltContext, HaltDecision, HaltingSpec, InnerHalt, PolicyState, SegmentOutput


@dataclass
class ConfidenceConfig:
    threshold: float = 0.9  # halt when every position's top probability is at least this

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")


class ConfidencePolicy:
    name = "confidence"
    levels: frozenset[str] = frozenset()  # drives the segment count without the model's halting head
    optional_levels: frozenset[str] = frozenset()
    needs_q_head = False
    needs_lookahead = False
    uses_labels = False

    def __init__(self, config: ConfidenceConfig | None = None) -> None:
        self.config = config or ConfidenceConfig()

    def init_state(self, batch_size: int, device: torch.device) -> PolicyState:
        """No state across segments."""
        return {}

    def inner_halt(self, training: bool) -> InnerHalt | None:
        """No refinement-level rule."""
        return None

    def step(self, output: SegmentOutput, state: PolicyState, ctx: HaltContext) -> HaltDecision:
        """Halt the rows whose least confident position is confident enough; no loss."""
        confidence = output.logits.detach().float().softmax(-1).amax(-1).amin(-1)
        halt = confidence >= self.config.threshold
        return HaltDecision(halt=halt, state=state, metrics={"confidence": confidence.sum()})


@hookimpl
def looped_hrm_halting_policies() -> list[HaltingSpec]:
    return [
        HaltingSpec(
            name="confidence",
            factory=ConfidencePolicy,
            config=ConfidenceConfig,
            description="halt once every position's top probability reaches a threshold (example third-party plugin)",
        )
    ]
