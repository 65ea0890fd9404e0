"""``converged``: stop an example once its answer has stopped changing — a fixed-point rule.

A model that has learned an algorithm which scales (DeepThinking's recurrent nets) keeps changing
its answer while it is still working and then holds it: the answer it holds is what a longer run
would give. This policy stops a row once its predicted tokens after a segment are the same as
after the segment before, ``patience`` times in a row. It reads no label, has no parameters and
adds no loss, so it needs no halting head and no training of its own: a run trained under
``fixed`` can be evaluated under it (``looped-hrm eval DIR --halting converged``) to ask whether a
label-free rule gives the model the time that larger inputs need. The price is ``patience``
segments beyond the one that reached the answer.

The answer is compared through a per-row fingerprint, a sum of the tokens weighted by fixed
random 32-bit integers per position, so the state has one number per row whatever the input's
length (the engine's state is batch-first and built before the first segment is seen). Two
different answers share a fingerprint with probability at most 2**-32 per comparison; the sums
cannot overflow below 2**31 positions × vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from looped_hrm.contracts import HaltContext, HaltDecision, HaltingSpec, PolicyState, SegmentOutput
from looped_hrm.plugins.halting.base import PolicyBase, count

_NONE = -1  # the fingerprint before the first segment: no answer has it (fingerprints are >= 0)


@dataclass
class ConvergedConfig:
    patience: int = 1  # segments in a row whose answer must equal the one before

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1, got {self.patience}")


class ConvergedPolicy(PolicyBase):
    name = "converged"

    def __init__(self, config: ConvergedConfig | None = None) -> None:
        self.config = config or ConvergedConfig()
        self._weights: dict[tuple[int, torch.device], torch.Tensor] = {}

    def describe(self) -> str:
        return f"converged (answer unchanged for {self.config.patience} segment(s))"

    def init_state(self, batch_size: int, device: torch.device) -> PolicyState:
        return {
            "fingerprint": torch.full((batch_size,), _NONE, dtype=torch.int64, device=device),
            "unchanged": torch.zeros(batch_size, dtype=torch.int64, device=device),
        }

    def fingerprint(self, predictions: torch.Tensor) -> torch.Tensor:
        """``[B]`` int64: the rows of ``predictions`` (``[B, L]`` token ids), each summed with the
        weights of its positions; equal answers give equal fingerprints."""
        key = (predictions.shape[1], predictions.device)
        if key not in self._weights:  # fixed: the same answer gives the same fingerprint in every run
            g = torch.Generator().manual_seed(0)
            self._weights[key] = torch.randint(1, 2**32, (key[0],), generator=g, dtype=torch.int64).to(key[1])
        return (predictions.long() * self._weights[key]).sum(dim=1)

    def step(self, output: SegmentOutput, state: PolicyState, ctx: HaltContext) -> HaltDecision:
        fingerprint = self.fingerprint(ctx.predictions)
        same = fingerprint == state["fingerprint"]
        unchanged = torch.where(same, state["unchanged"] + 1, torch.zeros_like(state["unchanged"]))
        return HaltDecision(
            halt=unchanged >= self.config.patience,
            state={"fingerprint": fingerprint, "unchanged": unchanged},
            metrics={"answer_unchanged": count(same)},
        )


SPEC = HaltingSpec(
    name="converged",
    factory=ConvergedPolicy,
    config=ConvergedConfig,
    description="halts once the answer is the same as after the segment before (label-free, no parameters)",
    presets={"patience_2": {"patience": 2}},
)
